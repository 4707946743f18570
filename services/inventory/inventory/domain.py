"""inventory domain: stock per SKU and warehouse, reservations, alerts, replenishment. No Flask, no SQL.

available = on_hand - reserved. Stock is never taken by reading a number in Python and writing back
a smaller one: the database does it with a conditional update (see ledger.py), so that two buyers
can never both take the last unit. The rules here decide *what* should happen (which lines, which
status, whether an alert fires, how much to reorder); operations.py makes it happen atomically.

A SKU code is unique per shop (catalog), so stock is keyed by (shop_id, sku_code, warehouse_code).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from ecom_common.errors import IllegalTransition, RuleViolation

DEFAULT_WAREHOUSE = "WH1"


class UnknownSkuError(LookupError):
    """The shop has no stock item for this SKU (not listed yet, or another shop's)."""


class Movement:
    """Kinds of stock-ledger rows: every change of on_hand or reserved is one of these."""

    IN = "in"  # goods received (inbound receipt, resellable return)
    OUT = "out"  # goods written off (damage, loss) or sent without a reservation (exchange)
    RESERVE = "reserve"  # a paid order's line put aside: reserved += n
    RELEASE = "release"  # a reservation given back (cancel): reserved -= n
    DEDUCT = "deduct"  # a reserved line shipped: on_hand -= n, reserved -= n
    ADJUST = "adjust"  # a counted correction: on_hand set to what was counted
    CREATE = "create"  # the stock item came to exist (0 on hand)
    NOTE = "note"  # no quantity change, a fact worth keeping (e.g. an unsellable return)
    TRANSFER_OUT = "transfer_out"  # units leaving a warehouse for another of the shop's: on_hand -= n
    TRANSFER_IN = "transfer_in"  # ...and arriving there: on_hand += n (the pair shares cause transfer:<id>)

    ALL = (IN, OUT, RESERVE, RELEASE, DEDUCT, ADJUST, CREATE, NOTE, TRANSFER_OUT, TRANSFER_IN)


# Lines -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Line:
    sku_code: str
    quantity: int

    def to_dict(self) -> dict[str, Any]:
        return {"sku_code": self.sku_code, "quantity": self.quantity}


def merge_lines(lines: list[dict[str, Any]]) -> list[Line]:
    """An order's lines as one quantity per SKU, sorted by SKU code.

    Sorting matters: every transaction that locks several stock rows locks them in the same order,
    so two orders sharing SKUs cannot deadlock each other.
    """
    totals: dict[str, int] = {}
    for line in lines:
        qty = int(line["quantity"])
        if qty < 1:
            raise RuleViolation("a line must ask for at least 1 unit", {"lines": [f"{line['sku_code']}: {qty}"]})
        totals[line["sku_code"]] = totals.get(line["sku_code"], 0) + qty
    return [Line(sku, qty) for sku, qty in sorted(totals.items())]


@dataclass(frozen=True)
class ShortLine:
    sku_code: str
    requested: int
    available: int

    def to_dict(self) -> dict[str, Any]:
        return {"sku_code": self.sku_code, "requested": self.requested, "available": self.available}


# Shortage policy -------------------------------------------------------------------------------
class ShortagePolicy:
    """What a shop wants done with a paid order that cannot be reserved in full."""

    WAIT = "wait"  # presale: the order waits (awaiting_stock) and is reserved when stock arrives
    CANCEL = "cancel"  # the order is cancelled (by orders) and refunded (by billing)

    ALL = (WAIT, CANCEL)
    DEFAULT = WAIT


# Reservations ----------------------------------------------------------------------------------
class ReservationStatus:
    WAITING = "waiting"  # short, policy wait: queued for stock in order of payment time
    RESERVED = "reserved"  # every line put aside
    RELEASED = "released"  # cancelled after reserving (stock given back) or dropped from the queue
    DEDUCTED = "deducted"  # shipped: the reserved units left the warehouse
    SHORT = "short"  # short, policy cancel: nothing reserved, orders cancels the order
    CANCELLED = "cancelled"  # the order was cancelled before any OrderPaid reached us (tombstone)

    ALL = (WAITING, RESERVED, RELEASED, DEDUCTED, SHORT, CANCELLED)
    TERMINAL = (RELEASED, DEDUCTED, SHORT, CANCELLED)

    # from -> allowed next statuses
    TRANSITIONS = {
        WAITING: (RESERVED, RELEASED),
        RESERVED: (RELEASED, DEDUCTED),
        RELEASED: (),
        DEDUCTED: (),
        SHORT: (),
        CANCELLED: (),
    }


def check_transition(current: str, target: str, action: str) -> None:
    if target not in ReservationStatus.TRANSITIONS.get(current, ()):
        raise IllegalTransition("reservation", current, action)


def status_after_shortage(policy: str) -> str:
    """Where a paid order that could not be reserved in full goes, by the shop's policy."""
    if policy == ShortagePolicy.WAIT:
        return ReservationStatus.WAITING
    if policy == ShortagePolicy.CANCEL:
        return ReservationStatus.SHORT
    raise RuleViolation(f"unknown shortage policy {policy!r}", {"shortage_policy": [policy]})


# What each entry of a reservation's log did: every entry is a change to the status it records.
RESERVATION_ACTIONS = {
    ReservationStatus.WAITING: "wait",
    ReservationStatus.RESERVED: "reserve",
    ReservationStatus.RELEASED: "release",
    ReservationStatus.DEDUCTED: "deduct",
    ReservationStatus.SHORT: "short",
    ReservationStatus.CANCELLED: "cancel",
}


class LogEntry(Protocol):
    at: datetime
    by: str
    status: str
    reason: str | None


def reservation_timeline(entries: Iterable[LogEntry]) -> list[dict[str, Any]]:
    """A reservation's log in the common timeline shape (ecom_common.schemas.TimelineOut). Every
    status change is logged from the first, so the status before an entry is the status after the
    one before it."""
    out: list[dict[str, Any]] = []
    before: str | None = None
    for e in entries:
        out.append(
            {
                "at": e.at,
                "by": e.by,
                "action": RESERVATION_ACTIONS.get(e.status, e.status),
                "from_status": before,
                "status": e.status,
                "reason": e.reason,
            }
        )
        before = e.status
    return out


# Adjustments -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Adjustment:
    """What the warehouse says about one stock row (POST /stock/<sku>/adjustments)."""

    kind: str
    quantity: int | None = None
    counted: int | None = None
    reason: str | None = None
    reference: str | None = None


class AdjustmentKind:
    """What the warehouse tells us: goods came in, a count differs, goods were damaged or lost."""

    INBOUND = "inbound"  # quantity received: on_hand += quantity
    COUNT_CORRECTION = "count_correction"  # counted value: on_hand := counted
    DAMAGE = "damage"  # quantity written off: on_hand -= quantity
    LOSS = "loss"  # quantity missing: on_hand -= quantity

    ALL = (INBOUND, COUNT_CORRECTION, DAMAGE, LOSS)
    BY_QUANTITY = (INBOUND, DAMAGE, LOSS)
    WRITE_OFFS = (DAMAGE, LOSS)

    MOVEMENT = {INBOUND: Movement.IN, COUNT_CORRECTION: Movement.ADJUST, DAMAGE: Movement.OUT, LOSS: Movement.OUT}


def adjustment_delta(
    kind: str, on_hand: int, reserved: int, quantity: int | None = None, counted: int | None = None
) -> int:
    """The change of on_hand an adjustment makes, or RuleViolation when it would leave less on hand
    than is reserved for paid orders (a count or write-off can never take promised goods away)."""
    if kind in AdjustmentKind.BY_QUANTITY and quantity is None:
        raise RuleViolation(f"{kind} needs a quantity", {"quantity": [f"Required for {kind}."]})
    if kind == AdjustmentKind.COUNT_CORRECTION and counted is None:
        raise RuleViolation(f"{kind} needs the counted units", {"counted": [f"Required for {kind}."]})
    if kind == AdjustmentKind.INBOUND:
        assert quantity is not None
        return int(quantity)
    if kind in AdjustmentKind.WRITE_OFFS:
        assert quantity is not None
        if quantity > on_hand - reserved:
            raise RuleViolation(
                f"cannot write off {quantity}: only {on_hand - reserved} are available ({reserved} reserved)",
                {"quantity": [f"At most {max(on_hand - reserved, 0)}."]},
            )
        return -int(quantity)
    if kind == AdjustmentKind.COUNT_CORRECTION:
        assert counted is not None
        if counted < reserved:
            raise RuleViolation(
                f"a count of {counted} is below the {reserved} units reserved for paid orders",
                {"counted": [f"At least {reserved} (reserved)."]},
            )
        return int(counted) - on_hand
    raise RuleViolation(f"unknown adjustment kind {kind!r}", {"kind": [kind]})


# Low-stock alert -------------------------------------------------------------------------------
class LowStockSignal:
    ALERT = "alert"  # available just fell to the threshold: emit inventory.LowStock once
    REARM = "rearm"  # available rose above the threshold again: the next fall alerts again


def is_low(available: int, threshold: int) -> bool:
    return available <= threshold


def low_stock_signal(alerted: bool, available: int, threshold: int) -> str | None:
    """One alert per crossing: alert when low and not yet alerted, re-arm once above again.

    ledger.py applies exactly this right after each movement of the stock row, while the
    movement's conditional UPDATE still holds the row's lock, so concurrent movements cannot alert
    twice.
    """
    low = is_low(available, threshold)
    if low and not alerted:
        return LowStockSignal.ALERT
    if not low and alerted:
        return LowStockSignal.REARM
    return None


# Replenishment (safety stock) ------------------------------------------------------------------
@dataclass(frozen=True)
class ReplenishmentSettings:
    window_days: int = 30  # sales history the average is taken over
    cover_days: int = 3  # reorder when available covers at most this many days of sales
    target_days: int = 15  # a reorder brings stock up to this many days of sales


@dataclass(frozen=True)
class ReplenishmentLine:
    sku_code: str
    available: int
    sold_in_window: int
    average_daily_sales: float
    reorder_point: float
    waiting_quantity: int
    suggested_quantity: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "sku_code": self.sku_code,
            "available": self.available,
            "sold_in_window": self.sold_in_window,
            "average_daily_sales": round(self.average_daily_sales, 3),
            "reorder_point": round(self.reorder_point, 3),
            "waiting_quantity": self.waiting_quantity,
            "suggested_quantity": self.suggested_quantity,
        }


