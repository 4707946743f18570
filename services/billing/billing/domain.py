"""billing domain: money rules, webhook signatures, payability, refund caps, commission and settlement
(the sandbox provider's own rules, its test cards and intents, are in sandbox.py).

No Flask, no SQL. Money is integer fen everywhere; nothing here ever uses floats for money.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from ecom_common.errors import BadRequest as _BadRequestProblem
from ecom_common.errors import ConflictError, DomainError, IllegalTransition, RuleViolation
from ecom_common.errors import NotFound as _NotFoundProblem
from ecom_common.errors import Unauthorized as _UnauthorizedProblem

METHODS = ("alipay", "wechat", "unionpay", "card")
WALLETS = ("alipay", "wechat", "unionpay")
BPS = 10_000  # basis points in 100%


# Ids (ecom_common.ids.new_id) ---------------------------------------------------------------------
PAYMENT_ID, REFUND_ID, SETTLEMENT_ID, PAYOUT_ID, RUN_ID = "P", "R", "ST", "PO", "run"
INTENT_ID, PROVIDER_REFUND_ID, PROVIDER_EVENT_ID = "pi_", "re_", "evt_"  # the sandbox provider's own


# Errors ------------------------------------------------------------------------------------------
class UnknownOrderError(DomainError):
    """Missing, or another buyer's: indistinguishable on purpose."""

    problem = _NotFoundProblem


class NotPayableError(ConflictError):
    """The order cannot take a payment now (cancelled, paid, a payment already running)."""


class RefundRefusedError(RuleViolation):
    def __init__(self, code: str, detail: str):
        super().__init__(detail, {"refund": [code]})
        self.code = code


# Orders as billing sees them ---------------------------------------------------------------------
@dataclass(frozen=True)
class OrderFacts:
    """What orders answers over HTTP, reduced to what a payment needs."""

    order_id: str
    shop_id: str
    buyer_id: str
    status: str
    payable_fen: int

    @classmethod
    def from_orders_api(cls, data: dict[str, Any]) -> OrderFacts:
        totals: dict[str, Any] = data.get("totals") or {}
        payable: Any = data.get("payable_fen", totals.get("payable_fen"))
        return cls(
            order_id=str(data.get("order_id") or data.get("id")),
            shop_id=str(data.get("shop_id")),
            buyer_id=str(data.get("buyer_id")),
            status=str(data.get("status")),
            payable_fen=int(payable),
        )


@dataclass(frozen=True)
class OrderCopy:
    """What billing keeps of an order: from orders' events or from orders' answer to POST /payments,
    whichever comes first (a later one completes what the first left out)."""

    order_id: str
    shop_id: str
    buyer_id: str | None
    payable_fen: int
    lines: list[dict[str, Any]] | None = None
    placed_at: datetime | None = None
    discounts: list[dict[str, Any]] | None = None  # orders' discount rows (line, source, funded_by, ...)

    @classmethod
    def from_event(cls, payload: dict[str, Any], placed_at: datetime | None = None) -> OrderCopy:
        return cls(
            order_id=payload["order_id"],
            shop_id=payload["shop_id"],
            buyer_id=payload.get("buyer_id"),
            payable_fen=int(payload.get("payable_fen") or 0),
            lines=payload.get("lines"),
            placed_at=placed_at,
            discounts=payload.get("discounts"),
        )


def check_payable(order: OrderFacts, buyer_id: str, amount_fen: int | None, billing_knows_cancelled: bool) -> int:
    """The amount to charge, or why the order cannot be paid. Orders' answer is authoritative for
    status and amount; billing's own knowledge of a cancellation is respected too (events may be
    ahead of a stale read)."""
    if order.buyer_id != buyer_id:
        raise UnknownOrderError("order not found")
    if billing_knows_cancelled or order.status == "cancelled":
        raise NotPayableError("the order is cancelled and cannot be paid", {"order_id": ["cancelled"]})
    if order.status != "pending_payment":
        raise NotPayableError(f"the order is {order.status}, not pending_payment", {"order_id": [order.status]})
    if order.payable_fen <= 0:
        raise RuleViolation("the order has nothing to pay", {"order_id": ["payable is 0"]})
    if amount_fen is not None and amount_fen != order.payable_fen:
        raise RuleViolation(
            f"amount_fen {amount_fen} does not match the order's payable amount {order.payable_fen}",
            {"amount_fen": [f"must equal the payable amount {order.payable_fen}"]},
        )
    return order.payable_fen


