"""analytics' use cases: `verb(ctx, thing, ...)`, never committing (the caller opens and commits).

Projection: each event sets a fact once (`INSERT ... ON CONFLICT DO NOTHING` for a new row, or a
conditional `UPDATE ... WHERE <milestone> IS NULL`), and only the call that set it adds to the
rollups (rollups.add). A copy of an event is stopped by the consumer's inbox already; a second
event about the same milestone (a replayed dead letter with a new id) finds it set and adds nothing.
An event whose fact does not exist yet (OrderPaid overtaking OrderPlaced on a retry) is retried.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, cast

import sqlalchemy as sa

from ecom_common.db import insert_ignore, insert_new
from ecom_common.errors import NotFound, RetryLater, RuleViolation
from ecom_common.events import make_event
from ecom_common.ids import new_id
from ecom_common.usecase import Ctx

from . import domain, queries, rollups
from .models import (
    BuyerDay,
    CaseFact,
    Experiment,
    KpiAlertSent,
    LineFact,
    OrderFact,
    RefundFact,
    ShipmentFact,
    ShopDay,
    SkuDay,
    Visit,
    VisitorDay,
)
from .settings import Settings

log = logging.getLogger("analytics.operations")


def _day(ctx: Ctx[Settings], at: datetime) -> date:
    return domain.day_of(at, ctx.settings.day_utc_offset_hours)


def _set_once(ctx: Ctx[Settings], model: type, key: Any, milestone: str, values: dict[str, Any]) -> bool:
    """UPDATE model SET values WHERE key AND milestone IS NULL: True when this call set it."""
    table = model.__table__  # type: ignore[attr-defined]
    (column, value) = key
    stmt = sa.update(table).where(table.c[column] == value, table.c[milestone].is_(None)).values(**values)
    result = cast(sa.CursorResult[Any], ctx.session.execute(stmt))
    return bool(result.rowcount == 1)


def _order_exists(ctx: Ctx[Settings], order_id: str) -> bool:
    return ctx.session.get(OrderFact, order_id) is not None


# Orders ------------------------------------------------------------------------------------------
def record_placed(ctx: Ctx[Settings], order: domain.PlacedOrder) -> bool:
    """OrderPlaced: the order fact and its line facts; one more placed order on its day."""
    goods, discount, shipping = order.amounts()
    day = _day(ctx, order.placed_at)
    row = {
        "order_id": order.order_id,
        "shop_id": order.shop_id,
        "buyer_id": order.buyer_id,
        "goods_fen": goods,
        "discount_fen": discount,
        "shipping_fen": shipping,
        "payable_fen": order.payable_fen,
        "placed_at": order.placed_at,
        "placed_day": day,
        "refunded_fen": 0,
    }
    if not insert_ignore(ctx.session, OrderFact.__table__, row):
        return False
    paid = order.line_paid()
    if order.lines:
        ctx.session.execute(
            sa.insert(LineFact),
            [
                {
                    "order_id": order.order_id,
                    "line_no": n,
                    "shop_id": order.shop_id,
                    "sku_code": line.sku_code,
                    "category_id": line.category_id,
                    "quantity": line.quantity,
                    "unit_price_fen": line.unit_price_fen,
                    "gross_fen": line.gross_fen,
                    "paid_fen": paid[n],
                }
                for n, line in enumerate(order.lines)
            ],
        )
    rollups.add(ctx.session, ShopDay, [{"shop_id": order.shop_id, "day": day, "placed_orders": 1}])
    return True


def record_paid(ctx: Ctx[Settings], order_id: str, *, paid_fen: int, paid_at: datetime) -> bool:
    """OrderPaid: 支付金额 is what the buyer paid, postage included, on the day of payment; the
    buyer becomes a paying buyer of the day and each line adds to its SKU's day."""
    day = _day(ctx, paid_at)
    # The fact's milestone and the lines' paid day set, reading back what the rollups need in the
    # same statements (RETURNING): a paid order costs five round trips, not seven.
    o, lf = OrderFact.__table__, LineFact.__table__
    fact = ctx.session.execute(
        sa.update(o)
        .where(o.c.order_id == order_id, o.c.paid_at.is_(None))
        .values(paid_at=paid_at, paid_day=day, paid_fen=paid_fen)
        .returning(o.c.shop_id, o.c.buyer_id)
    ).first()
    if fact is None:
        if not _order_exists(ctx, order_id):
            raise RetryLater(f"OrderPaid of {order_id} before its OrderPlaced")
        return False
    lines = ctx.session.execute(
        sa.update(lf)
        .where(lf.c.order_id == order_id)
        .values(paid_day=day)
        .returning(lf.c.sku_code, lf.c.category_id, lf.c.paid_fen, lf.c.quantity)
    ).all()
    rollups.add(ctx.session, ShopDay, [{"shop_id": fact.shop_id, "day": day, "paid_fen": paid_fen, "paid_orders": 1}])
    rollups.add(ctx.session, BuyerDay, [{"shop_id": fact.shop_id, "day": day, "buyer_id": fact.buyer_id, "orders": 1}])
    rollups.add(
        ctx.session,
        SkuDay,
        [
            {
                "shop_id": fact.shop_id,
                "day": day,
                "sku_code": line.sku_code,
                "category_id": line.category_id or "",
                "paid_fen": line.paid_fen,
                "units": line.quantity,
                "lines": 1,
            }
            for line in lines
        ],
    )
    return True


