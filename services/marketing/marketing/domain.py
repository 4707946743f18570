"""marketing's rules as plain Python: the pricing engine, the promotions and coupons it applies, and
why a coupon is refused. No Flask, no SQL (mypy --strict).

The stacking order (CONTRACTS.md, "Marketing"), each stage working on what the previous left:

1. single-item price = the lowest of list price, catalog's promo price, an active time-bound
   discount (限时折扣 / 分时折扣) and the member price (members only);
2. the shop's full reduction (满减: the highest tier met, or 每满 with its cap), then the shop's
   first-order discount (首单立减) for a buyer with no paid order in the shop;
3. a shop coupon; 4. a platform coupon; 5. points (100 points = 1 yuan, so 1 point = 1 fen),
   capped at a share of what is still payable.

Every deduction is capped at what is still payable, so payable is never negative. Thresholds are
compared in fen, as integers (19999 fen does not meet 满200). An order-level deduction is
apportioned to the lines it covers by largest remainder, weighted by what each line still owes:
the lines' shares sum exactly to the deduction and no line's share exceeds what it owes. The result
is one `DiscountRow` per (line, source), with who funds it (shop | platform): orders stores these
rows and a refund reads a line's apportioned paid amount from them; the engine is never re-run
for a refund.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from ecom_common.errors import RuleViolation

SHOP, PLATFORM = "shop", "platform"
# Sources of a discount row, in stacking order.
PROMO_PRICE = "promo_price"
TIMED_DISCOUNT = "timed_discount"
MEMBER_PRICE = "member_price"
FULL_REDUCTION = "full_reduction"
FIRST_ORDER = "first_order"
SHOP_COUPON = "shop_coupon"
PLATFORM_COUPON = "platform_coupon"
POINTS = "points"
SOURCES = (
    PROMO_PRICE,
    TIMED_DISCOUNT,
    MEMBER_PRICE,
    FULL_REDUCTION,
    FIRST_ORDER,
    SHOP_COUPON,
    PLATFORM_COUPON,
    POINTS,
)
FEN_PER_POINT = 1  # 100 points = 1 yuan = 100 fen
MINUTES_PER_DAY = 24 * 60


# What is priced ------------------------------------------------------------------------------
@dataclass(frozen=True)
class LineIn:
    """One order line as catalog prices it."""

    sku_code: str
    quantity: int
    list_price_fen: int
    promo_price_fen: int | None = None
    member_price_fen: int | None = None
    category_id: str | None = None


@dataclass(frozen=True)
class TimedDiscount:
    """限时折扣: the SKUs cost `rate_bps` / 10000 of their list price (8500 = 8.5折) between
    `starts_at` and `ends_at`; with a daily window (分时折扣, minutes of the local day, e.g.
    20:00-22:00 = 1200-1320; a window past midnight wraps) only inside it."""

    rule_id: str
    sku_codes: tuple[str, ...]
    rate_bps: int
    starts_at: datetime
    ends_at: datetime
    window: tuple[int, int] | None = None

    def active(self, at: datetime, local_minute: int) -> bool:
        if not (self.starts_at <= at < self.ends_at):
            return False
        return self.window is None or in_window(self.window, local_minute)

    def price_of(self, list_price_fen: int) -> int:
        return round_half_up(list_price_fen * self.rate_bps, 10_000)


@dataclass(frozen=True)
class Tier:
    threshold_fen: int
    reduction_fen: int


@dataclass(frozen=True)
class FullReduction:
    """满减: the highest tier whose threshold the order meets (满200减30, 满300减50); or, with
    `per_every`, the one tier counted as often as it fits (每满200减30), at most `cap_fen`."""

    rule_id: str
    tiers: tuple[Tier, ...]
    per_every: bool = False
    cap_fen: int | None = None

    def reduction(self, amount_fen: int) -> int:
        if self.per_every:
            tier = self.tiers[0]
            times = amount_fen // tier.threshold_fen if tier.threshold_fen > 0 else 0
            total = times * tier.reduction_fen
            return total if self.cap_fen is None else min(total, self.cap_fen)
        met = [t for t in self.tiers if amount_fen >= t.threshold_fen]
        return max(met, key=lambda t: t.threshold_fen).reduction_fen if met else 0


@dataclass(frozen=True)
class FirstOrderDiscount:
    """首单立减: `reduction_fen` off a buyer's first paid order in the shop."""

    rule_id: str
    reduction_fen: int
    threshold_fen: int = 0


