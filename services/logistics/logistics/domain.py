"""logistics domain: shipping quotes, carrier choice, dispatch deadlines, the shipment state machine
and carrier-webhook signatures. No Flask, no SQL: every rule here is a plain function or value object
that the unit tests call directly.
"""

from __future__ import annotations

import hashlib
import hmac
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from ecom_common.errors import IllegalTransition, RuleViolation
from ecom_common.privacy import mask_name, mask_phone

# Provinces ------------------------------------------------------------------------------------
# The 34 provincial-level divisions by their short names. Templates, rules and addresses all compare
# short names, so "江苏省", "江苏" and " 江苏 " are one region.
PROVINCES = (
    "北京",
    "天津",
    "上海",
    "重庆",
    "河北",
    "山西",
    "辽宁",
    "吉林",
    "黑龙江",
    "江苏",
    "浙江",
    "安徽",
    "福建",
    "江西",
    "山东",
    "河南",
    "湖北",
    "湖南",
    "广东",
    "海南",
    "四川",
    "贵州",
    "云南",
    "陕西",
    "甘肃",
    "青海",
    "台湾",
    "内蒙古",
    "广西",
    "西藏",
    "宁夏",
    "新疆",
    "香港",
    "澳门",
)
_SUFFIXES = ("维吾尔自治区", "壮族自治区", "回族自治区", "特别行政区", "自治区", "省", "市")


def normalise_province(name: str | None) -> str | None:
    """The short name of a province ("新疆维吾尔自治区" -> "新疆"), or None if it is not one."""
    if not name or not isinstance(name, str):
        return None
    text = name.strip()
    if text in PROVINCES:
        return text
    for suffix in _SUFFIXES:
        if text.endswith(suffix) and text[: -len(suffix)] in PROVINCES:
            return text[: -len(suffix)]
    return None


def require_province(name: str | None, field_name: str = "province") -> str:
    short = normalise_province(name)
    if short is None:
        raise RuleViolation(f"unknown province {name!r}", {field_name: [f"Unknown province: {name!r}."]})
    return short


def normalise_provinces(names: Iterable[str] | None, field_name: str) -> list[str]:
    out: list[str] = []
    for name in names or []:
        short = require_province(name, field_name)
        if short not in out:
            out.append(short)
    return out


def parse_province_list(raw: str) -> list[str]:
    """A comma-separated setting such as LOGISTICS_REMOTE_PROVINCES ("新疆,西藏,内蒙古")."""
    parts = [p for p in raw.replace("，", ",").split(",") if p.strip()]
    return normalise_provinces(parts, "LOGISTICS_REMOTE_PROVINCES")


# Shipping templates and quotes -----------------------------------------------------------------
@dataclass(frozen=True)
class WeightRule:
    """First weight and each additional *started* step of weight, in grams and fen."""

    first_weight_g: int = 1000
    first_fen: int = 1000
    additional_weight_g: int = 1000
    additional_fen: int = 500

    def steps_beyond_first(self, weight_g: int) -> int:
        extra = max(0, weight_g - self.first_weight_g)
        return math.ceil(extra / self.additional_weight_g) if extra else 0


