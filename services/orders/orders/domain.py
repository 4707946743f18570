"""orders domain: the order's state machine, pricing, addresses and the audit rules. No Flask, no SQL.

Everything here is a plain function or value object so that the rules can be tested exhaustively
without a database; operations.py applies the results with conditional updates.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timedelta
from typing import Any

from ecom_common.errors import IllegalTransition, RuleViolation
from ecom_common.privacy import mask_name, mask_phone, scrub

# Statuses (CONTRACTS.md "Order statuses") --------------------------------------------------------
PENDING_PAYMENT = "pending_payment"
PAID = "paid"
AWAITING_STOCK = "awaiting_stock"
ON_HOLD = "on_hold"
AWAITING_SHIPMENT = "awaiting_shipment"
SHIPPED = "shipped"
DELIVERED = "delivered"
COMPLETED = "completed"
CANCELLED = "cancelled"

STATUSES = (PENDING_PAYMENT, PAID, AWAITING_STOCK, ON_HOLD, AWAITING_SHIPMENT, SHIPPED, DELIVERED, COMPLETED, CANCELLED)
FINAL = (COMPLETED, CANCELLED)
# Everything before the parcel leaves the warehouse: the order can still be cancelled.
BEFORE_SHIPMENT = (PENDING_PAYMENT, PAID, AWAITING_STOCK, ON_HOLD, AWAITING_SHIPMENT)

# The tabs ops sees (BUSINESS-RULES.md "Orders"), in display order.
TABS = (
    ("to_pay", "待付款", (PENDING_PAYMENT,)),
    ("to_ship", "待发货", (PAID, AWAITING_STOCK, ON_HOLD, AWAITING_SHIPMENT)),
    ("to_receive", "待收货", (SHIPPED, DELIVERED)),
    ("completed", "已完成", (COMPLETED,)),
)


class Action:
    """What can happen to an order. Each action is allowed only from the statuses in TRANSITIONS."""

    PAY = "pay"  # billing.PaymentSucceeded
    WAIT_FOR_STOCK = "wait_for_stock"  # inventory.StockShortage, policy wait (presale)
    PASS_AUDIT = "pass_audit"  # inventory.StockReserved + audit passed
    HOLD = "hold"  # inventory.StockReserved + audit held
    APPROVE = "approve"  # ops review
    REJECT = "reject"  # ops review
    CANCEL = "cancel"  # buyer, ops, after-sales request, shortage policy cancel
    CLOSE_UNPAID = "close_unpaid"  # unpaid timeout job
    SHIP = "ship"  # logistics.ShipmentDispatched
    DELIVER = "deliver"  # logistics.ShipmentDelivered
    COMPLETE = "complete"  # buyer confirms receipt or auto-confirm
    READDRESS_HOLD = "readdress_hold"  # an audited order's new address fails the audit


# action -> (statuses it may start from, status it leads to)
TRANSITIONS: dict[str, tuple[tuple[str, ...], str]] = {
    Action.PAY: ((PENDING_PAYMENT,), PAID),
    Action.WAIT_FOR_STOCK: ((PAID,), AWAITING_STOCK),
    Action.PASS_AUDIT: ((PAID, AWAITING_STOCK), AWAITING_SHIPMENT),
    Action.HOLD: ((PAID, AWAITING_STOCK), ON_HOLD),
    Action.APPROVE: ((ON_HOLD,), AWAITING_SHIPMENT),
    Action.REJECT: ((ON_HOLD,), CANCELLED),
    Action.CANCEL: (BEFORE_SHIPMENT, CANCELLED),
    Action.CLOSE_UNPAID: ((PENDING_PAYMENT,), CANCELLED),
    Action.SHIP: ((AWAITING_SHIPMENT,), SHIPPED),
    Action.DELIVER: ((SHIPPED,), DELIVERED),
    Action.COMPLETE: ((DELIVERED,), COMPLETED),
    Action.READDRESS_HOLD: ((AWAITING_SHIPMENT,), ON_HOLD),
}


def next_status(current: str, action: str) -> str:
    """The status `action` leads to from `current`; IllegalTransition (-> 409) if not allowed."""
    if action not in TRANSITIONS:
        raise ValueError(f"unknown action {action!r}")
    sources, target = TRANSITIONS[action]
    if current not in sources:
        raise IllegalTransition("order", current, action.replace("_", " "))
    return target


def can(current: str, action: str) -> bool:
    return current in TRANSITIONS[action][0]


def tab_of(status: str) -> str | None:
    for key, _label, statuses in TABS:
        if status in statuses:
            return key
    return None


# Addresses -----------------------------------------------------------------------------------------
ADDRESS_FIELDS = ("name", "phone", "province", "city", "district", "street", "detail")


@dataclass(frozen=True)
class Address:
    name: str
    phone: str
    province: str
    city: str
    district: str = ""
    street: str = ""
    detail: str = ""

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Address:
        return cls(**{k: (data.get(k) or "").strip() for k in ADDRESS_FIELDS})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def masked(self) -> dict[str, Any]:
        """For lists, events and logs: the region stays (carriers and reports need it), the person
        and the house number do not."""
        return {
            "name": mask_name(self.name),
            "phone": mask_phone(self.phone),
            "province": self.province,
            "city": self.city,
            "district": self.district,
            "street": self.street,
            "detail": "****" if self.detail else "",
        }

    def missing_parts(self) -> list[str]:
        return [k for k in ("province", "city", "district", "street", "detail") if not getattr(self, k)]


# Finding an order by the receiver's phone -----------------------------------------------------------
_FULLWIDTH = str.maketrans("０１２３４５６７８９", "0123456789")


def phone_digits(phone: str | None) -> str:
    """The number's digits, ASCII, without a +86 / 0086 / 86 prefix on a mainland mobile number:
    `+86 138-1234-5678` and `１３８１２３４５６７８` are both `13812345678`."""
    digits = "".join(ch for ch in (phone or "").translate(_FULLWIDTH) if ch.isdigit() and ch.isascii())
    for prefix in ("0086", "86"):
        rest = digits[len(prefix) :]
        if digits.startswith(prefix) and len(rest) == 11 and rest.startswith("1"):
            return rest
    return digits


def phone_last4(phone: str | None) -> str:
    """What a buyer on the phone reads out (尾号): the number's last four digits."""
    return phone_digits(phone)[-4:]


