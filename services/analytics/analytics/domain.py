"""analytics' rules, as plain Python (no Flask, no SQL; mypy --strict): what a day is, how an
order's discount is spread over its lines, the facts an event carries, and the KPI definitions of
Tmall 生意参谋 (services/analytics/README.md, "KPIs") computed from the aggregates the queries read.

The facts are what analytics keeps of the other services' events (it reads no other database):

- an **order fact** per order (OrderPlaced: goods, discount, postage, payable; OrderPaid: paid;
  OrderCancelled; OrderCompleted), a **line fact** per line (SKU, category, units, paid amount after
  its share of the order's discount),
- a **refund fact** per billing refund, a **shipment fact** per shipment, a **case fact** per
  after-sales case or escalated complaint.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any


# Days --------------------------------------------------------------------------------------------
def _aware(at: datetime) -> datetime:
    """A stored time without its zone is UTC (SQLite keeps none)."""
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def day_of(at: datetime, utc_offset_hours: float) -> date:
    """The shop's calendar day of an instant: 生意参谋 counts by the day in China (UTC+8 by default,
    ANALYTICS_DAY_UTC_OFFSET_HOURS), so 2026-12-03T17:00Z is already 12-04."""
    return _aware(at).astimezone(timezone(timedelta(hours=utc_offset_hours))).date()


def days(start: date, end: date) -> list[date]:
    """Every day from start to end, both included."""
    return [start + timedelta(days=n) for n in range((end - start).days + 1)]


def previous_period(start: date, end: date) -> tuple[date, date]:
    """The period of the same length that ends the day before `start` (the comparison 生意参谋 shows)."""
    length = (end - start).days + 1
    return start - timedelta(days=length), start - timedelta(days=1)


class RangeError(ValueError):
    """A date range that cannot be reported (end before start, longer than allowed)."""


def check_range(start: date, end: date, max_days: int) -> None:
    if end < start:
        raise RangeError("`to` is before `from`")
    if (end - start).days + 1 > max_days:
        raise RangeError(f"at most {max_days} days in one report")


# Orders and lines --------------------------------------------------------------------------------
@dataclass(frozen=True)
class LineIn:
    sku_code: str
    quantity: int
    unit_price_fen: int
    category_id: str | None = None

    @property
    def gross_fen(self) -> int:
        return self.quantity * self.unit_price_fen


@dataclass(frozen=True)
class DiscountIn:
    """One (line, source) deduction OrderPlaced carries: its promotion or coupon, who funds it."""

    source: str
    ref: str | None
    amount_fen: int
    funded_by: str


@dataclass(frozen=True)
class PlacedOrder:
    """What OrderPlaced tells: the order as priced when it was placed."""

    order_id: str
    shop_id: str
    buyer_id: str
    payable_fen: int
    placed_at: datetime
    lines: tuple[LineIn, ...]
    goods_fen: int | None = None
    discount_fen: int | None = None
    shipping_fen: int | None = None
    discounts: tuple[DiscountIn, ...] = ()

    def campaign_discounts(self) -> list[dict[str, Any]]:
        """The order's discounts summed per campaign key (domain.campaign_key), points left out."""
        out: dict[tuple[str, str], dict[str, Any]] = {}
        for d in self.discounts:
            key = campaign_key(d.source, d.ref)
            if key is None:
                continue
            row = out.setdefault(key, {"source": key[0], "ref": key[1], "funded_by": d.funded_by, "amount_fen": 0})
            row["amount_fen"] += d.amount_fen
        return list(out.values())

    def amounts(self) -> tuple[int, int, int]:
        """(goods, discount, postage): as carried, else derived so that goods - discount + postage =
        payable (an older producer sent only payable and lines: no postage, the rest a discount)."""
        goods = self.goods_fen if self.goods_fen is not None else sum(line.gross_fen for line in self.lines)
        shipping = self.shipping_fen if self.shipping_fen is not None else 0
        discount = self.discount_fen if self.discount_fen is not None else max(0, goods + shipping - self.payable_fen)
        return goods, discount, shipping

    def line_paid(self) -> list[int]:
        """Each line's paid amount: its gross less its share of the order's discount, apportioned by
        gross with the largest remainder (the shares add up to the discount to the fen)."""
        _, discount, _ = self.amounts()
        gross = [line.gross_fen for line in self.lines]
        shares = apportion(min(discount, sum(gross)), gross)
        return [g - s for g, s in zip(gross, shares, strict=True)]