def replenishment_line(
    sku_code: str, available: int, sold_in_window: int, settings: ReplenishmentSettings, waiting_quantity: int = 0
) -> ReplenishmentLine | None:
    """A SKU needs replenishing when its available stock is at most average daily sales x cover
    days, or when paid orders are already waiting for it. The suggestion brings stock up to
    `target_days` of sales plus what the waiting orders need.

    Returns None for a SKU that does not need replenishing (including one that never sells and has
    no one waiting: there is nothing to cover).
    """
    if settings.window_days < 1 or settings.cover_days < 0 or settings.target_days < 0:
        raise RuleViolation("replenishment settings must be positive", {"window_days": [str(settings.window_days)]})
    average = sold_in_window / settings.window_days
    reorder_point = average * settings.cover_days
    needs = (average > 0 and available <= reorder_point) or waiting_quantity > 0
    if not needs:
        return None
    target = math.ceil(average * settings.target_days - 1e-9)
    suggested = max(0, target + waiting_quantity - available)
    return ReplenishmentLine(sku_code, available, sold_in_window, average, reorder_point, waiting_quantity, suggested)


# Catalog ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class NewSku:
    sku_code: str
    shop_id: str
    low_stock_threshold: int


def skus_from_listing(payload: dict[str, Any]) -> list[NewSku]:
    """The SKUs a catalog.ProductListed event brings, with their low-stock thresholds."""
    return [
        NewSku(sku["sku_code"], payload["shop_id"], int(sku.get("low_stock_threshold", 10)))
        for sku in payload.get("skus", [])
    ]