def phone_digest(key: bytes, phone: str | None) -> str:
    """A keyed hash (HMAC-SHA256) of the number's digits: the order can be found by the full number
    without a plain-text search over phones, and the stored value says nothing without the key."""
    return hmac.new(key, phone_digits(phone).encode(), hashlib.sha256).hexdigest()


# Audit rules ----------------------------------------------------------------------------------------
class HoldReason:
    AMOUNT_OVER_LIMIT = "amount_over_limit"  # payable above the manual-review threshold
    VAGUE_ADDRESS = "vague_address"  # missing street/detail or house number, or only a front desk
    REPEAT_PHONE = "repeat_phone"  # the same phone placed several orders in a short window
    BUYER_NOTE = "buyer_note"  # the note asks for something (加急, 指定时间, ...)
    # Orders that do not qualify for auto-pass and are not clear holds either, when the shop reviews
    # such "middle" orders by hand (auto_pass_middle = false):
    MIDDLE_AMOUNT = "middle_amount"
    REMOTE_REGION = "remote_region"
    PRESALE = "presale"

    ALL = (AMOUNT_OVER_LIMIT, VAGUE_ADDRESS, REPEAT_PHONE, BUYER_NOTE, MIDDLE_AMOUNT, REMOTE_REGION, PRESALE)


DEFAULT_REMOTE_REGIONS = ("新疆", "西藏", "内蒙古")