def apportion(total: int, weights: Sequence[int]) -> list[int]:
    """`total` split in proportion to `weights` in whole fen, by largest remainder (ties: the earlier
    line); all zero weights: split evenly the same way."""
    if not weights:
        return []
    if total == 0:
        return [0] * len(weights)
    base = list(weights) if sum(weights) > 0 else [1] * len(weights)
    whole = sum(base)
    floors = [total * w // whole for w in base]
    remainders = [(total * w % whole, -i) for i, w in enumerate(base)]
    left = total - sum(floors)
    for _, neg_index in sorted(remainders, reverse=True)[:left]:
        floors[-neg_index] += 1
    return floors


def sum_by_key(rows: Iterable[dict[str, Any]], keys: Sequence[str]) -> list[dict[str, Any]]:
    """Rows with the same key values merged, numbers added: one statement may not upsert the same
    rollup row twice (PostgreSQL's ON CONFLICT DO UPDATE refuses), e.g. two lines of one SKU."""
    merged: dict[tuple[Any, ...], dict[str, Any]] = {}
    for row in rows:
        key = tuple(row[k] for k in keys)
        into = merged.get(key)
        if into is None:
            merged[key] = dict(row)
            continue
        for name, value in row.items():
            if name not in keys and isinstance(value, int) and not isinstance(value, bool):
                into[name] = into[name] + value
    return list(merged.values())


# KPIs --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Aggregates:
    """What the queries read for one shop (or the platform) over one period."""

    paid_fen: int = 0
    paid_orders: int = 0
    paying_buyers: int = 0
    new_buyers: int = 0
    repeat_buyers: int = 0
    uv: int = 0
    pv: int = 0
    refund_fen: int = 0
    refunds: int = 0
    placed_orders: int = 0
    cancelled_orders: int = 0
    dispatched: int = 0
    delivered: int = 0
    stalled: int = 0
    cases_opened: int = 0
    complaints_escalated: int = 0
    dispatch_due: int = 0
    dispatched_on_time: int = 0
    dispatch_timed: int = 0
    dispatch_seconds: int = 0
    delivered_timed: int = 0
    delivered_on_time: int = 0
    complaints_filed: int = 0
    sla_breaches: int = 0
    reviews: int = 0
    stars_sum: int = 0
    nps_scores: int = 0
    promoters: int = 0
    detractors: int = 0


def ratio(part: int, whole: int) -> float | None:
    """part / whole to 4 decimals; None when there is nothing to divide by (no buyer, no visitor)."""
    return None if whole == 0 else round(part / whole, 4)


def per(total_fen: int, count: int) -> int | None:
    """An average in whole fen, half up; None for no count."""
    return None if count == 0 else math.floor(total_fen / count + 0.5)


def kpis(a: Aggregates) -> dict[str, Any]:
    """The KPIs of one period by the README's definitions."""
    return {
        "paid_fen": a.paid_fen,
        "paid_orders": a.paid_orders,
        "paying_buyers": a.paying_buyers,
        "aov_fen": per(a.paid_fen, a.paying_buyers),
        "uv": a.uv,
        "pv": a.pv,
        "conversion": ratio(a.paying_buyers, a.uv),
        "refund_fen": a.refund_fen,
        "refunds": a.refunds,
        "refund_rate": ratio(a.refund_fen, a.paid_fen),
        "new_buyers": a.new_buyers,
        "new_buyer_share": ratio(a.new_buyers, a.paying_buyers),
        "repeat_buyers": a.repeat_buyers,
        "repurchase_rate": ratio(a.repeat_buyers, a.paying_buyers),
        "placed_orders": a.placed_orders,
        "cancelled_orders": a.cancelled_orders,
        "dispatched": a.dispatched,
        "delivered": a.delivered,
        "stalled": a.stalled,
        "dispatch_on_time_rate": ratio(a.dispatched_on_time, a.dispatch_due),
        "dispatch_hours": None if a.dispatch_timed == 0 else round(a.dispatch_seconds / a.dispatch_timed / 3600, 2),
        "carrier_on_time_rate": ratio(a.delivered_on_time, a.delivered_timed),
        "cases_opened": a.cases_opened,
        "complaints_filed": a.complaints_filed,
        "complaints_escalated": a.complaints_escalated,
        "sla_breaches": a.sla_breaches,
        "reviews": a.reviews,
        "avg_stars": None if a.reviews == 0 else round(a.stars_sum / a.reviews, 2),
        "nps": nps(a.promoters, a.detractors, a.nps_scores),
        "promoters": a.promoters,
        "passives": a.nps_scores - a.promoters - a.detractors,
        "detractors": a.detractors,
    }


# Fulfilment, reviews, campaigns ------------------------------------------------------------------
PROMOTER_MIN = 9  # 9-10 promoters, 7-8 passives, 0-6 detractors (the usual NPS bands)
DETRACTOR_MAX = 6


def nps_band(score: int | None) -> str | None:
    """promoter, passive or detractor for a 0-10 score; None without a score."""
    if score is None:
        return None
    return "promoter" if score >= PROMOTER_MIN else "detractor" if score <= DETRACTOR_MAX else "passive"


def nps(promoters: int, detractors: int, scored: int) -> float | None:
    """Net promoter score: % promoters - % detractors of the reviews with a score, in [-100, 100],
    one decimal (None without a score)."""
    return None if scored == 0 else round(100 * (promoters - detractors) / scored, 1)


@dataclass(frozen=True)
class Dispatch:
    """How a parcel's dispatch went against its deadline and its order's payment."""

    on_time: bool | None  # None: no deadline known
    paid_to_dispatch_s: int | None  # None: the order's payment not known (yet)


def dispatch_timing(dispatched_at: datetime, dispatch_by: datetime | None, paid_at: datetime | None) -> Dispatch:
    """On time = dispatched at or before the deadline logistics gave the parcel (ShipmentCreated's
    `dispatch_by`); the time from payment in whole seconds (never negative)."""
    at = _aware(dispatched_at)
    on_time = None if dispatch_by is None else at <= _aware(dispatch_by)
    seconds = None if paid_at is None else max(0, int((at - _aware(paid_at)).total_seconds()))
    return Dispatch(on_time, seconds)


def delivered_on_time(dispatched_at: datetime | None, delivered_at: datetime, promise_hours: float) -> bool | None:
    """Carrier on time = delivered within the carrier's promised transit time of the dispatch
    (ANALYTICS_CARRIER_PROMISE_HOURS; no event carries an estimated arrival); None when the
    dispatch time is not known."""
    if dispatched_at is None:
        return None
    return _aware(delivered_at) - _aware(dispatched_at) <= timedelta(hours=promise_hours)


NOT_CAMPAIGNS = ("points",)  # loyalty points are the buyer's balance, not a campaign's spend
COUPON_SOURCES = ("shop_coupon", "platform_coupon")


def campaign_key(source: str, ref: str | None) -> tuple[str, str] | None:
    """The (source, ref) a discount row is attributed to, or None for no campaign (points). A coupon
    row's ref is the buyer's claim, not the offer: coupons are attributed per source."""
    if source in NOT_CAMPAIGNS:
        return None
    return (source, "" if source in COUPON_SOURCES else (ref or "")[:64])


ROI_TARGET = 3.0  # the SOP: a campaign should bring at least 3 yuan paid per yuan spent


def roi(attributed_fen: int, spend_fen: int) -> float | None:
    """attributed paid amount / spend, 2 decimals (None without spend)."""
    return None if spend_fen == 0 else round(attributed_fen / spend_fen, 2)


def change(current: float | int | None, previous: float | int | None) -> float | None:
    """Relative change against the previous period (0.25 = +25%); None when either is missing or
    the previous one is zero."""
    if current is None or previous is None or previous == 0:
        return None
    return round((current - previous) / previous, 4)


# CSV ---------------------------------------------------------------------------------------------
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: object) -> str:
    """A CSV cell a spreadsheet will not run: text starting with = + - @ (or a tab / CR) gets a
    leading apostrophe (OWASP "CSV injection"); numbers are written as they are; None is empty."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


# Alerts ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class AlertPolicy:
    """The SOP's bounds: payment conversion 15% below the shop's benchmark, a refund rate above its
    bound, a new-customer share under 30%."""

    conversion_benchmarks: dict[str, float]
    conversion_drop: float = 0.15
    refund_rate_max: float = 0.1
    new_buyer_share_min: float = 0.3


@dataclass(frozen=True)
class Alert:
    kpi: str
    value: float
    bound: float
    direction: str  # "below" | "above"


def alerts(shop_id: str, k: dict[str, Any], policy: AlertPolicy) -> list[Alert]:
    """The KPIs of one shop's period past their bounds (a KPI without a value, e.g. no visitors, is
    never an alert)."""
    out = []
    benchmark = policy.conversion_benchmarks.get(shop_id)
    if benchmark is not None and k["conversion"] is not None:
        bound = round(benchmark * (1 - policy.conversion_drop), 4)
        if k["conversion"] < bound:
            out.append(Alert("conversion", k["conversion"], bound, "below"))
    if k["refund_rate"] is not None and k["refund_rate"] > policy.refund_rate_max:
        out.append(Alert("refund_rate", k["refund_rate"], policy.refund_rate_max, "above"))
    if k["new_buyer_share"] is not None and k["new_buyer_share"] < policy.new_buyer_share_min:
        out.append(Alert("new_buyer_share", k["new_buyer_share"], policy.new_buyer_share_min, "below"))
    return out


# A/B experiments ---------------------------------------------------------------------------------
MIN_LIFT = 0.05  # the SOP: a variant wins when conversion rises by 5% or more
ALPHA = 0.05  # ... and the rise is significant (two-sided)


@dataclass(frozen=True)
class Variant:
    name: str
    weight: int


class ExperimentError(ValueError):
    """Variants an experiment cannot have."""


def check_variants(variants: Sequence[Variant]) -> None:
    if len(variants) < 2:
        raise ExperimentError("an experiment needs at least two variants (the first is the control)")
    if len({v.name for v in variants}) != len(variants):
        raise ExperimentError("each variant name once")
    if any(v.weight < 1 for v in variants):
        raise ExperimentError("every weight is a whole number of at least 1")


def assign(experiment_id: str, visitor_id: str, variants: Sequence[Variant]) -> str:
    """The variant a visitor sees, the same on every call and every process: a SHA-256 of
    (experiment, visitor) placed on the variants' cumulative weights."""
    digest = hashlib.sha256(f"{experiment_id}\x1f{visitor_id}".encode()).digest()
    point = int.from_bytes(digest[:8], "big") % sum(v.weight for v in variants)
    for variant in variants:
        if point < variant.weight:
            return variant.name
        point -= variant.weight
    raise AssertionError("unreachable: point < total weight")