@dataclass(frozen=True)
class Template:
    """A shop's shipping template (or the platform default).

    - `region_rules`: (provinces, WeightRule) pairs that override `default_rule` for those provinces;
    - `free_shipping`: (provinces or () for everywhere, min_goods_fen): the weight charges are waived
      when the goods total reaches the threshold (0 = always);
    - `surcharges`: (provinces, fen, label) added on top, free shipping or not;
    - `never_free`: provinces where no free-shipping rule applies (remote regions);
    - `not_served`: provinces this shop does not ship to.
    """

    name: str = "default"
    default_rule: WeightRule = field(default_factory=WeightRule)
    region_rules: tuple[tuple[tuple[str, ...], WeightRule], ...] = ()
    free_shipping: tuple[tuple[tuple[str, ...], int], ...] = ()
    surcharges: tuple[tuple[tuple[str, ...], int, str], ...] = ()
    never_free: tuple[str, ...] = ()
    not_served: tuple[str, ...] = ()

    def rule_for(self, province: str) -> WeightRule:
        for provinces, rule in self.region_rules:
            if province in provinces:
                return rule
        return self.default_rule

    # JSON form (stored per shop and shown by the API) ------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        def rule(r: WeightRule) -> dict[str, Any]:
            return {
                "first_weight_g": r.first_weight_g,
                "first_fen": r.first_fen,
                "additional_weight_g": r.additional_weight_g,
                "additional_fen": r.additional_fen,
            }

        return {
            "name": self.name,
            "default_rule": rule(self.default_rule),
            "region_rules": [{"provinces": list(p), **rule(r)} for p, r in self.region_rules],
            "free_shipping": [{"provinces": list(p), "min_goods_fen": m} for p, m in self.free_shipping],
            "surcharges": [{"provinces": list(p), "fen": f, "label": label} for p, f, label in self.surcharges],
            "never_free": list(self.never_free),
            "not_served": list(self.not_served),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Template:
        """Build (and validate) a template; province names are normalised, unknown ones -> 422."""

        def rule(d: dict[str, Any]) -> WeightRule:
            return WeightRule(
                int(d["first_weight_g"]), int(d["first_fen"]), int(d["additional_weight_g"]), int(d["additional_fen"])
            )

        return cls(
            name=data.get("name") or "shop template",
            default_rule=rule(data["default_rule"]),
            region_rules=tuple(
                (tuple(normalise_provinces(r["provinces"], "region_rules")), rule(r))
                for r in data.get("region_rules", [])
            ),
            free_shipping=tuple(
                (tuple(normalise_provinces(f.get("provinces", []), "free_shipping")), int(f.get("min_goods_fen", 0)))
                for f in data.get("free_shipping", [])
            ),
            surcharges=tuple(
                (tuple(normalise_provinces(s["provinces"], "surcharges")), int(s["fen"]), s.get("label") or "surcharge")
                for s in data.get("surcharges", [])
            ),
            never_free=tuple(normalise_provinces(data.get("never_free", []), "never_free")),
            not_served=tuple(normalise_provinces(data.get("not_served", []), "not_served")),
        )


def default_template(
    remote: list[str] | tuple[str, ...] = ("新疆", "西藏", "内蒙古"),
    free: list[str] | tuple[str, ...] = ("江苏", "浙江", "上海"),
    rule: WeightRule = WeightRule(),
    remote_surcharge_fen: int = 1500,
) -> Template:
    """The seed template (BUSINESS-RULES.md "Shipping"): 江浙沪 free; elsewhere 10 yuan for the first
    kg and 5 yuan per additional started kg; remote regions never free and +15 yuan."""
    return Template(
        name="default",
        default_rule=rule,
        free_shipping=((tuple(free), 0),),
        surcharges=((tuple(remote), remote_surcharge_fen, "remote"),) if remote else (),
        never_free=tuple(remote),
    )


class RegionNotServedError(RuleViolation):
    def __init__(self, province: str):
        super().__init__(
            f"this shop does not ship to {province}",
            {"province": [f"{province} is not served by this shop's shipping template."]},
        )
        self.province = province


@dataclass(frozen=True)
class Quote:
    province: str
    fee_fen: int
    breakdown: list[dict[str, Any]]
    free: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "province": self.province,
            "fee_fen": self.fee_fen,
            "served": True,
            "free": self.free,
            "breakdown": self.breakdown,
        }


@dataclass(frozen=True)
class Parcel:
    """What a quote is asked for: where a parcel goes, its weight, and the goods total if known."""

    province: str
    weight_g: int
    goods_fen: int | None = None