@dataclass(frozen=True)
class AuditRules:
    """Per-shop audit rules; the defaults are the seed rules of the SOP (BUSINESS-RULES.md)."""

    auto_pass_max_fen: int = 50_000  # <= 500 yuan passes automatically (other conditions met)
    hold_above_fen: int = 500_000  # > 5000 yuan is always reviewed by hand
    # SOP: auto-pass ONLY <= 500 yuan, not remote, not presale; anything else waits for a person.
    auto_pass_middle: bool = False  # true: orders between the thresholds (or remote / presale) pass too
    remote_regions: tuple[str, ...] = DEFAULT_REMOTE_REGIONS
    # Places where a parcel is left with whoever is at the door, not with the receiver. A parcel locker
    # or a station (快递柜, 驿站) is not one: the receiver collects there with a code.
    front_desk_keywords: tuple[str, ...] = ("公司前台", "前台", "门卫", "传达室", "收发室")
    repeat_phone_count: int = 3  # this many orders from one phone ...
    repeat_phone_window_minutes: int = 60  # ... within this window -> hold
    note_hold_keywords: tuple[str, ...] = ("加急", "指定时间", "指定日期", "改地址", "修改地址", "发票")
    priority_keywords: tuple[str, ...] = ("加急", "指定时间")

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for k, v in out.items():
            if isinstance(v, tuple):
                out[k] = list(v)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None, base: AuditRules | None = None) -> AuditRules:
        """`data` over `base` (default: the seed rules); unknown keys are ignored."""
        base = base or cls()
        known = {f.name for f in fields(cls)}
        values = base.to_dict()
        values.update({k: v for k, v in (data or {}).items() if k in known and v is not None})
        for k, v in values.items():
            if isinstance(v, list):
                values[k] = tuple(str(x).strip() for x in v if str(x).strip())
        rules = cls(**values)
        rules.check()
        return rules

    def check(self) -> None:
        errors: dict[str, list[str]] = {}
        if self.auto_pass_max_fen < 0:
            errors["auto_pass_max_fen"] = ["Must be at least 0."]
        if self.hold_above_fen < self.auto_pass_max_fen:
            errors["hold_above_fen"] = ["Must be at least auto_pass_max_fen."]
        if self.repeat_phone_count < 2:
            errors["repeat_phone_count"] = ["Must be at least 2 (one order is never a repeat)."]
        if self.repeat_phone_window_minutes < 1:
            errors["repeat_phone_window_minutes"] = ["Must be at least 1."]
        if errors:
            raise RuleViolation("the audit rules are not consistent", errors)


@dataclass(frozen=True)
class AuditFacts:
    """What the audit looks at, gathered by the caller."""

    payable_fen: int
    address: Address
    note: str
    presale: bool
    # Orders from the same receiver phone in this shop within the rules' window, this one included.
    same_phone_orders: int


@dataclass(frozen=True)
class AuditOutcome:
    passed: bool
    reasons: tuple[str, ...] = ()
    priority: bool = False
    details: tuple[str, ...] = field(default=())

    @property
    def held(self) -> bool:
        return not self.passed


def is_remote(address: Address, rules: AuditRules) -> bool:
    return any(region and region in address.province for region in rules.remote_regions)


# A house, building or room number: a numeral or a building letter before a unit word (100号, 三号楼,
# A座, 2单元, 5楼, 十二层, 88弄), in the street or the detail; in the detail any digit counts too
# (1203, 3-501). Without one ("文一西路" / "村口大树旁边") the courier has to call: a person checks.
UNIT_NUMBER_RE = re.compile(
    r"[0-9０-９一二三四五六七八九十百零〇两A-Za-zＡ-Ｚａ-ｚ]\s*(?:号|栋|幢|座|单元|室|楼|层|弄)"
)
DIGIT_RE = re.compile(r"[0-9０-９]")


def has_house_number(address: Address) -> bool:
    return bool(
        UNIT_NUMBER_RE.search(address.street)
        or UNIT_NUMBER_RE.search(address.detail)
        or DIGIT_RE.search(address.detail)
    )


def vague_address(address: Address, rules: AuditRules) -> str | None:
    """Why the address is too vague to ship to without a person checking it, or None.

    No street or no detail; no house, building or room number; or the detail is a front desk
    ("xx公司前台", "小区门卫"): "3号楼 公司前台" still names nothing but a desk."""
    missing = [part for part in ("street", "detail") if not getattr(address, part)]
    if missing:
        return f"address missing {', '.join(missing)}"
    if any(keyword and keyword in address.detail for keyword in rules.front_desk_keywords):
        return "address is only a front desk"
    if not has_house_number(address):
        return "address has no house, building or room number"
    return None


