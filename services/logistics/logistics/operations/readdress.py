"""A new receiver address for an order's shipment not yet handed to a carrier (orders.AddressChanged).

The receiver is kept as logistics keeps every receiver (name and phone masked); the province, which
the carrier rules read, follows it, and a carrier chosen by the rules is chosen again for the new
region (one the warehouse picked by hand is kept). The newest address wins: each address carries the
time it was the order's (`receiver_as_of`: the AddressChanged's `changed_at`, or the time of the
OrderReadyToShip that created the shipment), and an older change delivered late changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ecom_common.clock import aware, iso
from ecom_common.errors import RetryLater

from .. import domain
from ..models import CancelledOrder, Shipment
from ..settings import Context
from .shipments import Entry, compare_and_set, find_by_key, note
from .shipping import active_carriers, carrier_rules_for


@dataclass(frozen=True)
class AddressChange:
    """orders.AddressChanged: the order's new (masked) address, as of `changed_at`."""

    order_id: str
    address: dict[str, Any]
    changed_at: datetime
    status: str  # the order's status after the change
    held: bool = False


def chosen_by_rules(s: Shipment) -> bool:
    return s.carrier is None or (s.carrier_reason or "").endswith(" rules)")


def readdress(ctx: Context, change: AddressChange) -> str:
    """Apply the change to the order's pending shipment; answers what happened: `updated`, `stale`
    (a newer address is held), `too_late` (already with a carrier: left, noted on the timeline),
    `no_shipment` (none yet: the coming OrderReadyToShip carries the new address)."""
    shipment = find_by_key(ctx, f"order:{change.order_id}")
    if shipment is None:
        if change.status == "awaiting_shipment" and ctx.session.get(CancelledOrder, change.order_id) is None:
            # Its OrderReadyToShip went out before this change and has not arrived yet: back-off tiers.
            raise RetryLater(f"order {change.order_id}: address change before its shipment exists")
        return "no_shipment"
    if shipment.receiver_as_of is not None and aware(shipment.receiver_as_of) >= change.changed_at:
        return "stale"
    status = shipment.status
    if status != domain.PENDING:
        why = f"address changed at {iso(change.changed_at)}, parcel already {status}: left as is"
        note(ctx, shipment.id, Entry("address_change_too_late", status, status, why))
        return "too_late"
    receiver = domain.masked_receiver(change.address)
    province = domain.normalise_province(receiver.get("province"))
    values: dict[str, Any] = {"receiver": receiver, "province": province, "receiver_as_of": change.changed_at}
    if chosen_by_rules(shipment) and province != shipment.province:
        rule_set = carrier_rules_for(ctx, shipment.shop_id)
        choice = domain.choose_carrier(
            rule_set.rules, active_carriers(ctx), province, shipment.weight_g, rule_set.default_carrier
        )
        values.update(carrier=choice.carrier, carrier_reason=f"{choice.reason} ({rule_set.source} rules)")
    old = {"old_province": shipment.province, "old_carrier": shipment.carrier}
    compare_and_set(ctx, shipment, values)
    details = {**old, "province": province, "city": receiver.get("city"), "carrier": shipment.carrier}
    details.update(changed_at=iso(change.changed_at), held=change.held, reprint=shipment.printed_at is not None)
    why = "receiver address changed" + (": the order is held for review" if change.held else "")
    note(ctx, shipment.id, Entry("address_changed", status, status, why, details))
    return "updated"