def record_payment_method(ctx: Ctx[Settings], order_id: str, method: str | None) -> None:
    """PaymentSucceeded: how the order was paid (the amount and day come with OrderPaid, which a
    payment arriving after a cancellation never causes)."""
    if method:
        _set_once(ctx, OrderFact, ("order_id", order_id), "payment_method", {"payment_method": method[:32]})


def record_cancelled(ctx: Ctx[Settings], order_id: str, at: datetime) -> bool:
    day = _day(ctx, at)
    if _set_once(ctx, OrderFact, ("order_id", order_id), "cancelled_at", {"cancelled_at": at, "cancelled_day": day}):
        fact = ctx.session.get(OrderFact, order_id)
        assert fact is not None
        rollups.add(ctx.session, ShopDay, [{"shop_id": fact.shop_id, "day": day, "cancelled_orders": 1}])
        return True
    if not _order_exists(ctx, order_id):
        raise RetryLater(f"OrderCancelled of {order_id} before its OrderPlaced")
    return False


def record_completed(ctx: Ctx[Settings], order_id: str, at: datetime) -> bool:
    return _set_once(ctx, OrderFact, ("order_id", order_id), "completed_at", {"completed_at": at})


# Refunds -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RefundIn:
    refund_id: str
    order_id: str
    shop_id: str
    amount_fen: int
    at: datetime
    kind: str | None = None
    case_id: str | None = None


def record_refund(ctx: Ctx[Settings], refund: RefundIn) -> bool:
    """A refund counts on the day it succeeded; the day's 支付金额 is not reduced by it."""
    day = _day(ctx, refund.at)
    row = {**refund.__dict__, "day": day}
    if not insert_ignore(ctx.session, RefundFact.__table__, row):
        return False
    ctx.session.execute(
        sa.update(OrderFact)
        .where(OrderFact.order_id == refund.order_id)
        .values(refunded_fen=OrderFact.refunded_fen + refund.amount_fen)
    )
    rollups.add(
        ctx.session, ShopDay, [{"shop_id": refund.shop_id, "day": day, "refund_fen": refund.amount_fen, "refunds": 1}]
    )
    return True


# Shipments ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ShipmentIn:
    shipment_id: str
    order_id: str
    shop_id: str
    case_id: str | None = None
    carrier: str | None = None


# milestone -> the shop-day column it counts (None: kept on the fact only); replacements of an
# exchange (case_id set) are not the order's fulfilment and count only as stalled parcels.
MILESTONES = {"created": None, "dispatched": "dispatched", "delivered": "delivered", "stalled": "stalled"}


def record_shipment(ctx: Ctx[Settings], shipment: ShipmentIn, *, milestone: str, at: datetime) -> bool:
    """A shipment's milestone (created, dispatched, delivered, stalled), once each."""
    insert_ignore(
        ctx.session,
        ShipmentFact.__table__,
        {
            "shipment_id": shipment.shipment_id,
            "order_id": shipment.order_id,
            "shop_id": shipment.shop_id,
            "case_id": shipment.case_id,
            "carrier": shipment.carrier,
        },
    )
    values: dict[str, Any] = {f"{milestone}_at": at}
    column = MILESTONES[milestone]
    day = _day(ctx, at)
    if column:
        values[f"{milestone}_day"] = day
    if shipment.carrier:
        values["carrier"] = shipment.carrier
    if not _set_once(ctx, ShipmentFact, ("shipment_id", shipment.shipment_id), f"{milestone}_at", values):
        return False
    if column and (shipment.case_id is None or milestone == "stalled"):
        rollups.add(ctx.session, ShopDay, [{"shop_id": shipment.shop_id, "day": day, column: 1}])
    if shipment.case_id is None and milestone in ("dispatched", "delivered"):
        order_column = "shipped_at" if milestone == "dispatched" else "delivered_at"
        _set_once(ctx, OrderFact, ("order_id", shipment.order_id), order_column, {order_column: at})
    return True