@dataclass(frozen=True)
class ProviderOutcome:
    """What the provider decided for a payment (its webhook)."""

    succeeded: bool
    failure_code: str | None = None
    failure_message: str | None = None


@dataclass(frozen=True)
class WebhookEvent:
    """A provider event as billing receives it: its id (unique: a replay changes nothing), the
    payment it is about, and the outcome (None for an event type billing does not act on)."""

    event_id: str
    event_type: str
    intent_id: str
    payment_id: str
    outcome: ProviderOutcome | None

    @classmethod
    def of(cls, event: dict[str, Any]) -> WebhookEvent:
        intent = event["data"]["object"]
        succeeded = {"payment_intent.succeeded": True, "payment_intent.payment_failed": False}.get(event["type"])
        outcome = None
        if succeeded is not None:
            outcome = ProviderOutcome(succeeded, intent.get("failure_code"), intent.get("failure_message"))
        return cls(event["id"], event["type"], intent["id"], intent["reference"], outcome)


@dataclass(frozen=True)
class Charge:
    """What a payment asks the provider to take: the order's payable amount, by one method."""

    order_id: str
    amount_fen: int
    method: str
    card_number: str | None = None


# Payment state machine ----------------------------------------------------------------------
class PaymentStatus:
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    ACTIVE = (PENDING, SUCCEEDED)  # at most one of these per order


PAYMENT_TRANSITIONS = {
    PaymentStatus.PENDING: {PaymentStatus.SUCCEEDED, PaymentStatus.FAILED},
    PaymentStatus.SUCCEEDED: set(),
    PaymentStatus.FAILED: set(),
}


def check_payment_transition(current: str, target: str) -> None:
    if target not in PAYMENT_TRANSITIONS.get(current, set()):
        raise IllegalTransition("payment", current, f"mark {target}")


def luhn_ok(number: str) -> bool:
    if not number.isdigit() or not 12 <= len(number) <= 19:
        return False
    total = 0
    for i, ch in enumerate(reversed(number)):
        d = int(ch)
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


# Webhook signatures --------------------------------------------------------------------------------
class SignatureError(DomainError):
    """A webhook whose signature header is missing/garbled (400) or does not verify (401)."""

    def __init__(self, detail: str, malformed: bool = False):
        super().__init__(detail, {"X-Sandbox-Signature": [detail]})
        self.problem = _BadRequestProblem if malformed else _UnauthorizedProblem


SIGNATURE_HEADER = "X-Sandbox-Signature"