@dataclass(frozen=True)
class CouponTerms:
    """A claimed coupon as the engine applies it: `reduction_fen` off the lines it covers once
    they reach `threshold_fen` (0: no threshold); it covers every line, or only the SKUs or
    categories named."""

    claim_id: str
    funded_by: str
    reduction_fen: int
    threshold_fen: int = 0
    sku_codes: tuple[str, ...] = ()
    category_ids: tuple[str, ...] = ()

    def covers(self, line: LineIn) -> bool:
        if not self.sku_codes and not self.category_ids:
            return True
        in_category = line.category_id is not None and line.category_id in self.category_ids
        return line.sku_code in self.sku_codes or in_category


@dataclass(frozen=True)
class PricingIn:
    """Everything a quote is priced from: the lines, who buys, the shop's active rules, the coupons
    and points the buyer asks to use, and the time (UTC, and the local minute of day for windows)."""

    lines: tuple[LineIn, ...]
    at: datetime
    local_minute: int = 0
    is_member: bool = False
    first_order: bool = False
    timed: tuple[TimedDiscount, ...] = ()
    reductions: tuple[FullReduction, ...] = ()
    first_order_offers: tuple[FirstOrderDiscount, ...] = ()
    shop_coupon: CouponTerms | None = None
    platform_coupon: CouponTerms | None = None
    points: int = 0
    points_cap_percent: int = 100


# What comes out -----------------------------------------------------------------------------
@dataclass(frozen=True)
class DiscountRow:
    """One (line, source) deduction: `line` is the line's index in the order."""

    line: int
    sku_code: str
    source: str
    ref: str | None
    amount_fen: int
    funded_by: str


@dataclass(frozen=True)
class PricedLine:
    line: int
    sku_code: str
    quantity: int
    list_price_fen: int
    unit_price_fen: int
    discount_fen: int
    payable_fen: int


@dataclass(frozen=True)
class Quote:
    lines: tuple[PricedLine, ...]
    discounts: tuple[DiscountRow, ...]
    list_total_fen: int
    discount_fen: int
    payable_fen: int
    points_used: int = 0

    def discount_of(self, source: str) -> int:
        return sum(d.amount_fen for d in self.discounts if d.source == source)


# Refusals ----------------------------------------------------------------------------------
class CouponRefusedError(RuleViolation):
    """A coupon (or points) the quote cannot use, with the reason as a code the client can read
    (422 problem+json: `errors[field] == [reason]`)."""

    def __init__(self, reason: str, detail: str, field_name: str = "coupon_claim_ids"):
        super().__init__(detail, {field_name: [reason]})
        self.reason = reason


# Arithmetic --------------------------------------------------------------------------------
def round_half_up(numerator: int, denominator: int) -> int:
    """numerator / denominator rounded to the nearest integer, halves up (non-negative inputs)."""
    return (2 * numerator + denominator) // (2 * denominator)


def in_window(window: tuple[int, int], minute: int) -> bool:
    start, end = window
    if start <= end:
        return start <= minute < end
    return minute >= start or minute < end  # wraps past midnight