def quote(template: Template, province: str, weight_g: int, goods_fen: int | None = None) -> Quote:
    """The shipping fee of one parcel; the breakdown always sums to the fee.

    Free shipping waives the weight charges only; surcharges apply anyway. A free-shipping rule with
    a goods threshold needs `goods_fen` to reach it (unknown goods total: not free).
    """
    short = require_province(province)
    if weight_g < 0:
        raise RuleViolation("weight cannot be negative", {"weight_g": ["Must be at least 0."]})
    if short in template.not_served:
        raise RegionNotServedError(short)
    rule = template.rule_for(short)
    breakdown: list[dict[str, Any]] = [{"item": "first_weight", "fen": rule.first_fen}]
    steps = rule.steps_beyond_first(weight_g)
    if steps:
        breakdown.append({"item": f"additional_weight x{steps}", "fen": steps * rule.additional_fen})
    weight_fen = sum(b["fen"] for b in breakdown)
    free = False
    if short not in template.never_free:
        for provinces, min_goods_fen in template.free_shipping:
            if provinces and short not in provinces:
                continue
            if min_goods_fen == 0 or (goods_fen is not None and goods_fen >= min_goods_fen):
                free = True
                label = "free_shipping" if min_goods_fen == 0 else f"free_shipping over {min_goods_fen} fen"
                breakdown.append({"item": label, "fen": -weight_fen})
                break
    for provinces, fen, label in template.surcharges:
        if short in provinces and fen:
            breakdown.append({"item": f"surcharge:{label}", "fen": fen})
    return Quote(short, sum(b["fen"] for b in breakdown), breakdown, free)


# Carriers and carrier rules --------------------------------------------------------------------
@dataclass(frozen=True)
class CarrierRule:
    """Applies when the province is in `provinces` (empty: any) and the parcel's weight is within
    [min_weight_g, max_weight_g]; the first applicable rule whose carrier is active wins."""

    name: str
    carrier: str
    provinces: tuple[str, ...] = ()
    min_weight_g: int | None = None
    max_weight_g: int | None = None

    def applies(self, province: str | None, weight_g: int | None) -> bool:
        if self.provinces and province not in self.provinces:
            return False
        if self.min_weight_g is not None and (weight_g is None or weight_g < self.min_weight_g):
            return False
        return not (self.max_weight_g is not None and weight_g is not None and weight_g > self.max_weight_g)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "carrier": self.carrier,
            "provinces": list(self.provinces),
            "min_weight_g": self.min_weight_g,
            "max_weight_g": self.max_weight_g,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CarrierRule:
        return cls(
            name=d.get("name") or d["carrier"],
            carrier=d["carrier"],
            provinces=tuple(normalise_provinces(d.get("provinces", []), "rules")),
            min_weight_g=d.get("min_weight_g"),
            max_weight_g=d.get("max_weight_g"),
        )


@dataclass(frozen=True)
class RuleCarriers:
    """The carriers the default rules name: wide coverage, cheapest per kg, next day."""

    remote: str = "EMS"
    heavy: str = "DBL"
    next_day: str = "SF"


def default_carrier_rules(
    remote: tuple[str, ...] = ("新疆", "西藏", "内蒙古"),
    next_day: tuple[str, ...] = ("江苏", "浙江", "上海"),
    heavy_g: int = 20000,
    carriers: RuleCarriers = RuleCarriers(),
) -> list[CarrierRule]:
    """Remote regions first (coverage matters more than price), then heavy parcels (price), then the
    next-day carrier for 江浙沪; anything else falls to the default carrier."""
    return [
        CarrierRule("remote regions: wide coverage", carriers.remote, tuple(remote)),
        CarrierRule(f"heavy parcels from {heavy_g} g: cheapest per kg", carriers.heavy, (), min_weight_g=heavy_g),
        CarrierRule("江浙沪: next day", carriers.next_day, tuple(next_day)),
    ]


@dataclass(frozen=True)
class RuleSet:
    """A shop's carrier rules in order, its default carrier, and their source (`shop` or `default`)."""

    rules: list[CarrierRule]
    default_carrier: str | None
    source: str = "shop"


