"""inventory domain: stock per SKU and warehouse, reservations, alerts, replenishment. No Flask, no SQL.

available = on_hand - reserved. Stock is never taken by reading a number in Python and writing back
a smaller one: the database does it with a conditional update (see ledger.py), so that two buyers
can never both take the last unit. The rules here decide *what* should happen (which lines, which
status, whether an alert fires, how much to reorder); operations.py makes it happen atomically.

A SKU code is unique per shop (catalog), so stock is keyed by (shop_id, sku_code, warehouse_code).
"""

from __future__ import annotations

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

    ALL = (IN, OUT, RESERVE, RELEASE, DEDUCT, ADJUST, CREATE, NOTE)


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