def apportion(amount_fen: int, weights: list[int]) -> list[int]:
    """Split `amount_fen` over `weights` by largest remainder: the shares sum to `amount_fen`
    exactly, and while `amount_fen <= sum(weights)` no share exceeds its weight. Ties go to the
    earlier line."""
    total = sum(weights)
    if amount_fen <= 0 or total <= 0:
        return [0] * len(weights)
    shares = [amount_fen * w // total for w in weights]
    remainders = [amount_fen * w % total for w in weights]
    left = amount_fen - sum(shares)
    order = sorted(range(len(weights)), key=lambda i: (-remainders[i], i))
    for i in order[:left]:
        shares[i] += 1
    return shares


# The engine --------------------------------------------------------------------------------
@dataclass
class _Work:
    owed: list[int]
    rows: list[DiscountRow] = field(default_factory=list)

    def deduct(self, lines: tuple[LineIn, ...], covered: list[int], how: tuple[str, str | None, str, int]) -> int:
        """Deduct up to `amount` from the covered lines (capped at what they still owe), one row per
        line with a share; returns what was deducted."""
        source, ref, funded_by, amount = how
        weights = [self.owed[i] for i in covered]
        amount = min(amount, sum(weights))
        for i, share in zip(covered, apportion(amount, weights), strict=True):
            if share > 0:
                self.owed[i] -= share
                self.rows.append(DiscountRow(i, lines[i].sku_code, source, ref, share, funded_by))
        return max(amount, 0)


def unit_price(line: LineIn, p: PricingIn) -> tuple[int, str | None, str | None]:
    """The single-item price and the source (and rule) that set it; None when the list price stands."""
    best: tuple[int, str | None, str | None] = (line.list_price_fen, None, None)
    candidates: list[tuple[int, str, str | None]] = []
    if line.promo_price_fen is not None:
        candidates.append((line.promo_price_fen, PROMO_PRICE, None))
    for rule in p.timed:
        if line.sku_code in rule.sku_codes and rule.active(p.at, p.local_minute):
            candidates.append((rule.price_of(line.list_price_fen), TIMED_DISCOUNT, rule.rule_id))
    if p.is_member and line.member_price_fen is not None:
        candidates.append((line.member_price_fen, MEMBER_PRICE, None))
    for price, source, ref in candidates:  # the first of equal prices wins (stacking order)
        if max(price, 0) < best[0]:
            best = (max(price, 0), source, ref)
    return best


def price_order(p: PricingIn) -> Quote:
    """Price an order (see the module's doc for the stacking order). Raises CouponRefusedError when a
    coupon's threshold is not met by the lines it covers at its stage."""
    lines = p.lines
    units = [unit_price(line, p) for line in lines]
    work = _Work(owed=[u[0] * line.quantity for u, line in zip(units, lines, strict=True)])
    for i, (unit, source, ref) in enumerate(units):
        saved = (lines[i].list_price_fen - unit) * lines[i].quantity
        if source is not None and saved > 0:
            work.rows.append(DiscountRow(i, lines[i].sku_code, source, ref, saved, SHOP))
    everything = list(range(len(lines)))

    best = max(p.reductions, key=lambda r: r.reduction(sum(work.owed)), default=None)
    if best is not None and best.reduction(sum(work.owed)) > 0:
        work.deduct(lines, everything, (FULL_REDUCTION, best.rule_id, SHOP, best.reduction(sum(work.owed))))
    if p.first_order:
        offers = [o for o in p.first_order_offers if sum(work.owed) >= o.threshold_fen]
        offer = max(offers, key=lambda o: o.reduction_fen, default=None)
        if offer is not None:
            work.deduct(lines, everything, (FIRST_ORDER, offer.rule_id, SHOP, offer.reduction_fen))

    for coupon, source in ((p.shop_coupon, SHOP_COUPON), (p.platform_coupon, PLATFORM_COUPON)):
        if coupon is None:
            continue
        covered = [i for i in everything if coupon.covers(lines[i])]
        base = sum(work.owed[i] for i in covered)
        if not covered or base < coupon.threshold_fen:
            raise CouponRefusedError(
                "below_threshold",
                f"the coupon needs {coupon.threshold_fen} fen of the lines it covers; they come to {base}",
            )
        work.deduct(lines, covered, (source, coupon.claim_id, coupon.funded_by, coupon.reduction_fen))

    points_used = 0
    if p.points > 0:
        cap = sum(work.owed) * p.points_cap_percent // 100
        points_used = min(p.points * FEN_PER_POINT, cap) // FEN_PER_POINT
        work.deduct(lines, everything, (POINTS, None, SHOP, points_used * FEN_PER_POINT))
    return _quote(lines, units, work, points_used)


Unit = tuple[int, str | None, str | None]  # single-item price, its source and rule


def _quote(lines: tuple[LineIn, ...], units: list[Unit], work: _Work, points: int) -> Quote:
    rows = _merged(work.rows)
    priced = []
    for i, line in enumerate(lines):
        single_item = (line.list_price_fen - units[i][0]) * line.quantity
        order_level = sum(r.amount_fen for r in rows if r.line == i) - single_item
        priced.append(
            PricedLine(i, line.sku_code, line.quantity, line.list_price_fen, units[i][0], order_level, work.owed[i])
        )
    list_total = sum(line.list_price_fen * line.quantity for line in lines)
    payable = sum(work.owed)
    return Quote(tuple(priced), tuple(rows), list_total, list_total - payable, payable, points)


def _merged(rows: list[DiscountRow]) -> tuple[DiscountRow, ...]:
    """One row per (line, source), in line then stacking order."""
    merged: dict[tuple[int, str], DiscountRow] = {}
    for row in rows:
        key = (row.line, row.source)
        seen = merged.get(key)
        merged[key] = row if seen is None else replace(seen, amount_fen=seen.amount_fen + row.amount_fen)
    return tuple(sorted(merged.values(), key=lambda r: (r.line, SOURCES.index(r.source))))


# Coupons: why a claim cannot be used --------------------------------------------------------
@dataclass(frozen=True)
class ClaimView:
    """What a refusal is decided on: the claim's owner, shop (None: platform), status and validity."""

    claim_id: str
    buyer_id: str
    shop_id: str | None
    status: str
    order_id: str | None
    valid_from: datetime
    valid_until: datetime


def coupon_refusal(claim: ClaimView, *, buyer_id: str, shop_id: str, order_id: str | None, at: datetime) -> None:
    """Raise CouponRefusedError naming why `buyer_id` cannot use the claim on an order of `shop_id`
    at `at`; a claim already locked by this same order is usable (the quote is asked again)."""
    if claim.buyer_id != buyer_id:
        raise CouponRefusedError("not_yours", "the coupon belongs to another buyer")
    if claim.shop_id is not None and claim.shop_id != shop_id:
        raise CouponRefusedError("other_shop", "the coupon is for another shop")
    if at < claim.valid_from:
        raise CouponRefusedError("not_yet_valid", f"the coupon is valid from {claim.valid_from.isoformat()}")
    if at >= claim.valid_until:
        raise CouponRefusedError("expired", f"the coupon expired at {claim.valid_until.isoformat()}")
    if claim.status == "used":
        raise CouponRefusedError("used", "the coupon was already used")
    if claim.status == "locked" and (order_id is None or claim.order_id != order_id):
        raise CouponRefusedError("locked", "the coupon is held by another order")


# Gifts -----------------------------------------------------------------------------------
GIFT_KINDS = ("first_n_gift", "buy_n_gift", "gift_over_amount")


@dataclass(frozen=True)
class GiftTerms:
    """A gift promotion's rule: `first_n_gift` and `gift_over_amount` give one gift to an order paying at
    least `threshold_fen`; `buy_n_gift` one gift per `buy_quantity` units bought of `sku_codes` (empty:
    any SKU), so 买2送1 on 5 units gives 2. How many gifts are left (`gift_limit`) is counted by the
    caller, not here."""

    kind: str
    threshold_fen: int = 0
    buy_quantity: int = 0
    sku_codes: tuple[str, ...] = ()


def gifts_earned(terms: GiftTerms, paid_fen: int, lines: Sequence[tuple[str, int]]) -> int:
    """How many gifts an order paying `paid_fen` for `lines` ((sku_code, quantity)) earns: 0 or more.
    Thresholds are compared in fen: 19999 does not meet 20000."""
    if terms.kind == "buy_n_gift":
        if terms.buy_quantity < 1:
            return 0
        bought = sum(q for sku, q in lines if not terms.sku_codes or sku in terms.sku_codes)
        return bought // terms.buy_quantity
    return 1 if paid_fen >= terms.threshold_fen else 0


# Campaign subsidy and refunds ------------------------------------------------------------
def subsidy_due(
    reserved: dict[str, int], returned: dict[str, int], refunded_fen: int, payable_fen: int
) -> dict[str, int]:
    """What a campaign gets back of the subsidy an order reserved once `refunded_fen` of its
    `payable_fen` is refunded in all: the refunded share of each reservation (rounded down; all of
    it once everything is refunded) less what was returned already, never below zero and never past
    what was reserved. Campaigns owed nothing are left out."""
    if payable_fen <= 0:
        share_of = dict(reserved) if refunded_fen > 0 else {c: 0 for c in reserved}
    else:
        refunded = min(max(refunded_fen, 0), payable_fen)
        share_of = {c: amount * refunded // payable_fen for c, amount in reserved.items()}
    due = {c: min(share, reserved[c]) - returned.get(c, 0) for c, share in share_of.items()}
    return {c: n for c, n in sorted(due.items()) if n > 0}


# Members ---------------------------------------------------------------------------------
NEW, ACTIVE, HIGH_VALUE = "new", "active", "high_value"


@dataclass(frozen=True)
class TierRules:
    """active: at least `active_orders` paid orders; high value: at least `high_value_fen` paid
    net of refunds (BUSINESS-RULES.md: new / active / high value)."""

    active_orders: int = 2
    high_value_fen: int = 500_000


def member_tier(paid_orders: int, net_paid_fen: int, rules: TierRules) -> str:
    if net_paid_fen >= rules.high_value_fen:
        return HIGH_VALUE
    return ACTIVE if paid_orders >= rules.active_orders else NEW


def member_level(growth: int, thresholds: tuple[int, ...]) -> int:
    """The level a growth value reaches: 1 + how many thresholds above the first it meets
    (thresholds ascending, the first usually 0)."""
    return max(1, sum(1 for t in thresholds if growth >= t))