# After-sales -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CaseIn:
    id: str
    kind: str  # "case" | "complaint"
    shop_id: str
    at: datetime
    order_id: str | None = None
    case_type: str | None = None
    tier: str | None = None


def record_case(ctx: Ctx[Settings], case: CaseIn) -> bool:
    """CaseRequested (kind case), or a complaint's first ComplaintEscalated (kind complaint; a
    later escalation of the same complaint only counts on its fact)."""
    day = _day(ctx, case.at)
    row = {**case.__dict__, "opened_at": case.at, "opened_day": day, "escalations": int(case.kind == "complaint")}
    del row["at"]
    if insert_ignore(ctx.session, CaseFact.__table__, row):
        column = "cases_opened" if case.kind == "case" else "complaints_escalated"
        rollups.add(ctx.session, ShopDay, [{"shop_id": case.shop_id, "day": day, column: 1}])
        return True
    if case.kind == "complaint":
        ctx.session.execute(
            sa.update(CaseFact).where(CaseFact.id == case.id).values(escalations=CaseFact.escalations + 1)
        )
    return False


def record_case_refund(ctx: Ctx[Settings], case_id: str, amount_fen: int) -> None:
    """RefundApproved: the amount cs approved (a retried approval names the same amount)."""
    ctx.session.execute(sa.update(CaseFact).where(CaseFact.id == case_id).values(refund_approved_fen=amount_fen))


def record_case_closed(ctx: Ctx[Settings], case_id: str, *, outcome: str | None, at: datetime) -> bool:
    return _set_once(ctx, CaseFact, ("id", case_id), "closed_at", {"closed_at": at, "outcome": outcome})


# Visits ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class VisitIn:
    event_id: str
    visitor_id: str
    shop_id: str
    page: str
    at: datetime
    product_id: str | None = None
    variant: str | None = None


def record_visits(ctx: Ctx[Settings], visits: list[VisitIn]) -> dict[str, int]:
    """The beacon's batch: each client event id once (a resent batch adds nothing); every new view
    adds to its visitor's day (UV = visitors, PV = views)."""
    rows = {v.event_id: {**v.__dict__, "day": _day(ctx, v.at), "received_at": ctx.now} for v in visits}
    fresh = insert_new(ctx.session, Visit.__table__, list(rows.values()), "event_id")
    rollups.add(
        ctx.session,
        VisitorDay,
        [
            {"shop_id": row["shop_id"], "day": row["day"], "visitor_id": row["visitor_id"], "views": 1}
            for event_id, row in rows.items()
            if event_id in fresh
        ],
    )
    return {"accepted": len(fresh), "duplicates": len(visits) - len(fresh)}


# Rollups -----------------------------------------------------------------------------------------
def rebuild_rollups(ctx: Ctx[Settings]) -> dict[str, int]:
    """Every rollup recomputed from the facts (`ecom analytics rebuild`); rows per rollup."""
    counts = rollups.rebuild(ctx.session)
    log.info("rollups rebuilt from the facts: %s", counts)
    return counts


# KPIs --------------------------------------------------------------------------------------------
def kpi_report(ctx: Ctx[Settings], shop_id: str | None, *, start: date, end: date) -> dict[str, Any]:
    """The KPIs of `shop_id` (None: every shop, the platform totals) from `start` to `end` (days,
    both included) with the previous period of the same length, the daily series and the top lists.
    The caller has checked that it may see the shop."""
    try:
        domain.check_range(start, end, ctx.settings.max_range_days)
    except domain.RangeError as exc:
        raise RuleViolation(str(exc), errors={"from": [str(exc)]}) from exc
    prev_start, prev_end = domain.previous_period(start, end)
    lookback = ctx.settings.old_buyer_days
    current = domain.kpis(queries.aggregates(ctx.session, shop_id, start, end, lookback))
    previous = domain.kpis(queries.aggregates(ctx.session, shop_id, prev_start, prev_end, lookback))
    return {
        "shop_id": shop_id,
        "from": start.isoformat(),
        "to": end.isoformat(),
        "previous_from": prev_start.isoformat(),
        "previous_to": prev_end.isoformat(),
        "kpis": current,
        "previous": previous,
        "change": {name: domain.change(value, previous[name]) for name, value in current.items()},
        "series": queries.series(ctx.session, shop_id, start, end),
        **queries.top(ctx.session, shop_id, start, end, ctx.settings.top_n),
    }