@dataclass(frozen=True)
class CarrierChoice:
    carrier: str | None
    reason: str


def choose_carrier(
    rules: list[CarrierRule], active: set[str], province: str | None, weight_g: int | None, default: str | None
) -> CarrierChoice:
    for rule in rules:
        if rule.carrier in active and rule.applies(province, weight_g):
            return CarrierChoice(rule.carrier, f"rule: {rule.name}")
    if default and default in active:
        return CarrierChoice(default, "default carrier")
    if active:
        first = sorted(active)[0]
        return CarrierChoice(first, "first active carrier (no rule applied, default inactive)")
    return CarrierChoice(None, "no active carrier: warehouse must choose one at dispatch")


# Dispatch deadline -----------------------------------------------------------------------------
@dataclass(frozen=True)
class PromotionPeriod:
    name: str
    starts_at: datetime
    ends_at: datetime

    def covers(self, at: datetime) -> bool:
        return self.starts_at <= at < self.ends_at


def dispatch_deadline(
    paid_at: datetime, periods: list[PromotionPeriod], hours: float = 24, promo_hours: float = 48
) -> tuple[datetime, str | None]:
    """Due time for dispatch: paid_at + 24 h, or + 48 h when payment fell in a declared promotion
    period (announced on the product page). Returns (due_at, promotion name or None)."""
    for period in periods:
        if period.covers(paid_at):
            return paid_at + timedelta(hours=promo_hours), period.name
    return paid_at + timedelta(hours=hours), None


def is_overdue(status: str, due_at: datetime | None, now: datetime) -> bool:
    return status == PENDING and due_at is not None and now > due_at


# Shipment state machine ------------------------------------------------------------------------
PENDING = "pending"
DISPATCHED = "dispatched"
IN_TRANSIT = "in_transit"
OUT_FOR_DELIVERY = "out_for_delivery"
DELIVERED = "delivered"
EXCEPTION = "exception"
CANCELLED = "cancelled"
STATUSES = (PENDING, DISPATCHED, IN_TRANSIT, OUT_FOR_DELIVERY, DELIVERED, EXCEPTION, CANCELLED)
MOVING = (DISPATCHED, IN_TRANSIT, OUT_FOR_DELIVERY, EXCEPTION)  # handed to a carrier, not delivered

PICKED_UP = "picked_up"  # 揽收: a carrier report that records the pickup and leaves the status as is
TRACKING_STATUSES = (PICKED_UP, IN_TRANSIT, OUT_FOR_DELIVERY, DELIVERED, EXCEPTION)

# action -> {from status: to status}
TRANSITIONS: dict[str, dict[str, str]] = {
    "dispatch": {PENDING: DISPATCHED},
    "cancel": {PENDING: CANCELLED},
    "assign carrier to": {PENDING: PENDING},
    # A failed pickup: the parcel is still at the warehouse, another carrier takes it.
    "change the carrier of": {DISPATCHED: DISPATCHED, EXCEPTION: EXCEPTION},
    **{f"track {s} on": {m: s for m in MOVING} for s in TRACKING_STATUSES},
    f"track {PICKED_UP} on": {m: m for m in MOVING},
}


def next_status(current: str, action: str) -> str:
    """The status after `action`, or IllegalTransition (-> 409) if the state machine forbids it."""
    allowed = TRANSITIONS[action]
    if current not in allowed:
        raise IllegalTransition("shipment", current, action)
    return allowed[current]


def tracking_action(status: str) -> str:
    if status not in TRACKING_STATUSES:
        raise RuleViolation(
            f"unknown tracking status {status!r}", {"status": [f"One of {', '.join(TRACKING_STATUSES)}."]}
        )
    return f"track {status} on"