def note_asks(note: str, rules: AuditRules) -> tuple[bool, bool]:
    """(the note asks for something, it asks for priority handling)."""
    note = note or ""
    asks = any(k and k in note for k in rules.note_hold_keywords)
    priority = any(k and k in note for k in rules.priority_keywords)
    return asks or priority, priority


def audit(facts: AuditFacts, rules: AuditRules) -> AuditOutcome:
    """The automatic audit after stock is reserved.

    1. Clear holds: payable above hold_above_fen, vague address, repeated phone, a note asking for
       something. Any of them -> on_hold with every reason found.
    2. Auto-pass: payable <= auto_pass_max_fen, complete address, not remote, not presale.
    3. Anything else (between the thresholds, remote, presale) follows the shop's auto_pass_middle.
    A note with a priority keyword (加急, 指定时间) flags the order priority whatever the outcome.
    """
    reasons: list[str] = []
    details: list[str] = []
    if facts.payable_fen > rules.hold_above_fen:
        reasons.append(HoldReason.AMOUNT_OVER_LIMIT)
        details.append(f"payable {facts.payable_fen} fen > {rules.hold_above_fen}")
    vague = vague_address(facts.address, rules)
    if vague:
        reasons.append(HoldReason.VAGUE_ADDRESS)
        details.append(vague)
    if facts.same_phone_orders >= rules.repeat_phone_count:
        reasons.append(HoldReason.REPEAT_PHONE)
        details.append(
            f"{facts.same_phone_orders} orders from this phone within {rules.repeat_phone_window_minutes} min"
        )
    asks, priority = note_asks(facts.note, rules)
    if asks:
        reasons.append(HoldReason.BUYER_NOTE)
        # The details go to the timeline, which every role that may see the order reads: a phone
        # the buyer wrote into the note is masked there like anywhere else.
        details.append(f"buyer note: {scrub(facts.note)[:60]}")
    if reasons:
        return AuditOutcome(False, tuple(reasons), priority, tuple(details))

    remote = is_remote(facts.address, rules)
    if facts.payable_fen <= rules.auto_pass_max_fen and not remote and not facts.presale:
        return AuditOutcome(True, (), priority, ("auto-pass",))

    middle: list[str] = []
    if facts.payable_fen > rules.auto_pass_max_fen:
        middle.append(HoldReason.MIDDLE_AMOUNT)
    if remote:
        middle.append(HoldReason.REMOTE_REGION)
    if facts.presale:
        middle.append(HoldReason.PRESALE)
    if rules.auto_pass_middle:
        return AuditOutcome(True, (), priority, ("passed by the shop's middle-order setting: " + ", ".join(middle),))
    return AuditOutcome(False, tuple(middle), priority, ("shop reviews middle orders by hand",))


# Held orders: how long they have waited --------------------------------------------------------------
def review_wait(held_at: datetime | None, now: datetime, target_minutes: int) -> dict[str, Any] | None:
    if held_at is None:
        return None
    waited = max(timedelta(0), now - held_at)
    minutes = int(waited.total_seconds() // 60)
    return {
        "waiting_minutes": minutes,
        "target_minutes": target_minutes,
        "overdue": waited > timedelta(minutes=target_minutes),
    }


# Presale promise --------------------------------------------------------------------------------------
def presale_promise(now: datetime, days: int) -> tuple[datetime, str]:
    """When stock is short and the shop waits: ship-by date and the buyer-facing promise."""
    return now + timedelta(days=days), f"预计{days}天内发货"


# Address change before dispatch ----------------------------------------------------------------------
# The statuses whose address the buyer or the shop may still change: the parcel has not left.
READDRESSABLE = BEFORE_SHIPMENT
# Of those, the statuses the audit has already run in: a new address runs it again.
AUDITED = (ON_HOLD, AWAITING_SHIPMENT)


def check_address_change(status: str) -> None:
    """An address may change only before the parcel leaves; else IllegalTransition (409)."""
    if status not in READDRESSABLE:
        raise IllegalTransition("order", status, "change the address of")


# Who may cancel ----------------------------------------------------------------------------------------
def check_cancel_allowed(status: str) -> None:
    """Buyer and ops alike: any time before the parcel leaves."""
    next_status(status, Action.CANCEL)