# Alerts ------------------------------------------------------------------------------------------
def raise_alerts(ctx: Ctx[Settings], day: date) -> list[dict[str, Any]]:
    """Every shop active on `day` (orders or visits) whose KPIs of that day are past a bound gets an
    `analytics.KpiAlert` per KPI, once (the kpi_alerts row's key): the payloads raised now."""
    shops = sorted(
        set(ctx.session.execute(sa.select(ShopDay.shop_id).where(ShopDay.day == day)).scalars())
        | set(ctx.session.execute(sa.select(VisitorDay.shop_id).where(VisitorDay.day == day).distinct()).scalars())
    )
    raised = []
    for shop_id in shops:
        k = domain.kpis(queries.aggregates(ctx.session, shop_id, day, day, ctx.settings.old_buyer_days))
        for alert in domain.alerts(shop_id, k, ctx.settings.alert_policy):
            row = {"shop_id": shop_id, "day": day, "raised_at": ctx.now, **alert.__dict__}
            if not insert_ignore(ctx.session, KpiAlertSent.__table__, row):
                continue
            payload = {"shop_id": shop_id, **alert.__dict__, "from": day.isoformat(), "to": day.isoformat()}
            ctx.record(make_event("analytics.KpiAlert", payload))
            raised.append(payload)
    return raised


# A/B experiments ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class ExperimentIn:
    shop_id: str
    name: str
    target: str
    variants: tuple[domain.Variant, ...]
    starts_on: date | None = None
    ends_on: date | None = None


def create_experiment(ctx: Ctx[Settings], spec: ExperimentIn) -> Experiment:
    """A shop's experiment on conversion; the first variant is the control. Starts today unless
    told otherwise (the shop's day)."""
    try:
        domain.check_variants(spec.variants)
    except domain.ExperimentError as exc:
        raise RuleViolation(str(exc), errors={"variants": [str(exc)]}) from exc
    starts_on = spec.starts_on or _day(ctx, ctx.now)
    if spec.ends_on is not None and spec.ends_on < starts_on:
        raise RuleViolation("ends_on is before starts_on", errors={"ends_on": ["before starts_on"]})
    experiment = Experiment(
        id=new_id("X", ctx.now),
        shop_id=spec.shop_id,
        name=spec.name,
        target=spec.target,
        variants=[{"name": v.name, "weight": v.weight} for v in spec.variants],
        metric="conversion",
        starts_on=starts_on,
        ends_on=spec.ends_on,
        created_at=ctx.now,
        created_by=ctx.actor.id,
    )
    ctx.session.add(experiment)
    ctx.session.flush()
    return experiment


def get_experiment(ctx: Ctx[Settings], experiment_id: str) -> Experiment:
    experiment = ctx.session.get(Experiment, experiment_id)
    if experiment is None:
        raise NotFound("experiment not found")
    ctx.require_visible(experiment.shop_id, None, "experiment")
    return experiment


def _variants(experiment: Experiment) -> tuple[domain.Variant, ...]:
    return tuple(domain.Variant(v["name"], int(v["weight"])) for v in experiment.variants)


def assignment(ctx: Ctx[Settings], experiment_id: str, visitor_id: str) -> dict[str, str]:
    """The variant `visitor_id` sees (always the same); the storefront sends it back on each visit."""
    experiment = get_experiment(ctx, experiment_id)
    return {
        "experiment_id": experiment.id,
        "visitor_id": visitor_id,
        "variant": domain.assign(experiment.id, visitor_id, _variants(experiment)),
    }


def experiment_report(ctx: Ctx[Settings], experiment_id: str) -> dict[str, Any]:
    """Per variant: the distinct visitors whose visits carried it in the experiment's days, and how
    many of them paid in the shop in those days (a signed-in buyer's visitor_id is their buyer id);
    conversion, lift over the control, p-value and the winner by the SOP's rule (domain)."""
    experiment = get_experiment(ctx, experiment_id)
    start = experiment.starts_on
    end = experiment.ends_on or _day(ctx, ctx.now)
    names = [v.name for v in _variants(experiment)]
    buyers = sa.select(BuyerDay.buyer_id).where(
        BuyerDay.shop_id == experiment.shop_id, BuyerDay.day >= start, BuyerDay.day <= end
    )
    counts = {
        variant: (int(n), int(x))
        for variant, n, x in ctx.session.execute(
            sa.select(
                Visit.variant,
                sa.func.count(sa.distinct(Visit.visitor_id)),
                sa.func.count(sa.distinct(sa.case((Visit.visitor_id.in_(buyers), Visit.visitor_id)))),
            )
            .where(Visit.shop_id == experiment.shop_id, Visit.day >= start, Visit.day <= end)
            .where(Visit.variant.in_(names))
            .group_by(Visit.variant)
        )
    }
    report = domain.experiment_report([(name, *counts.get(name, (0, 0))) for name in names])
    return {"experiment_id": experiment.id, "shop_id": experiment.shop_id, "from": start, "to": end, **report}