def signature_for(secret: str, body: bytes, timestamp: int) -> str:
    signed = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The header value the provider sends: `t=<unix seconds>,v1=<hex HMAC-SHA256 of "t.body">`."""
    return f"t={timestamp},v1={signature_for(secret, body, timestamp)}"


def verify_signature(secret: str, body: bytes, header: str | None, now_ts: float, tolerance_s: float) -> int:
    """Check the header against the raw body; returns the signed timestamp. The timestamp is inside
    the MAC, so an old captured request cannot be replayed outside the tolerance window (and inside
    it, the provider event id makes it a no-op)."""
    if not header:
        raise SignatureError("missing signature header", malformed=True)
    parts: dict[str, list[str]] = {}
    for item in header.split(","):
        key, sep, value = item.strip().partition("=")
        if not sep:
            raise SignatureError("signature header is not t=<ts>,v1=<hex>", malformed=True)
        parts.setdefault(key, []).append(value)
    try:
        ts = int(parts["t"][0])
    except (KeyError, ValueError):
        raise SignatureError("signature header has no valid timestamp", malformed=True) from None
    candidates = parts.get("v1") or []
    if not candidates:
        raise SignatureError("signature header has no v1 signature", malformed=True)
    expected = signature_for(secret, body, ts)
    # Several v1 values are allowed (secret rotation); compare each in constant time.
    if not any(hmac.compare_digest(expected, c) for c in candidates):
        raise SignatureError("signature does not match the body")
    if abs(now_ts - ts) > tolerance_s:
        raise SignatureError("signature timestamp outside the tolerance window")
    return ts


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


# Commission ---------------------------------------------------------------------------------------
def commission_fen(amount_fen: int, rate_bps: int) -> int:
    """Commission on an amount at a rate in basis points, rounded half up (half away from zero)."""
    if rate_bps < 0 or rate_bps > BPS:
        raise ValueError("rate must be between 0 and 10000 bps")
    sign = -1 if amount_fen < 0 else 1
    return sign * ((abs(amount_fen) * rate_bps + BPS // 2) // BPS)


@dataclass(frozen=True)
class CommissionLine:
    line_no: int
    category_id: str | None
    net_fen: int
    rate_bps: int
    commission_fen: int


def commission_for(
    lines: list[tuple[int, str | None, int]], rates: dict[str, int], default_bps: int
) -> list[CommissionLine]:
    """Per line (line_no, category_id, net paid and not refunded): the category's rate or the default."""
    out = []
    for line_no, category, net in lines:
        bps = rates.get(category, default_bps) if category else default_bps
        out.append(CommissionLine(line_no, category, net, bps, commission_fen(max(0, net), bps)))
    return out


# Settlement -----------------------------------------------------------------------------------------
def settlement_due_at(completed_at: datetime, days: float) -> datetime:
    """T+N: a completed order is settled N days after completion."""
    return completed_at + timedelta(days=days)


def is_due(due_at: datetime, now: datetime) -> bool:
    return due_at <= now


# The merchant ledger --------------------------------------------------------------------------------
class EntryKind:
    """Entries are what the platform owes the shop: payments in, refunds, commission and payouts out.
    The balance is their sum; a fully settled order nets to zero."""

    PAYMENT = "payment"
    REFUND = "refund"
    COMMISSION = "commission"
    COMMISSION_REVERSAL = "commission_reversal"  # commission given back on a refund after settlement
    # Coupons the platform funds are paid to the shop by the platform at settlement (the buyer paid
    # less, the shop is owed the full price); a refund after settlement takes its part back.
    PLATFORM_SUBSIDY = "platform_subsidy"
    SUBSIDY_REVERSAL = "subsidy_reversal"
    PAYOUT = "payout"

    SIGN = {
        PAYMENT: 1,
        REFUND: -1,
        COMMISSION: -1,
        COMMISSION_REVERSAL: 1,
        PLATFORM_SUBSIDY: 1,
        SUBSIDY_REVERSAL: -1,
        PAYOUT: -1,
    }
    ALL = tuple(SIGN)


@dataclass(frozen=True)
class Booking:
    """One ledger entry to append: a non-negative magnitude, the kind gives the sign."""

    shop_id: str
    kind: str
    magnitude_fen: int
    ref_id: str
    order_id: str | None = None
    memo: str | None = None
    detail: dict[str, Any] | None = None


def entry_amount(kind: str, magnitude_fen: int) -> int:
    if magnitude_fen < 0:
        raise ValueError("ledger magnitudes are non-negative; the kind gives the sign")
    return EntryKind.SIGN[kind] * magnitude_fen


def balance(amounts: list[int]) -> int:
    return sum(amounts)


def payout_amount(unpaid_released: list[int]) -> int | None:
    """What a payout pays for released entries not yet paid out; None when they do not add up to
    more than zero (refunds after settlement exceed new income): carried to the next run."""
    total = sum(unpaid_released)
    return total if total > 0 else None
