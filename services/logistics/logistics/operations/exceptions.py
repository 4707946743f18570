"""Handling a parcel in trouble: ops' notes on its exception, a new estimated arrival the buyer is
told about (logistics.ArrivalEstimateChanged), and the resolution that takes it out of the queue.
Each is a compare-and-set on the shipment with a timeline entry, like every other change."""

from __future__ import annotations

from datetime import datetime

from ecom_common.clock import aware, iso
from ecom_common.errors import ConflictError, RuleViolation
from ecom_common.events import make_event

from .. import domain
from ..models import Shipment
from ..settings import Context
from .shipments import Entry, compare_and_set, note, visible_shipment


def _open_exception(ctx: Context, shipment_id: str) -> Shipment:
    s = visible_shipment(ctx, shipment_id)
    if not s.exception_open:
        raise ConflictError(
            "the shipment has no open exception", {"exception": ["No open exception on this shipment."]}
        )
    return s


def note_exception(ctx: Context, shipment_id: str, text: str) -> Shipment:
    """A note on the open exception (who called whom, what the carrier said): a timeline entry
    `exception_note`, listed with the shipment as `exception_notes`. 409 without an open exception."""
    s = _open_exception(ctx, shipment_id)
    compare_and_set(ctx, s, {})  # two notes at once are kept both, in order; a racing resolution wins
    note(ctx, s.id, Entry("exception_note", s.status, s.status, text, {"exception_kind": s.exception_kind}))
    return s


def estimate_arrival(ctx: Context, shipment_id: str, *, at: datetime, reason: str | None) -> Shipment:
    """A new estimated arrival for a parcel on its way (dispatched, in transit, out for delivery or in
    exception), in the future; the buyer is told (logistics.ArrivalEstimateChanged). The same estimate
    again changes nothing and tells nobody twice."""
    s = visible_shipment(ctx, shipment_id)
    if s.status not in domain.MOVING:
        raise ConflictError(
            f"an arrival estimate needs a parcel on its way; the shipment is {s.status}",
            {"status": [s.status]},
        )
    if at <= ctx.now:
        raise RuleViolation("the estimated arrival must be in the future", {"estimated_arrival_at": ["In the past."]})
    previous = aware(s.estimated_arrival_at)
    if previous == at:
        return s
    compare_and_set(ctx, s, {"estimated_arrival_at": at})
    details = {"estimated_arrival_at": iso(at), "previous_estimate_at": iso(previous)}
    note(ctx, s.id, Entry("arrival_estimated", s.status, s.status, reason, details))
    payload = {"shipment_id": s.id, "order_id": s.order_id, "shop_id": s.shop_id, **details}
    payload.update(reason=reason, carrier=s.carrier, tracking_no=s.tracking_no)
    ctx.record(make_event("logistics.ArrivalEstimateChanged", payload))
    return s


def resolve_exception(ctx: Context, shipment_id: str, *, reason: str) -> Shipment:
    """Ops close the exception with how it was resolved (re-delivered, returned to sender, refunded,
    ...): it leaves the queue; the parcel's status stays the carrier's. 409 without an open exception."""
    s = _open_exception(ctx, shipment_id)
    values = {"exception_open": False, "exception_resolved_at": ctx.now, "exception_resolution": reason}
    compare_and_set(ctx, s, values)
    details = {"exception_kind": s.exception_kind, "open_since": iso(aware(s.exception_since))}
    note(ctx, s.id, Entry("exception_resolved", s.status, s.status, reason, details))
    return s