def repeats_reached_status(current: str, status: str) -> bool:
    """A carrier report of the state the shipment already rests in, which the machine has no move for
    (delivered twice, typically resent under a new event id): nothing is left to do, and answering 409
    would make a carrier that retries until a 2xx retry forever. A repeat the machine allows
    (in_transit again, at a new location) is progress and is not this."""
    return current == status and current not in TRANSITIONS[tracking_action(status)]


# Pick list and receiver ------------------------------------------------------------------------
PICK_DETAILS = ("title", "spec", "handling")  # kept from the order line's snapshot when it carries them


def pick_list(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per SKU with the total quantity, sorted by SKU so pickers walk in order; the title,
    spec and handling marks (`fragile`, `liquid`) of the SKU's first line, when the line has them."""
    totals: dict[str, int] = {}
    details: dict[str, dict[str, Any]] = {}
    for line in lines:
        sku = line["sku_code"]
        totals[sku] = totals.get(sku, 0) + int(line["quantity"])
        kept = {k: line[k] for k in PICK_DETAILS if line.get(k)}
        if "handling" in kept:  # a list of marks; one mark given alone becomes a list of one
            marks = kept["handling"]
            kept["handling"] = [str(m) for m in marks] if isinstance(marks, list) else [str(marks)]
        details.setdefault(sku, kept)
    return [{"sku_code": sku, "quantity": qty, **details[sku]} for sku, qty in sorted(totals.items())]


def with_gifts(lines: list[dict[str, Any]], gifts: Iterable[tuple[str, int, str]]) -> list[dict[str, Any]]:
    """The pick list of an order's shipment: its lines, then each gift marketing granted the order
    (`(sku_code, quantity, promotion_id)`) as a row of its own, marked `gift` and charged nothing, so the
    picker puts it in the parcel and nobody bills it. Gifts sorted by SKU, then promotion."""
    rows = [
        {"sku_code": sku, "quantity": int(quantity), "gift": True, "promotion_id": promotion_id, "charge_fen": 0}
        for sku, quantity, promotion_id in sorted(gifts)
    ]
    return [*lines, *rows]


def masked_receiver(address: dict[str, Any] | None) -> dict[str, Any]:
    """The receiver as logistics keeps it: name and phone always masked (隐私面单), the rest as given.

    Accepts `name`/`receiver_name`/`receiver`, `phone`/`receiver_phone`/`mobile`, `detail`/`street`/
    `address_line`. Masking is idempotent, so an already masked address stays as it is.
    """
    a = dict(address or {})
    name = a.get("name") or a.get("receiver_name") or a.get("receiver")
    phone = a.get("phone") or a.get("receiver_phone") or a.get("mobile")
    province_raw = a.get("province")
    return {
        "name": mask_name(name) if name else None,
        "phone": mask_phone(str(phone)) if phone else None,
        "province": normalise_province(province_raw) or province_raw,
        "city": a.get("city"),
        "district": a.get("district"),
        "detail": a.get("detail") or a.get("street") or a.get("address_line") or a.get("line"),
        "postcode": a.get("postcode"),
    }


# Carrier webhook signatures --------------------------------------------------------------------
SIGNATURE_HEADER = "X-Carrier-Signature"


def sign(secret: str, body: bytes) -> str:
    """The value carriers put in X-Carrier-Signature: "sha256=" + hex HMAC-SHA256 of the raw body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signature_valid(secret: str | None, body: bytes, header: str | None) -> bool:
    if not secret or not header:
        return False
    given = header.strip()
    if given.startswith("sha256="):
        given = given[len("sha256=") :]
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, given.lower())


# Stalls and exceptions -------------------------------------------------------------------------
def is_stalled(
    status: str, last_progress_at: datetime | None, now: datetime, stall_hours: float, exception_open: bool
) -> bool:
    """Moving with no carrier progress for `stall_hours`, and not already in the exception queue."""
    return (
        status in (DISPATCHED, IN_TRANSIT, OUT_FOR_DELIVERY)
        and not exception_open
        and last_progress_at is not None
        and now - last_progress_at >= timedelta(hours=stall_hours)
    )
