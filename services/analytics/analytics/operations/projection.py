"""analytics' projection use cases: `verb(ctx, thing, ...)`, never committing (the caller opens and
commits).

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
from ecom_common.errors import RetryLater
from ecom_common.usecase import Ctx

from .. import domain, rollups
from ..models import (
    BreachFact,
    BreakdownDay,
    BuyerDay,
    CampaignDay,
    CaseFact,
    DiscountFact,
    LineFact,
    OrderFact,
    RefundFact,
    ReviewFact,
    ShipmentFact,
    ShopDay,
    SkuDay,
    Visit,
    VisitorDay,
)
from ..settings import Settings

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
    discounts = order.campaign_discounts()
    if discounts:
        ctx.session.execute(
            sa.insert(DiscountFact), [{"order_id": order.order_id, "shop_id": order.shop_id, **d} for d in discounts]
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
        .returning(o.c.shop_id, o.c.buyer_id, o.c.discount_fen)
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
    if fact.discount_fen:
        _campaigns_paid(ctx, order_id, fact.shop_id, day, paid_fen)
    return True


def _campaigns_paid(ctx: Ctx[Settings], order_id: str, shop_id: str, day: date, paid_fen: int) -> None:
    """The paid order's promotions and coupons: its paid amount attributed to each, their discount spent."""
    d = DiscountFact.__table__
    used = ctx.session.execute(
        sa.update(d)
        .where(d.c.order_id == order_id)
        .values(paid_day=day, order_paid_fen=paid_fen)
        .returning(d.c.source, d.c.ref, d.c.amount_fen)
    ).all()
    rows = [
        {"shop_id": shop_id, "day": day, "source": u.source, "ref": u.ref, "orders": 1}
        | {"attributed_fen": paid_fen, "spend_fen": u.amount_fen}
        for u in used
    ]
    rollups.add(ctx.session, CampaignDay, rows)


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
    dispatch_by: datetime | None = None  # ShipmentCreated: the deadline logistics gave it


# milestone -> the shop-day column it counts (None: kept on the fact only); replacements of an
# exchange (case_id set) are not the order's fulfilment and count only as stalled parcels.
MILESTONES = {"created": None, "dispatched": "dispatched", "delivered": "delivered", "stalled": "stalled"}
# milestone -> the carrier breakdown's metric, fact column (None: every parcel of the milestone)
CARRIER_METRICS = {
    "dispatched": (("carrier_dispatched", None),),
    "delivered": (("carrier_delivered_timed", "timed"), ("carrier_delivered_on_time", "on_time")),
    "stalled": (("carrier_stalled", None),),
}


def _timing(ctx: Ctx[Settings], shipment: ShipmentIn, milestone: str, at: datetime) -> dict[str, Any]:
    """What the milestone tells about fulfilment, kept on the fact when the milestone is set:
    dispatch on time and hours from payment; delivery within the carrier's promise."""
    s = ShipmentFact.__table__
    if milestone == "dispatched":
        due = ctx.session.execute(sa.select(s.c.dispatch_by).where(s.c.shipment_id == shipment.shipment_id)).scalar()
        paid_at = ctx.session.execute(
            sa.select(OrderFact.paid_at).where(OrderFact.order_id == shipment.order_id)
        ).scalar()
        d = domain.dispatch_timing(at, due, paid_at)
        return {"dispatched_on_time": d.on_time, "paid_to_dispatch_s": d.paid_to_dispatch_s}
    if milestone == "delivered":
        sent = ctx.session.execute(sa.select(s.c.dispatched_at).where(s.c.shipment_id == shipment.shipment_id)).scalar()
        return {"delivered_on_time": domain.delivered_on_time(sent, at, ctx.settings.carrier_promise_hours)}
    return {}


