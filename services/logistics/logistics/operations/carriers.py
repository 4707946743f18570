"""What a carrier costs and how it performs: the actual cost recorded per shipment, per-carrier
figures (on-time rate, transit time, cost per parcel) and the monthly statement reconciled against
the recorded shipments (the arithmetic is in fulfilment.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from ecom_common.clock import aware, iso
from ecom_common.errors import ConflictError, RuleViolation

from .. import domain, fulfilment
from ..models import Carrier, Shipment
from ..settings import Context
from .shipments import Entry, compare_and_set, note, visible_shipment


def record_cost(ctx: Context, shipment_id: str, cost_fen: int) -> Shipment:
    """The carrier's actual charge for a parcel handed to it (a timeline entry with the old value);
    409 before dispatch or for a cancelled shipment. The same cost again changes nothing."""
    s = visible_shipment(ctx, shipment_id)
    if s.dispatched_at is None or s.status == domain.CANCELLED:
        raise ConflictError(
            f"a cost is recorded for a dispatched parcel; the shipment is {s.status}", {"status": [s.status]}
        )
    if s.carrier_cost_fen == cost_fen:
        return s
    before = s.carrier_cost_fen
    compare_and_set(ctx, s, {"carrier_cost_fen": cost_fen})
    details = {"carrier": s.carrier, "tracking_no": s.tracking_no, "cost_fen": cost_fen, "old_cost_fen": before}
    note(ctx, s.id, Entry("carrier_cost_recorded", s.status, s.status, None, details))
    return s


@dataclass(frozen=True)
class Window:
    """Shipments dispatched in [since, until) of one shop (None: every shop)."""

    shop_id: str | None
    since: datetime
    until: datetime


def carrier_stats(ctx: Context, window: Window) -> dict[str, Any]:
    """Per-carrier figures over the shipments dispatched in the window, read in batches."""
    stmt = sa.select(
        Shipment.carrier,
        Shipment.dispatched_at,
        Shipment.delivered_at,
        Shipment.carrier_cost_fen,
    ).where(
        Shipment.dispatched_at >= window.since,
        Shipment.dispatched_at < window.until,
        Shipment.carrier.is_not(None),
    )
    if window.shop_id:
        stmt = stmt.where(Shipment.shop_id == window.shop_id)
    rows = ctx.session.execute(stmt.execution_options(yield_per=1000))
    parcels = (
        fulfilment.Shipped(carrier, aware(dispatched), aware(delivered), cost)
        for carrier, dispatched, delivered, cost in rows
    )
    figures = fulfilment.carrier_figures(parcels, ctx.settings.on_time_hours)
    return {
        "shop_id": window.shop_id,
        "from": iso(window.since),
        "to": iso(window.until),
        "on_time_hours": ctx.settings.on_time_hours,
        "carriers": figures,
    }


@dataclass(frozen=True)
class Statement:
    """A carrier's monthly bill for one shop: `lines` of tracking number and charged fen."""

    shop_id: str
    carrier: str
    month: str
    lines: list[fulfilment.StatementLine]


def reconcile_statement(ctx: Context, statement: Statement) -> dict[str, Any]:
    """The statement against the shop's shipments of that carrier: the ones it names (whenever
    dispatched) and those dispatched in the month (a missing one is one the bill does not charge).
    Nothing is stored: the answer is the reconciliation."""
    if ctx.session.get(Carrier, statement.carrier) is None:  # an inactive carrier still bills
        raise RuleViolation(f"unknown carrier {statement.carrier!r}", {"carrier": ["Unknown carrier."]})
    since, until = fulfilment.month_bounds(statement.month)
    named = {line.tracking_no for line in statement.lines}
    base = sa.select(Shipment.id, Shipment.tracking_no, Shipment.carrier_cost_fen, Shipment.dispatched_at).where(
        Shipment.shop_id == statement.shop_id,
        Shipment.carrier == statement.carrier,
        Shipment.tracking_no.is_not(None),
    )
    in_month = base.where(Shipment.dispatched_at >= since, Shipment.dispatched_at < until)
    rows = {r.id: r for r in ctx.session.execute(in_month)}
    names = sorted(named)
    for i in range(0, len(names), 500):  # bounded IN lists
        rows.update({r.id: r for r in ctx.session.execute(base.where(Shipment.tracking_no.in_(names[i : i + 500])))})
    recorded = [
        fulfilment.Recorded(r.id, r.tracking_no, r.carrier_cost_fen, since <= aware(r.dispatched_at) < until)
        for r in rows.values()
        if r.dispatched_at is not None
    ]
    result = fulfilment.reconcile(statement.lines, recorded)
    recorded_total = sum(r.cost_fen or 0 for r in recorded if r.in_period)
    head = {"shop_id": statement.shop_id, "carrier": statement.carrier, "month": statement.month}
    return {**head, "recorded_total_fen": recorded_total, **result}


def stage_board(ctx: Context, shop_id_filter: Any, limit: int) -> list[dict[str, Any]]:
    """The open stage clocks (fulfilment.stage_clocks) of the shipments the caller may see
    (`shop_id_filter`: a WHERE condition on Shipment.shop_id), oldest first, at most `limit`: the
    oldest `limit` pending shipments and the oldest `limit` waiting for their pickup are read."""
    pending = (
        sa.select(Shipment)
        .where(shop_id_filter, Shipment.status == domain.PENDING)
        .order_by(Shipment.created_at, Shipment.id)
        .limit(limit)
    )
    waiting = (
        sa.select(Shipment)
        .where(
            shop_id_filter,
            Shipment.status.in_(domain.MOVING),
            Shipment.picked_up_at.is_(None),
            Shipment.pickup_due_at.is_not(None),
        )
        .order_by(Shipment.dispatched_at, Shipment.id)
        .limit(limit)
    )
    hours = fulfilment.StageHours(ctx.settings.print_hours, ctx.settings.handover_hours)
    items: list[dict[str, Any]] = []
    for query in (pending, waiting):
        for s in ctx.session.execute(query).scalars():
            items.extend(fulfilment.stage_clocks(open_shipment(s), hours, ctx.now))
    return fulfilment.first_in_first_out(items)[:limit]


def open_shipment(s: Shipment) -> fulfilment.OpenShipment:
    basis = "presale" if s.promised_ship_by else "promotion" if s.promotion else "standard"
    return fulfilment.OpenShipment(
        shipment_id=s.id,
        shop_id=s.shop_id,
        order_id=s.order_id,
        created_at=aware(s.created_at),
        dispatch_due_at=aware(s.dispatch_due_at),
        printed_at=aware(s.printed_at),
        dispatched_at=aware(s.dispatched_at),
        pickup_due_at=aware(s.pickup_due_at),
        picked_up_at=aware(s.picked_up_at),
        deadline_basis=basis,
    )
