"""The warehouse's volume work, one shipment at a time inside: a dispatch that a repeated request
answers as done instead of refusing, and the waybill print that records the first printing."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from ecom_common.clock import aware, iso
from ecom_common.errors import ConflictError

from .. import domain
from ..models import Shipment
from ..settings import Context
from .shipments import Entry, dispatch, note, visible_shipment, waybill


@dataclass(frozen=True)
class Dispatched:
    """What a dispatch did: the shipment, and whether it had been dispatched so already (a repeat)."""

    shipment: Shipment
    already: bool


def dispatch_once(ctx: Context, shipment_id: str, *, carrier: str | None, tracking_no: str) -> Dispatched:
    """Dispatch, idempotent per shipment: a shipment already handed over with this tracking number
    (and this carrier, if one is named) is done already; anything else goes through `dispatch` and its
    checks (409 when it is no longer pending, 422 for a carrier, ...)."""
    s = visible_shipment(ctx, shipment_id)
    same_carrier = carrier is None or carrier == s.carrier
    if s.status != domain.PENDING and s.dispatched_at is not None and s.tracking_no == tracking_no and same_carrier:
        return Dispatched(s, True)
    return Dispatched(dispatch(ctx, shipment_id, carrier=carrier, tracking_no=tracking_no), False)


def print_waybill(ctx: Context, shipment_id: str) -> dict[str, Any]:
    """The shipment's waybill, printed: the first printing's time is recorded on the shipment (a
    conditional update, so two printers at once record one time) and kept by every reprint; the
    timeline says which it was. A cancelled shipment is refused (409)."""
    s = visible_shipment(ctx, shipment_id)
    if s.status == domain.CANCELLED:
        raise ConflictError("the shipment is cancelled; nothing to print", {"status": [s.status]})
    first = ctx.session.execute(
        sa.update(Shipment)
        .where(Shipment.id == s.id, Shipment.printed_at.is_(None))
        .values(printed_at=ctx.now)
        .execution_options(synchronize_session=False)
    ).rowcount
    ctx.session.refresh(s)
    action = "waybill_printed" if first else "waybill_reprinted"
    note(ctx, s.id, Entry(action, s.status, s.status, None, {"tracking_no": s.tracking_no}))
    bill = waybill(ctx, shipment_id)
    return {**bill, "printed_at": iso(aware(s.printed_at)), "reprint": not first}
