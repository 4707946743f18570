"""logistics' use cases, shared by the HTTP API, the event handlers and the job: each is
`verb(ctx, thing, ...)` with `ctx: Context` (`Ctx[Settings]`, ecom_common.usecase): load, call the
domain, save, record the events the change causes next to the transition that causes them.

Nothing here commits: a view's `use_case` block, the consumer (handlers) or `for_job` (the job)
opens the unit of work and commits it.

One module per resource: `shipping` (templates, quotes, senders, carriers, carrier rules, promotion
periods), `shipments` (create, cancel, dispatch, re-route, read; the guarded `transition` and the
timeline), `tracking` (carrier reports, stalls), `exceptions` (notes, arrival estimates,
resolutions), `readdress` (a new receiver before dispatch), `carriers` (actual costs, per-carrier
figures, statements, stage clocks), `bulk` (idempotent dispatch, recorded printing). Callers use the names
below (`from . import operations`, then `operations.verb(ctx, ...)`).
"""

from __future__ import annotations

from .bulk import Dispatched, dispatch_once, print_waybill
from .carriers import Statement, Window, carrier_stats, reconcile_statement, record_cost, stage_board
from .exceptions import estimate_arrival, note_exception, resolve_exception
from .readdress import AddressChange, readdress
from .shipments import (
    GrantedGift,
    NewShipment,
    ShipmentDetail,
    assign_carrier,
    cancel_for_order,
    change_carrier,
    dispatch,
    pick_list,
    record_gift,
    ship_order,
    ship_replacement,
    shipment_detail,
    shipment_stats,
    waybill,
)
from .shipping import (
    carrier_rules_for,
    copy_period,
    drop_template,
    quote,
    replace_carrier_rules,
    replace_carriers,
    replace_periods,
    replace_sender,
    replace_template,
    sender_for,
    shop_template,
)
from .tracking import Tracked, TrackingReport, flag_stalled, record_tracking

__all__ = [
    "AddressChange",
    "readdress",
    "copy_period",
    "Dispatched",
    "GrantedGift",
    "NewShipment",
    "ShipmentDetail",
    "Statement",
    "Tracked",
    "TrackingReport",
    "Window",
    "assign_carrier",
    "cancel_for_order",
    "carrier_rules_for",
    "carrier_stats",
    "change_carrier",
    "dispatch",
    "dispatch_once",
    "drop_template",
    "estimate_arrival",
    "flag_stalled",
    "note_exception",
    "pick_list",
    "print_waybill",
    "quote",
    "reconcile_statement",
    "record_cost",
    "record_gift",
    "record_tracking",
    "replace_carrier_rules",
    "replace_carriers",
    "replace_periods",
    "replace_sender",
    "replace_template",
    "resolve_exception",
    "sender_for",
    "ship_order",
    "ship_replacement",
    "shipment_detail",
    "shipment_stats",
    "shop_template",
    "stage_board",
    "waybill",
]