def _fulfilment_sums(timing: dict[str, Any]) -> dict[str, int]:
    """A milestone's timing as shop-day numbers (rollups.SOURCES reads the same from the fact)."""
    if "dispatched_on_time" in timing:
        on_time, seconds = timing["dispatched_on_time"], timing["paid_to_dispatch_s"]
        return {
            "dispatch_due": int(on_time is not None),
            "dispatched_on_time": int(on_time is True),
            "dispatch_timed": int(seconds is not None),
            "dispatch_seconds": seconds or 0,
        }
    if "delivered_on_time" in timing:
        on_time = timing["delivered_on_time"]
        return {"delivered_timed": int(on_time is not None), "delivered_on_time": int(on_time is True)}
    return {}


def record_shipment(ctx: Ctx[Settings], shipment: ShipmentIn, *, milestone: str, at: datetime) -> bool:
    """A shipment's milestone (created, dispatched, delivered, stalled), once each, with what it
    tells about fulfilment (README "Fulfilment")."""
    s = ShipmentFact.__table__
    insert_ignore(
        ctx.session,
        s,
        {
            "shipment_id": shipment.shipment_id,
            "order_id": shipment.order_id,
            "shop_id": shipment.shop_id,
            "case_id": shipment.case_id,
            "carrier": shipment.carrier,
            "dispatch_by": shipment.dispatch_by,
        },
    )
    values: dict[str, Any] = {f"{milestone}_at": at}
    column = MILESTONES[milestone]
    day = _day(ctx, at)
    if column:
        values[f"{milestone}_day"] = day
    # The carrier that took the parcel (dispatch) is the parcel's; any other event only fills it in.
    if milestone == "dispatched" and shipment.carrier:
        values["carrier"] = shipment.carrier
    elif shipment.carrier:
        values["carrier"] = sa.func.coalesce(s.c.carrier, shipment.carrier)
    if shipment.dispatch_by:
        values["dispatch_by"] = sa.func.coalesce(s.c.dispatch_by, shipment.dispatch_by)
    timing = _timing(ctx, shipment, milestone, at)
    fact = ctx.session.execute(
        sa.update(s)
        .where(s.c.shipment_id == shipment.shipment_id, s.c[f"{milestone}_at"].is_(None))
        .values(**values, **timing)
        .returning(s.c.carrier)
    ).first()
    if fact is None:
        return False
    if column and (shipment.case_id is None or milestone == "stalled"):
        key = {"shop_id": shipment.shop_id, "day": day}
        rollups.add(ctx.session, ShopDay, [{**key, column: 1, **_fulfilment_sums(timing)}])
        on_time = timing.get("delivered_on_time")
        flags = {None: True, "timed": on_time is not None, "on_time": on_time is True}
        label = fact.carrier or ""
        rows = [{**key, "metric": m, "label": label, "count": 1} for m, f in CARRIER_METRICS[milestone] if flags[f]]
        rollups.add(ctx.session, BreakdownDay, rows)
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


def _breakdown(ctx: Ctx[Settings], shop_id: str, day: date, metric: str, label: str | None) -> None:
    """One more `label` (a type, tier, kind) in the breakdown `metric` of the shop's day."""
    row = {"shop_id": shop_id, "day": day, "metric": metric, "label": (label or "")[:64], "count": 1}
    rollups.add(ctx.session, BreakdownDay, [row])


def record_case(ctx: Ctx[Settings], case: CaseIn) -> bool:
    """CaseRequested: a case opened on its day, counted by type."""
    day = _day(ctx, case.at)
    row = {**case.__dict__, "kind": "case", "opened_at": case.at, "opened_day": day, "escalations": 0}
    del row["at"]
    if not insert_ignore(ctx.session, CaseFact.__table__, row):
        return False
    rollups.add(ctx.session, ShopDay, [{"shop_id": case.shop_id, "day": day, "cases_opened": 1}])
    _breakdown(ctx, case.shop_id, day, "case_type", case.case_type)
    return True


