"""aftersales domain: cases, complaints, their state machines and SLA clocks. No Flask, no SQL:
everything here is tested with plain values and an explicit `now`. A case walks one of three paths:

    return       requested -> approved -> awaiting_return -> received -> refunding -> closed
    exchange     requested -> approved -> awaiting_return -> received -> reshipped -> closed
    refund_only  requested -> approved -> refunding -> closed
    any          requested -> rejected

`approved -> awaiting_return` when the buyer hands the goods to a carrier, `-> received` when the
warehouse inspected them. A failed refund stays `refunding` (on the timeline) until cs retries it. A
refund above the review threshold is approved twice: `first_approve` keeps it `requested` (decisions.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from ecom_common.clock import aware, parse_iso
from ecom_common.errors import IllegalTransition, RuleViolation


# Vocabulary ------------------------------------------------------------------------------------
class CaseType:
    RETURN = "return"
    EXCHANGE = "exchange"
    REFUND_ONLY = "refund_only"
    ALL = (RETURN, EXCHANGE, REFUND_ONLY)


class Reason:
    QUALITY = "quality"
    WRONG_ITEM = "wrong_item"
    SIZE = "size"
    NOT_AS_DESCRIBED = "not_as_described"
    NO_REASON = "no_reason"
    DAMAGED_IN_TRANSIT = "damaged_in_transit"
    OTHER = "other"
    ALL = (QUALITY, WRONG_ITEM, SIZE, NOT_AS_DESCRIBED, NO_REASON, DAMAGED_IN_TRANSIT, OTHER)
    # The merchant is responsible for these, so the merchant pays the exchange's shipping
    # (BUSINESS-RULES: "the party at fault pays shipping (quality problem: merchant)").
    MERCHANT_FAULT = frozenset({QUALITY, WRONG_ITEM, NOT_AS_DESCRIBED, DAMAGED_IN_TRANSIT})


class Status:
    REQUESTED = "requested"
    APPROVED = "approved"
    REJECTED = "rejected"
    AWAITING_RETURN = "awaiting_return"
    RECEIVED = "received"
    REFUNDING = "refunding"
    RESHIPPED = "reshipped"
    CLOSED = "closed"
    ALL = (REQUESTED, APPROVED, REJECTED, AWAITING_RETURN, RECEIVED, REFUNDING, RESHIPPED, CLOSED)
    FINAL = frozenset({REJECTED, CLOSED})


class Action:
    APPROVE = "approve"
    FIRST_APPROVE = "first_approve"  # the first of two approvals of a large refund: still requested
    REJECT = "reject"
    SHIP_RETURN = "ship_return"  # buyer handed the goods to a carrier
    RECEIVE = "receive"  # warehouse inspected the returned goods
    START_REFUND = "start_refund"  # the refund is asked of billing
    REFUND_FAILED = "refund_failed"  # billing could not refund: stays refunding
    RETRY_REFUND = "retry_refund"  # cs asks billing again
    RESHIP = "reship"  # the replacement of an exchange was dispatched
    CLOSE = "close"  # refund succeeded / replacement delivered


R, E, O = CaseType.RETURN, CaseType.EXCHANGE, CaseType.REFUND_ONLY
S = Status
# (action, current status) -> (case types it applies to, next status)
CASE_TRANSITIONS: dict[tuple[str, str], tuple[frozenset[str], str]] = {
    (Action.APPROVE, S.REQUESTED): (frozenset({R, E, O}), S.APPROVED),
    (Action.REJECT, S.REQUESTED): (frozenset({R, E, O}), S.REJECTED),
    (Action.FIRST_APPROVE, S.REQUESTED): (frozenset({R, O}), S.REQUESTED),  # an exchange refunds nothing
    (Action.SHIP_RETURN, S.APPROVED): (frozenset({R, E}), S.AWAITING_RETURN),
    (Action.RECEIVE, S.AWAITING_RETURN): (frozenset({R, E}), S.RECEIVED),
    (Action.START_REFUND, S.APPROVED): (frozenset({O}), S.REFUNDING),
    (Action.START_REFUND, S.RECEIVED): (frozenset({R}), S.REFUNDING),
    (Action.REFUND_FAILED, S.REFUNDING): (frozenset({R, O}), S.REFUNDING),
    (Action.RETRY_REFUND, S.REFUNDING): (frozenset({R, O}), S.REFUNDING),
    (Action.RESHIP, S.RECEIVED): (frozenset({E}), S.RESHIPPED),
    (Action.CLOSE, S.REFUNDING): (frozenset({R, O}), S.CLOSED),
    (Action.CLOSE, S.RESHIPPED): (frozenset({E}), S.CLOSED),
}
del R, E, O, S


def next_status(case_type: str, status: str, action: str) -> str:
    """The status `action` leads to from `status`, or IllegalTransition (-> 409)."""
    rule = CASE_TRANSITIONS.get((action, status))
    if rule is None or case_type not in rule[0]:
        raise IllegalTransition(f"{case_type} case", status, action.replace("_", " "))
    return rule[1]


def allowed_actions(case_type: str, status: str) -> list[str]:
    asked = [a for (a, s), (types, _) in CASE_TRANSITIONS.items() if s == status and case_type in types]
    return [a for a in asked if a != Action.FIRST_APPROVE]  # what `approve` does to a large refund


# Settings --------------------------------------------------------------------------------------
def parse_periods(raw: str) -> tuple[tuple[datetime, datetime], ...]:
    """ "2026-11-01T00:00:00Z/2026-11-12T00:00:00Z,..." -> ((start, end), ...)."""
    out = []
    for part in (raw or "").split(","):
        part = part.strip()
        if not part:
            continue
        start, _, end = part.partition("/")
        out.append((_time(start), _time(end)))
    return tuple(out)


def _time(value: str) -> datetime:
    at: datetime | None = parse_iso(value.strip())
    if at is None:
        raise ValueError("a time is missing")
    return at


@dataclass(frozen=True)
class Policy:
    """Every figure of the after-sales SOP (settings.Settings.policy reads them from AFTERSALES_*)."""

    auto_approve_below_fen: int = 5000
    no_reason_days: int = 7
    response_hours: float = 24
    refund_hours: float = 24
    promo_refund_hours: float = 48
    refund_only_hours: float = 48
    reship_hours: float = 24
    promotion_periods: tuple[tuple[datetime, datetime], ...] = ()
    complaint_general_hours: float = 2
    complaint_serious_hours: float = 4
    complaint_crisis_hours: float = 24
    return_addresses: dict[str, str] = field(default_factory=dict)
    default_return_address: str = ""

    def in_promotion(self, at: datetime) -> bool:
        # A time read back from SQLite has no zone: it is UTC, as every stored time.
        at = at if at.tzinfo is not None else at.replace(tzinfo=UTC)
        return any(start <= at < end for start, end in self.promotion_periods)

    def return_address(self, shop_id: str) -> str:
        return self.return_addresses.get(shop_id) or self.default_return_address


# The order as orders reports it ----------------------------------------------------------------
PRE_SHIPMENT = frozenset({"paid", "awaiting_stock", "on_hold", "awaiting_shipment"})
AFTER_DELIVERY = frozenset({"delivered", "completed"})


@dataclass(frozen=True)
class OrderLine:
    sku_code: str
    quantity: int
    unit_price_fen: int
    # What was paid for this SKU's units (summed over lines): each line's paid_fen, i.e. its price
    # less its share of the order's 满减, coupons and points, as orders apportioned them.
    cap_fen: int
    no_7day_return: bool = False  # custom-made or fresh goods (catalog's flag, kept by orders)

    def paid_for(self, quantity: int) -> int:
        """What `quantity` of these units paid: all of it for every unit; else the proportional
        share, rounded down (so that returns of the units one by one never add up to more than the
        line paid). The pricing is never run again for a refund."""
        if quantity >= self.quantity:
            return self.cap_fen
        return self.cap_fen * quantity // self.quantity


@dataclass(frozen=True)
class OrderView:
    order_id: str
    shop_id: str
    buyer_id: str
    status: str
    lines: tuple[OrderLine, ...]
    payable_fen: int
    delivered_at: datetime | None = None
    # The receiver's phone, as orders shows it to a service (full) or to others (masked).
    phone: str | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> OrderView:
        """Read the order of `GET orders /api/v1/orders/{id}`; lines of one SKU are summed."""
        by_sku: dict[str, list[int]] = {}
        special = {l["sku_code"] for l in data.get("lines") or [] if l.get("no_7day_return")}
        for line in data.get("lines") or []:
            qty = int(line["quantity"])
            unit = int(line.get("unit_price_fen") or 0)
            agg = by_sku.setdefault(line["sku_code"], [0, 0, unit])
            agg[0] += qty
            paid = line.get("paid_fen")  # orders placed before marketing priced them paid unit x qty
            agg[1] += int(paid) if paid is not None else unit * qty
        lines = tuple(OrderLine(sku, q, unit, cap, sku in special) for sku, (q, cap, unit) in by_sku.items())
        payable = data.get("payable_fen")
        if payable is None:
            payable = (data.get("totals") or {}).get("payable_fen")
        delivered = data.get("delivered_at")
        return cls(
            order_id=str(data.get("order_id") or data.get("id")),
            shop_id=str(data["shop_id"]),
            buyer_id=str(data.get("buyer_id") or ""),
            status=str(data["status"]),
            lines=lines,
            payable_fen=int(payable) if payable is not None else sum(l.cap_fen for l in lines),
            delivered_at=_time(delivered) if isinstance(delivered, str) and delivered else None,
            phone=_phone(data.get("address")),
        )

    def line(self, sku_code: str) -> OrderLine | None:
        return next((l for l in self.lines if l.sku_code == sku_code), None)


def _phone(address: Any) -> str | None:
    phone = address.get("phone") if isinstance(address, dict) else None
    return str(phone) if phone else None


# Opening a case --------------------------------------------------------------------------------
@dataclass(frozen=True)
class RequestedLine:
    sku_code: str
    quantity: int
    new_sku_code: str | None = None


@dataclass(frozen=True)
class CaseRequest:
    """What a buyer asks for (`POST /cases`), before it is checked against the order. `lines` may be
    empty for a refund-only before shipment (the whole order); `amount_fen` None: what was paid."""

    case_type: str
    reason: str
    lines: Sequence[RequestedLine] = ()
    amount_fen: int | None = None


@dataclass(frozen=True)
class CaseLine:
    sku_code: str
    quantity: int
    unit_price_fen: int
    amount_fen: int  # this line's share of the case amount
    cap_fen: int  # what was paid for all bought units of this SKU (claims ceiling)
    bought_quantity: int
    new_sku_code: str | None = None


@dataclass(frozen=True)
class CaseDraft:
    """A request that passed every rule that can be checked against the order alone. Whether the
    units and money are still unclaimed by other cases is settled in the database (claims)."""

    case_type: str
    reason: str
    order: OrderView
    lines: tuple[CaseLine, ...]
    amount_fen: int
    before_shipment: bool
    auto_approve: bool
    shipping_paid_by: str | None


def allocate(amount: int, caps: list[int]) -> list[int]:
    """Split `amount` over lines in proportion to their caps, never above a line's cap; the shares
    add up to `amount` exactly (largest remainder). Requires amount <= sum(caps)."""
    total = sum(caps)
    if amount > total:
        raise ValueError("amount above the caps")
    if total == 0:
        return [0 for _ in caps]
    shares = [amount * c // total for c in caps]
    rest = amount - sum(shares)
    order = sorted(range(len(caps)), key=lambda i: (-(amount * caps[i] % total), i))
    while rest:
        for i in order:
            if rest and shares[i] < caps[i]:
                shares[i] += 1
                rest -= 1
    return shares


def shipping_paid_by(reason: str) -> str:
    return "merchant" if reason in Reason.MERCHANT_FAULT else "buyer"


def auto_approves(case_type: str, amount_fen: int, policy: Policy) -> bool:
    """A refund without return below the threshold (default 50 yuan) needs no human."""
    return case_type == CaseType.REFUND_ONLY and amount_fen < policy.auto_approve_below_fen


def draft_case(order: OrderView, request: CaseRequest, now: datetime, policy: Policy) -> CaseDraft:
    """Check a buyer's request against the order (status, lines, quantities, amount, the
    no-reason window) and price it. Raises RuleViolation (-> 422) naming the field."""
    case_type, reason, amount_fen = request.case_type, request.reason, request.amount_fen
    lines = list(request.lines)
    before_shipment = order.status in PRE_SHIPMENT
    if before_shipment and case_type != CaseType.REFUND_ONLY:
        raise RuleViolation(
            f"a {case_type} needs the goods: the order is {order.status}, not yet delivered",
            {"type": ["Before shipment only refund_only is possible (it cancels the order)."]},
        )
    if not before_shipment and order.status not in AFTER_DELIVERY:
        raise RuleViolation(
            f"the order is {order.status}: after-sales needs a delivered or completed order",
            {"order_id": [f"Order status {order.status} is not eligible."]},
        )

    if before_shipment:
        # The whole order is cancelled and refunded in full, so the case covers every line.
        wanted = [RequestedLine(l.sku_code, l.quantity) for l in order.lines]
        if lines:
            asked = {(l.sku_code, l.quantity) for l in lines}
            if asked != {(l.sku_code, l.quantity) for l in order.lines}:
                raise RuleViolation(
                    "before shipment the whole order is cancelled: ask for every line or omit lines",
                    {"lines": ["Before shipment a refund covers the whole order."]},
                )
        if amount_fen is not None and amount_fen != order.payable_fen:
            raise RuleViolation(
                "before shipment the refund is what was paid for the order",
                {"amount_fen": [f"Must be {order.payable_fen} (the order's payable) or omitted."]},
            )
        lines = wanted
    elif not lines:
        raise RuleViolation(
            "say which lines and quantities the case is about", {"lines": ["At least one line is required."]}
        )

    errors: dict[str, list[str]] = {}
    seen: set[str] = set()
    priced: list[tuple[RequestedLine, OrderLine]] = []
    for i, req in enumerate(lines):
        ol = order.line(req.sku_code)
        if ol is None:
            errors[f"lines.{i}.sku_code"] = [f"{req.sku_code} is not in order {order.order_id}."]
            continue
        if req.sku_code in seen:
            errors[f"lines.{i}.sku_code"] = ["Each SKU at most once."]
            continue
        seen.add(req.sku_code)
        if req.quantity > ol.quantity:
            errors[f"lines.{i}.quantity"] = [f"At most {ol.quantity} were bought."]
        if case_type == CaseType.EXCHANGE and not req.new_sku_code:
            errors[f"lines.{i}.new_sku_code"] = ["An exchange needs the new spec (sku_code)."]
        if case_type != CaseType.EXCHANGE and req.new_sku_code:
            errors[f"lines.{i}.new_sku_code"] = ["Only an exchange has a new spec."]
        priced.append((req, ol))
    if errors:
        raise RuleViolation("the lines do not match the order", errors)

    caps = [ol.paid_for(req.quantity) for req, ol in priced]
    if case_type == CaseType.EXCHANGE:
        if amount_fen:
            raise RuleViolation(
                "an exchange refunds nothing", {"amount_fen": ["Must be 0 or omitted for an exchange."]}
            )
        amount = 0
    else:
        amount = sum(caps) if amount_fen is None else amount_fen
        if amount > sum(caps):
            raise RuleViolation(
                "the amount is above what was paid for these lines",
                {"amount_fen": [f"At most {sum(caps)} (what these units paid)."]},
            )
        if amount > order.payable_fen:
            raise RuleViolation(
                "the amount is above what was paid for the order", {"amount_fen": [f"At most {order.payable_fen}."]}
            )
        if amount <= 0:
            raise RuleViolation("a refund needs an amount", {"amount_fen": ["Must be above 0."]})

    if reason == Reason.NO_REASON and not before_shipment:
        if order.delivered_at is None:
            raise RuleViolation(
                "the delivery time is unknown, so a no-reason return cannot be checked",
                {"reason": ["no_reason needs a delivered order."]},
            )
        if now > order.delivered_at + timedelta(days=policy.no_reason_days):
            raise RuleViolation(
                f"no-reason returns are only possible within {policy.no_reason_days} days of delivery",
                {"reason": [f"The {policy.no_reason_days}-day no-reason window has passed."]},
            )
        special = {
            f"lines.{i}.sku_code": ["不支持七天无理由退货"] for i, (_, ol) in enumerate(priced) if ol.no_7day_return
        }
        if special:
            raise RuleViolation(
                "custom-made or fresh goods cannot be returned without a reason; name the problem", special
            )

    shares = allocate(amount, caps)
    case_lines = tuple(
        CaseLine(
            sku_code=req.sku_code,
            quantity=req.quantity,
            unit_price_fen=ol.unit_price_fen,
            amount_fen=share,
            cap_fen=ol.cap_fen,
            bought_quantity=ol.quantity,
            new_sku_code=req.new_sku_code,
        )
        for (req, ol), share in zip(priced, shares, strict=False)
    )
    return CaseDraft(
        case_type=case_type,
        reason=reason,
        order=order,
        lines=case_lines,
        amount_fen=amount,
        before_shipment=before_shipment,
        auto_approve=auto_approves(case_type, amount, policy),
        shipping_paid_by=shipping_paid_by(reason) if case_type == CaseType.EXCHANGE else None,
    )


# Case SLA clock --------------------------------------------------------------------------------
class SlaKind:
    RESPONSE = "response"  # cs approves or rejects
    REFUND = "refund"  # the money reaches the buyer
    RESHIP = "reship"  # the replacement leaves the warehouse


def case_sla(
    case_type: str, status: str, since: datetime, policy: Policy, received_at: datetime | None = None
) -> tuple[str | None, datetime | None]:
    """(kind, due_at) of the clock that runs in `status`, entered at `since`; (None, None) while the
    case waits on the buyer or a carrier, or is final.

    A return's refund is due within 24 h of receipt (48 h when received during a promotion period);
    a refund without return within 48 h of approval; a replacement within 24 h of receipt.
    """
    if status == Status.REQUESTED:
        return SlaKind.RESPONSE, since + timedelta(hours=policy.response_hours)
    if case_type == CaseType.RETURN and status in (Status.RECEIVED, Status.REFUNDING):
        start = received_at or since
        hours = policy.promo_refund_hours if policy.in_promotion(start) else policy.refund_hours
        return SlaKind.REFUND, start + timedelta(hours=hours)
    if case_type == CaseType.REFUND_ONLY and status in (Status.APPROVED, Status.REFUNDING):
        return SlaKind.REFUND, since + timedelta(hours=policy.refund_only_hours)
    if case_type == CaseType.EXCHANGE and status == Status.RECEIVED:
        return SlaKind.RESHIP, since + timedelta(hours=policy.reship_hours)
    return None, None


def time_left(due_at: datetime | None, now: datetime) -> dict[str, Any]:
    due = aware(due_at)
    if due is None:
        return {"due_at": None, "seconds_left": None, "overdue": False}
    left = (due - now).total_seconds()
    return {"due_at": due, "seconds_left": int(left), "overdue": left < 0}


# Complaints ------------------------------------------------------------------------------------
class Tier:
    GENERAL = "general"  # e.g. late delivery: first response within 2 h
    SERIOUS = "serious"  # e.g. quality: a solution within 4 h
    CRISIS = "crisis"  # media, safety: admin at once, a public statement within 24 h
    ALL = (GENERAL, SERIOUS, CRISIS)


class ComplaintStatus:
    OPEN = "open"
    RESPONDED = "responded"
    RESOLVED = "resolved"
    ALL = (OPEN, RESPONDED, RESOLVED)


COMPLAINT_TRANSITIONS = {
    ("respond", ComplaintStatus.OPEN): ComplaintStatus.RESPONDED,
    ("respond", ComplaintStatus.RESPONDED): ComplaintStatus.RESPONDED,  # follow-ups
    ("resolve", ComplaintStatus.OPEN): ComplaintStatus.RESOLVED,
    ("resolve", ComplaintStatus.RESPONDED): ComplaintStatus.RESOLVED,
}

# What each tier's clock waits for: the first response, a solution, a (public) statement.
COMPLAINT_MILESTONE = {Tier.GENERAL: "first_response", Tier.SERIOUS: "solution", Tier.CRISIS: "statement"}


def complaint_next(status: str, action: str) -> str:
    nxt = COMPLAINT_TRANSITIONS.get((action, status))
    if nxt is None:
        raise IllegalTransition("complaint", status, action)
    return nxt


def complaint_due(tier: str, created_at: datetime, policy: Policy) -> datetime:
    hours = {
        Tier.GENERAL: policy.complaint_general_hours,
        Tier.SERIOUS: policy.complaint_serious_hours,
        Tier.CRISIS: policy.complaint_crisis_hours,
    }[tier]
    return created_at + timedelta(hours=hours)


def meets_milestone(tier: str, action: str) -> bool:
    """Does this cs action stop the tier's clock? A solution is a resolution; a first response or a
    statement is any response (a resolution included)."""
    if tier == Tier.SERIOUS:
        return action == "resolve"
    return action in ("respond", "resolve")


def breached(due_at: datetime, met_at: datetime | None, now: datetime) -> bool:
    due = aware(due_at)
    return met_at is None and due is not None and now > due


# Feedback --------------------------------------------------------------------------------------
def check_feedback_allowed(status: str) -> None:
    if status not in Status.FINAL:
        raise IllegalTransition("case", status, "give feedback on")
