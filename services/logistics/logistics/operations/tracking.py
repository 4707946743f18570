"""Carrier progress: the signed webhook's reports, applied once each, and the job that flags
shipments without progress as stalled. Both open and close entries of the exception queue."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from ecom_common.clock import aware, iso
from ecom_common.db import is_unique_violation
from ecom_common.errors import NotFound
from ecom_common.events import make_event
from ecom_common.usecase import Actor

from .. import domain
from ..models import Shipment, TrackingEvent
from ..settings import Context
from .shipments import Entry, Move, note, transition


# Tracking --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TrackingReport:
    """One progress report of a carrier's webhook (`event_id` unique per carrier)."""

    event_id: str
    carrier: str
    tracking_no: str
    status: str
    occurred_at: datetime | None = None
    location: str | None = None
    reason: str | None = None
    cost_fen: int | None = None  # the carrier's charge, when the report carries it


@dataclass(frozen=True)
class Tracked:
    """What a carrier report did: the shipment, its status now, and whether the report was a repeat."""

    shipment_id: str
    status: str
    duplicate: bool


def record_tracking(ctx: Context, report: TrackingReport) -> Tracked:
    """A carrier's progress report, applied once per (carrier, event_id). A resent report, or one of
    the final state the shipment already reached (delivered again under a new event id), changes
    nothing and answers `duplicate`."""
    session = ctx.session
    seen = session.execute(
        sa.select(TrackingEvent.shipment_id).where(
            TrackingEvent.carrier == report.carrier, TrackingEvent.carrier_event_id == report.event_id
        )
    ).scalar()
    if seen is not None:
        return Tracked(seen, session.get(Shipment, seen).status, True)
    s = session.execute(
        sa.select(Shipment).where(Shipment.carrier == report.carrier, Shipment.tracking_no == report.tracking_no)
    ).scalar_one_or_none()
    if s is None:
        raise NotFound(f"no shipment with {report.carrier} tracking number {report.tracking_no}")
    if domain.repeats_reached_status(s.status, report.status):
        # Already reached and announced once: write nothing (no second tracking row, no event).
        return Tracked(s.id, s.status, True)
    session.add(
        TrackingEvent(
            shipment_id=s.id,
            carrier=report.carrier,
            carrier_event_id=report.event_id,
            tracking_no=report.tracking_no,
            status=report.status,
            location=report.location,
            reason=report.reason,
            occurred_at=report.occurred_at,
            received_at=ctx.now,
        )
    )
    try:
        session.flush()
    except sa.exc.IntegrityError as exc:
        if not is_unique_violation(exc):
            raise
        # The same event raced in on another connection and won: this one is the duplicate.
        ctx.uow.rollback()
        return Tracked(s.id, session.get(Shipment, s.id).status, True)
    apply_tracking(ctx, s, report)
    return Tracked(s.id, s.status, False)


def apply_tracking(ctx: Context, shipment: Shipment, report: TrackingReport) -> None:
    """A carrier report: move the status, note progress, open or close the exception queue entry,
    and record ShipmentDelivered / ShipmentException."""
    status, reason = report.status, report.reason
    ctx = ctx.acting_as(Actor(f"carrier:{shipment.carrier}"))
    action = domain.tracking_action(status)
    domain.next_status(shipment.status, action)
    values: dict[str, Any] = {"last_progress_at": ctx.now}
    if report.cost_fen is not None:
        values["carrier_cost_fen"] = report.cost_fen
    if shipment.picked_up_at is None:
        # 揽收: the first report of the carrier (`picked_up`, or any later stage) says it has the parcel
        values["picked_up_at"] = report.occurred_at or ctx.now
    was_open = shipment.exception_open
    if status == domain.PICKED_UP:
        pass  # the pickup alone neither moves the status nor closes an exception
    elif status == domain.EXCEPTION:
        values.update(
            exception_open=True,
            exception_kind="carrier",
            exception_reason=reason or "carrier exception",
            exception_since=ctx.now if not was_open else shipment.exception_since,
        )
        if not was_open:
            values.update(exception_resolved_at=None, exception_resolution=None)
    else:
        # Progress closes whatever was open (a carrier exception or a stall): the parcel moves again.
        values.update(exception_open=False)
        if was_open:
            values.update(exception_resolved_at=ctx.now, exception_resolution=f"carrier progress: {status}")
    if status == domain.DELIVERED:
        values["delivered_at"] = ctx.now
    details = {"event_id": report.event_id, "location": report.location, "occurred_at": iso(report.occurred_at)}
    if report.cost_fen is not None:
        details["cost_fen"] = report.cost_fen
    transition(ctx, shipment, Move(action, values, reason, details, entry=f"tracking:{status}"))
    if was_open and status not in (domain.EXCEPTION, domain.PICKED_UP):
        closed = f"progress reported ({status}); the exception is resolved"
        note(ctx, shipment.id, Entry("exception_closed", status, status, closed))
    base = {"shipment_id": shipment.id, "order_id": shipment.order_id, "shop_id": shipment.shop_id}
    if status == domain.DELIVERED:
        delivered = {**base, "delivered_at": iso(ctx.now), "case_id": shipment.case_id}
        ctx.record(make_event("logistics.ShipmentDelivered", delivered))
    elif status == domain.EXCEPTION:
        ctx.record(make_event("logistics.ShipmentException", {**base, "reason": reason or "carrier exception"}))


# Stalls ----------------------------------------------------------------------------------------
def flag_stalled(ctx: Context, limit: int = 500) -> int:
    """Shipments with a carrier but no progress for LOGISTICS_STALL_HOURS go into the exception queue
    with logistics.ShipmentStalled. Safe to run twice: a flagged shipment is no longer a candidate,
    and the flag is a compare-and-set."""
    stall_hours = ctx.settings.stall_hours
    cutoff = ctx.now - timedelta(hours=stall_hours)
    candidates = (
        ctx.session.execute(
            sa.select(Shipment)
            .where(
                Shipment.status.in_([domain.DISPATCHED, domain.IN_TRANSIT, domain.OUT_FOR_DELIVERY]),
                Shipment.exception_open.is_(False),
                Shipment.last_progress_at <= cutoff,
            )
            .order_by(Shipment.last_progress_at)
            .limit(limit)
        )
        .scalars()
        .all()
    )
    flagged = 0
    for s in candidates:
        last = aware(s.last_progress_at)
        if not domain.is_stalled(s.status, last, ctx.now, stall_hours, s.exception_open):
            continue
        hours = (ctx.now - last).total_seconds() / 3600
        reason = f"no carrier progress for {hours:.0f} h (since {iso(last)})"
        result = ctx.session.execute(
            sa.update(Shipment)
            .where(Shipment.id == s.id, Shipment.version == s.version, Shipment.exception_open.is_(False))
            .values(
                exception_open=True,
                exception_kind="stalled",
                exception_reason=reason,
                exception_since=ctx.now,
                exception_resolved_at=None,
                exception_resolution=None,
                version=Shipment.version + 1,
            )
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:
            continue  # changed meanwhile (progress arrived): not stalled any more
        note(ctx, s.id, Entry("stalled", s.status, s.status, reason))
        payload = {"shipment_id": s.id, "order_id": s.order_id, "shop_id": s.shop_id, "last_progress_at": iso(last)}
        ctx.record(make_event("logistics.ShipmentStalled", payload))
        flagged += 1
    return flagged