# complaint milestone -> (fact column, shop-day column, breakdown metric by tier)
COMPLAINT = {
    "filed": ("filed_day", "complaints_filed", "complaint_tier"),
    "escalated": ("escalated_day", "complaints_escalated", "escalated_tier"),
}


def record_complaint(ctx: Ctx[Settings], complaint: CaseIn, *, milestone: str) -> bool:
    """ComplaintFiled (milestone filed) or ComplaintEscalated (escalated): the complaint's fact
    (from whichever comes first), its filing and its first escalation counted once each, by the
    tier the fact holds; every escalation counts on the fact."""
    day = _day(ctx, complaint.at)
    column, rollup_column, metric = COMPLAINT[milestone]
    escalation = int(milestone == "escalated")
    row = {**complaint.__dict__, "kind": "complaint", "opened_at": complaint.at, "opened_day": day}
    row |= {"escalations": escalation, column: day}
    del row["at"]
    if insert_ignore(ctx.session, CaseFact.__table__, row):
        tier = complaint.tier
    else:
        c = CaseFact.__table__
        fact = ctx.session.execute(
            sa.update(c)
            .where(c.c.id == complaint.id, c.c[column].is_(None))
            .values({column: day, "escalations": c.c.escalations + escalation})
            .returning(c.c.tier)
        ).first()
        if fact is None:
            if escalation:
                ctx.session.execute(sa.update(c).where(c.c.id == complaint.id).values(escalations=c.c.escalations + 1))
            return False
        tier = fact.tier
    rollups.add(ctx.session, ShopDay, [{"shop_id": complaint.shop_id, "day": day, rollup_column: 1}])
    _breakdown(ctx, complaint.shop_id, day, metric, tier)
    return True


def record_case_refund(ctx: Ctx[Settings], case_id: str, amount_fen: int) -> None:
    """RefundApproved: the amount cs approved (a retried approval names the same amount)."""
    ctx.session.execute(sa.update(CaseFact).where(CaseFact.id == case_id).values(refund_approved_fen=amount_fen))


def record_case_closed(ctx: Ctx[Settings], case_id: str, *, outcome: str | None, at: datetime) -> bool:
    return _set_once(ctx, CaseFact, ("id", case_id), "closed_at", {"closed_at": at, "outcome": outcome})


# Reviews and service clocks ----------------------------------------------------------------------
@dataclass(frozen=True)
class ReviewIn:
    review_id: str
    order_id: str
    shop_id: str
    stars: int
    nps: int | None
    at: datetime


def record_review(ctx: Ctx[Settings], review: ReviewIn) -> bool:
    """OrderReviewed: the review's stars and 0-10 score on its day (NPS: promoters 9-10, detractors 0-6)."""
    day = _day(ctx, review.at)
    if not insert_ignore(ctx.session, ReviewFact.__table__, {**review.__dict__, "day": day}):
        return False
    band = domain.nps_band(review.nps)
    sums = {"reviews": 1, "stars_sum": review.stars, "nps_scores": int(band is not None)}
    sums |= {"promoters": int(band == "promoter"), "detractors": int(band == "detractor")}
    rollups.add(ctx.session, ShopDay, [{"shop_id": review.shop_id, "day": day, **sums}])
    return True


@dataclass(frozen=True)
class BreachIn:
    kind: str  # case | complaint | review
    ref_id: str
    milestone: str
    shop_id: str
    at: datetime


def record_breach(ctx: Ctx[Settings], breach: BreachIn) -> bool:
    """ServiceClockBreached: one SLA breach per clock (kind, case/complaint/review, milestone) on its day."""
    day = _day(ctx, breach.at)
    if not insert_ignore(ctx.session, BreachFact.__table__, {**breach.__dict__, "day": day}):
        return False
    rollups.add(ctx.session, ShopDay, [{"shop_id": breach.shop_id, "day": day, "sla_breaches": 1}])
    _breakdown(ctx, breach.shop_id, day, "sla_breach", breach.kind)
    return True


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
