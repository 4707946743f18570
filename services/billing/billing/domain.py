"""billing domain: money rules, webhook signatures, payability, refund caps, commission and settlement
(the sandbox provider's own rules, its test cards and intents, are in sandbox.py).

No Flask, no SQL. Money is integer fen everywhere; nothing here ever uses floats for money.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
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