def two_proportion_p(x1: int, n1: int, x2: int, n2: int) -> float | None:
    """Two-sided p-value of the pooled two-proportion z-test of x1/n1 against x2/n2 (None when a
    group is empty or nobody / everybody converted: there is no variance to test)."""
    if n1 == 0 or n2 == 0:
        return None
    pooled = (x1 + x2) / (n1 + n2)
    variance = pooled * (1 - pooled) * (1 / n1 + 1 / n2)
    if variance == 0:
        return None
    z = (x2 / n2 - x1 / n1) / math.sqrt(variance)
    return math.erfc(abs(z) / math.sqrt(2))


def experiment_report(counts: Sequence[tuple[str, int, int]]) -> dict[str, Any]:
    """Per variant (name, visitors, buyers), the first being the control: conversion, lift over the
    control, the two-sided p-value against it; the winner is the best variant whose lift is at least
    MIN_LIFT with p < ALPHA, or None."""
    control_name, n0, x0 = counts[0]
    c0 = x0 / n0 if n0 else None
    rows: list[dict[str, Any]] = []
    best: tuple[float, float, str] | None = None  # (lift, -p, name) of the best qualifying variant
    for name, n, x in counts:
        conversion = x / n if n else None
        control = name == control_name
        lift = None if control or conversion is None or not c0 else (conversion - c0) / c0
        p = None if control else two_proportion_p(x0, n0, x, n)
        rows.append(
            {
                "variant": name,
                "visitors": n,
                "buyers": x,
                "conversion": None if conversion is None else round(conversion, 4),
                "lift": None if lift is None else round(lift, 4),
                "p_value": None if p is None else round(p, 6),
                "significant": p is not None and p < ALPHA,
            }
        )
        if lift is not None and p is not None and lift >= MIN_LIFT and p < ALPHA:
            best = max(best or (lift, -p, name), (lift, -p, name))
    return {"control": control_name, "variants": rows, "winner": best[2] if best else None}