def thresholds_from_price_change(payload: dict[str, Any]) -> list[NewSku]:
    """The SKUs of a catalog.PriceChanged event that carry a low-stock threshold (the others say
    nothing to inventory)."""
    return [
        NewSku(sku["sku_code"], payload["shop_id"], int(sku["low_stock_threshold"]))
        for sku in payload.get("skus", [])
        if "low_stock_threshold" in sku
    ]


# Warehouses and where an order is served from ----------------------------------------------------
# Provinces by region (the seven customary regions of mainland China, and 港澳台). Distance from a
# warehouse to a receiver is ranked, not measured: same province (0) < same region (1) < elsewhere (2).
# A warehouse or receiver without a known province is "elsewhere" to everyone.
REGIONS: dict[str, tuple[str, ...]] = {
    "华北": ("北京", "天津", "河北", "山西", "内蒙古"),
    "东北": ("辽宁", "吉林", "黑龙江"),
    "华东": ("上海", "江苏", "浙江", "安徽", "福建", "江西", "山东"),
    "华中": ("河南", "湖北", "湖南"),
    "华南": ("广东", "广西", "海南"),
    "西南": ("重庆", "四川", "贵州", "云南", "西藏"),
    "西北": ("陕西", "甘肃", "青海", "宁夏", "新疆"),
    "港澳台": ("香港", "澳门", "台湾"),
}
PROVINCE_REGION: dict[str, str] = {p: region for region, provinces in REGIONS.items() for p in provinces}
# A cost-table destination that applies wherever no province or region entry does.
ANYWHERE = "*"
_SUFFIXES = ("维吾尔自治区", "壮族自治区", "回族自治区", "特别行政区", "自治区", "省", "市")
SAME_PROVINCE, SAME_REGION, ELSEWHERE = 0, 1, 2


def normalise_province(name: str | None) -> str | None:
    """The short name of a province ("新疆维吾尔自治区" -> "新疆", "上海市" -> "上海"), None if not one."""
    if not name or not isinstance(name, str):
        return None
    text = name.strip()
    if text in PROVINCE_REGION:
        return text
    for suffix in _SUFFIXES:
        if text.endswith(suffix) and text[: -len(suffix)] in PROVINCE_REGION:
            return text[: -len(suffix)]
    return None


