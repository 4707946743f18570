"""What each order line paid and what can be refunded of it: the payable amount shared over the
lines (largest remainder, weighted by what each paid), refund plans that never exceed a line's
share, and the platform-funded part of each line (paid to the shop at settlement). Pure rules."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .domain import RefundRefusedError


# Allocation and refund caps -------------------------------------------------------------------------
def allocate(total: int, weights: list[int]) -> list[int]:
    """Split `total` fen over `weights` proportionally, largest remainder first: parts sum to total
    exactly and none exceeds its proportional share rounded up."""
    if total < 0:
        raise ValueError("cannot allocate a negative amount")
    wsum = sum(weights)
    if not weights:
        return []
    if wsum <= 0:
        parts = [0] * len(weights)
        parts[0] = total
        return parts
    floors = [total * w // wsum for w in weights]
    rest = total - sum(floors)
    order = sorted(range(len(weights)), key=lambda i: (-(total * weights[i] % wsum), i))
    for i in order[:rest]:
        floors[i] += 1
    return floors


def _paid(line: dict[str, Any]) -> int:
    paid = line.get("paid_fen")
    return int(paid) if paid is not None else int(line.get("unit_price_fen") or 0) * int(line["quantity"])


def platform_funded(lines: list[dict[str, Any]], discounts: list[dict[str, Any]] | None) -> list[int]:
    """Per line (in the order's line order), the discounts the platform funds (orders' discount rows
    with `funded_by: platform`, whose `line` is the line's index)."""
    funded = [0] * len(lines)
    for row in discounts or []:
        i = int(row.get("line", -1))
        if row.get("funded_by") == "platform" and 0 <= i < len(lines):
            funded[i] += int(row.get("amount_fen") or 0)
    return funded


def subsidy_at_settlement(b: LineBalance) -> int:
    """What the platform pays the shop for a line's platform-funded discounts at settlement: all of
    it for a line nothing was refunded of, in proportion to what stays paid otherwise (rounded down)."""
    if b.share_fen <= 0 or b.platform_fen <= 0:
        return 0
    return b.platform_fen * (b.share_fen - b.refunded_fen) // b.share_fen


def subsidy_on_refund(b: LineBalance, refunded_fen: int) -> int:
    """The part of a settled line's platform subsidy that a later refund of `refunded_fen` takes back."""
    if b.share_fen <= 0 or b.platform_fen <= 0:
        return 0
    return b.platform_fen * refunded_fen // b.share_fen


@dataclass
class LineBalance:
    """One order line as billing tracks it: what was paid for it (its share of the payable amount)
    and what has been refunded from it."""

    line_no: int
    sku_code: str
    quantity: int
    unit_price_fen: int
    share_fen: int
    category_id: str | None = None
    refunded_fen: int = 0
    refunded_qty: int = 0
    platform_fen: int = 0  # the platform-funded discounts on this line (coupons): paid to the shop at settlement

    @property
    def remaining_fen(self) -> int:
        return self.share_fen - self.refunded_fen

    @property
    def remaining_qty(self) -> int:
        return self.quantity - self.refunded_qty

    def cap_for(self, qty: int) -> int:
        """At most what was paid for `qty` more units of this line, less what was refunded already."""
        if self.refunded_qty + qty >= self.quantity:
            paid_for = self.share_fen
        else:
            paid_for = self.share_fen * (self.refunded_qty + qty) // self.quantity
        return max(0, paid_for - self.refunded_fen)


def line_shares(payable_fen: int, lines: list[dict[str, Any]]) -> list[int]:
    """Each line's share of the payable amount, weighted by what the line paid (orders' `paid_fen`:
    its price less its share of 满减, coupons and points; unit price x quantity for orders placed
    before marketing priced them): the shipping fee is spread over the lines, so that refunding every
    line refunds exactly what was paid."""
    weights = [_paid(l) for l in lines]
    if sum(weights) == 0:
        weights = [int(l["quantity"]) for l in lines]
    return allocate(payable_fen, weights)


@dataclass
class RefundPart:
    line_no: int
    sku_code: str
    amount_fen: int
    quantity: int
    category_id: str | None = None


@dataclass
class RefundPlan:
    amount_fen: int
    parts: list[RefundPart] = field(default_factory=list)


@dataclass(frozen=True)
class RefundRequest:
    """A refund asked for, once per key (`order:<id>:full` for a cancellation or a late payment,
    `case:<id>` for an after-sales case); `requested_fen` None: whatever is left to refund."""

    key: str
    kind: str  # order_cancelled | late_payment | aftersales
    order_id: str
    shop_id: str
    case_id: str | None = None
    requested_fen: int | None = None

    @classmethod
    def in_full(cls, order_id: str, shop_id: str, kind: str, case_id: str | None) -> RefundRequest:
        return cls(f"order:{order_id}:full", kind, order_id, shop_id, case_id)

    @classmethod
    def for_case(cls, case_id: str, order_id: str, shop_id: str, amount_fen: int) -> RefundRequest:
        return cls(f"case:{case_id}", "aftersales", order_id, shop_id, case_id, amount_fen)


def plan_full_refund(balances: list[LineBalance], paid_fen: int, refunded_fen: int) -> RefundPlan:
    """Everything not yet refunded (order cancelled, late payment)."""
    remaining = paid_fen - refunded_fen
    if remaining <= 0:
        return RefundPlan(0)
    caps = [max(0, b.remaining_fen) for b in balances]
    if sum(caps) < remaining:  # lines unknown or inconsistent: refund the order-level remainder
        parts = [
            RefundPart(b.line_no, b.sku_code, c, b.remaining_qty, b.category_id)
            for b, c in zip(balances, caps, strict=False)
        ]
        return RefundPlan(remaining, parts)
    amounts = allocate(remaining, caps)
    return RefundPlan(
        remaining,
        [
            RefundPart(b.line_no, b.sku_code, a, b.remaining_qty, b.category_id)
            for b, a in zip(balances, amounts, strict=False)
        ],
    )


def plan_line_refund(
    balances: list[LineBalance],
    requested: list[dict[str, Any]] | None,
    amount_fen: int,
    paid_fen: int,
    refunded_fen: int,
) -> RefundPlan:
    """An after-sales refund: never more than was paid for the named lines (and quantities) minus
    what was already refunded for them, and never more than the order's paid amount left."""
    if paid_fen <= 0:
        raise RefundRefusedError("order_not_paid", "no payment was taken for this order")
    if amount_fen <= 0:
        raise RefundRefusedError("amount_not_positive", "the refund amount must be positive")
    order_left = paid_fen - refunded_fen
    if order_left <= 0:
        raise RefundRefusedError("already_refunded", "everything paid for this order has been refunded already")
    chosen: list[tuple[LineBalance, int]] = []
    if requested:
        wanted: dict[str, int] = {}
        for line in requested:
            wanted[line["sku_code"]] = wanted.get(line["sku_code"], 0) + int(line["quantity"])
        for sku, qty in wanted.items():
            candidates = [b for b in balances if b.sku_code == sku]
            if not candidates:
                raise RefundRefusedError("line_not_in_order", f"{sku} is not a line of this order")
            for b in candidates:
                take = min(qty, b.remaining_qty)
                if take > 0:
                    chosen.append((b, take))
                    qty -= take
            if qty > 0:
                raise RefundRefusedError(
                    "quantity_exceeds_bought", f"{sku}: more units asked than were bought and not yet refunded"
                )
        caps = [b.cap_for(q) for b, q in chosen]
    else:
        chosen = [(b, 0) for b in balances]
        caps = [max(0, b.remaining_fen) for b in balances]
    cap = min(sum(caps), order_left)
    if amount_fen > cap:
        raise RefundRefusedError(
            "amount_exceeds_paid",
            f"asked {amount_fen} fen but at most {cap} fen was paid for these lines and not yet refunded",
        )
    amounts = allocate(amount_fen, caps) if sum(caps) else [0] * len(caps)
    return RefundPlan(
        amount_fen,
        [RefundPart(b.line_no, b.sku_code, a, q, b.category_id) for (b, q), a in zip(chosen, amounts, strict=False)],
    )