def require_province(name: str | None, field_name: str = "province") -> str:
    short = normalise_province(name)
    if short is None:
        raise RuleViolation(f"unknown province {name!r}", {field_name: [f"Unknown province: {name!r}."]})
    return short


def normalise_costs(costs: dict[str, int] | None, field_name: str = "costs") -> dict[str, int]:
    """A cost table {destination: fen per parcel}: a destination is a province (normalised), a region
    of REGIONS or "*" (everywhere else). RuleViolation for anything else or a negative cost."""
    out: dict[str, int] = {}
    for raw, fen in (costs or {}).items():
        stripped = raw.strip() if isinstance(raw, str) else raw
        key = stripped if stripped in REGIONS or stripped == ANYWHERE else normalise_province(raw)
        if key is None:
            raise RuleViolation(
                f"unknown destination {raw!r}", {field_name: [f"{raw}: not a province, a region or '*'."]}
            )
        if not isinstance(fen, int) or isinstance(fen, bool) or fen < 0:
            raise RuleViolation(f"bad cost for {raw!r}", {field_name: [f"{raw}: a cost is fen >= 0."]})
        out[key] = fen
    return out


def distance_rank(warehouse_province: str | None, receiver_province: str | None) -> int:
    """0 same province, 1 same region, 2 elsewhere (or either province unknown)."""
    if not warehouse_province or not receiver_province:
        return ELSEWHERE
    if warehouse_province == receiver_province:
        return SAME_PROVINCE
    region = PROVINCE_REGION.get(warehouse_province)
    if region is not None and region == PROVINCE_REGION.get(receiver_province):
        return SAME_REGION
    return ELSEWHERE


def shipping_cost(costs: dict[str, int], receiver_province: str | None) -> int | None:
    """A parcel's cost from a warehouse to the receiver: the province's entry, else its region's, else
    "*"; None when the table says nothing (ranked after every known cost)."""
    if receiver_province and receiver_province in costs:
        return costs[receiver_province]
    region = PROVINCE_REGION.get(receiver_province or "")
    if region is not None and region in costs:
        return costs[region]
    return costs.get(ANYWHERE)


@dataclass(frozen=True)
class Site:
    """A warehouse as the choice sees it: its province and cost table (None/{} for a warehouse code
    that holds stock but was never registered), and the units available there per SKU."""

    code: str
    province: str | None = None
    costs: tuple[tuple[str, int], ...] = ()
    available: tuple[tuple[str, int], ...] = ()

    def stock(self, sku_code: str) -> int:
        return dict(self.available).get(sku_code, 0)


def rank_sites(sites: Iterable[Site], receiver_province: str | None, lines: list[Line]) -> list[Site]:
    """Warehouses best first: nearest (same province < same region < elsewhere), then cheapest
    parcel to the receiver (unknown cost last), then most stock of the order's SKUs, then code."""

    def key(site: Site) -> tuple[int, int, int, int, str]:
        cost = shipping_cost(dict(site.costs), receiver_province)
        return (
            distance_rank(site.province, receiver_province),
            cost is None,
            cost or 0,
            -sum(site.stock(line.sku_code) for line in lines),
            site.code,
        )

    return sorted(sites, key=key)


def choose_warehouses(
    lines: list[Line], sites: Iterable[Site], receiver_province: str | None, *, max_split: int = 4
) -> dict[str, str] | None:
    """自动匹配最优仓库: {sku_code: warehouse_code} for an order's (merged) lines, or None when no
    combination of at most `max_split` warehouses can serve every line (the order is short).

    The best single warehouse that can serve every line whole (rank_sites' order); only when none
    can, the fewest warehouses that together can, each line whole in one of them (a line is never
    split), preferring combinations of better-ranked warehouses and giving each line to the best
    ranked warehouse of the combination that holds it."""
    ranked = rank_sites(sites, receiver_province, lines)
    if not lines:
        return {}
    for site in ranked:
        if all(site.stock(line.sku_code) >= line.quantity for line in lines):
            return {line.sku_code: site.code for line in lines}
    useful = [s for s in ranked if any(s.stock(line.sku_code) >= line.quantity for line in lines)]
    for size in range(2, min(max_split, len(useful), len(lines)) + 1):
        for combo in itertools.combinations(useful, size):  # in rank order: better combinations first
            plan: dict[str, str] = {}
            for line in lines:
                holder = next((s for s in combo if s.stock(line.sku_code) >= line.quantity), None)
                if holder is None:
                    break
                plan[line.sku_code] = holder.code
            else:
                if len(set(plan.values())) == size:  # every warehouse of the combination is needed
                    return plan
    return None
