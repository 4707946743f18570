"""Fulfilment figures and checks, without Flask or SQL (checked by `mypy --strict` like domain.py):
per-carrier on-time rate, transit time and cost per parcel; a carrier's monthly statement reconciled
against the shipments recorded for it."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any


def pickup_late(due_at: datetime | None, picked_up_at: datetime | None, now: datetime) -> bool:
    """揽收 missed its deadline: picked up after it, or not yet and the deadline passed."""
    return due_at is not None and (picked_up_at or now) > due_at


# Per-carrier figures ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Shipped:
    """What the figures need of one dispatched shipment."""

    carrier: str
    dispatched_at: datetime
    delivered_at: datetime | None = None
    cost_fen: int | None = None

    @property
    def transit_hours(self) -> float | None:
        """From the dispatch notice to the delivery: the time the buyer waits once the warehouse let
        go (a slow pickup counts against the carrier; a carrier's own first report cannot be trusted
        to mark it, since a carrier that skips `picked_up` reports its first scan late)."""
        if self.delivered_at is None:
            return None
        return max((self.delivered_at - self.dispatched_at).total_seconds(), 0.0) / 3600


def _rounded_mean(total: int, count: int) -> int:
    """Integer mean, halves rounded up (money stays integer fen)."""
    return (2 * total + count) // (2 * count)


def carrier_figures(parcels: Iterable[Shipped], on_time_hours: float) -> list[dict[str, Any]]:
    """Per carrier, by code: shipments dispatched, delivered, delivered on time (within `on_time_hours`
    of the dispatch), the on-time rate and mean transit hours over the delivered ones, and the cost per
    parcel over the shipments whose actual cost is recorded. A figure without data is None."""
    acc: dict[str, dict[str, Any]] = {}
    for p in parcels:
        row = acc.setdefault(
            p.carrier, {"shipments": 0, "delivered": 0, "on_time": 0, "transit_h": 0.0, "costed": 0, "cost": 0}
        )
        row["shipments"] += 1
        hours = p.transit_hours
        if hours is not None:
            row["delivered"] += 1
            row["transit_h"] += hours
            row["on_time"] += hours <= on_time_hours
        if p.cost_fen is not None:
            row["costed"] += 1
            row["cost"] += p.cost_fen
    out = []
    for code in sorted(acc):
        r = acc[code]
        delivered, costed = r["delivered"], r["costed"]
        out.append(
            {
                "carrier": code,
                "shipments": r["shipments"],
                "delivered": delivered,
                "on_time": r["on_time"],
                "on_time_rate": round(r["on_time"] / delivered, 4) if delivered else None,
                "mean_transit_hours": round(r["transit_h"] / delivered, 1) if delivered else None,
                "costed": costed,
                "cost_total_fen": r["cost"],
                "cost_per_parcel_fen": _rounded_mean(r["cost"], costed) if costed else None,
            }
        )
    return out


# Statement reconciliation ----------------------------------------------------------------------
MISSING, EXTRA, AMOUNT_DIFFERS, NO_RECORDED_COST, DUPLICATE = (
    "missing",
    "extra",
    "amount_differs",
    "no_recorded_cost",
    "duplicate",
)


@dataclass(frozen=True)
class StatementLine:
    tracking_no: str
    charged_fen: int


@dataclass(frozen=True)
class Recorded:
    """A shipment of the carrier as logistics recorded it."""

    shipment_id: str
    tracking_no: str
    cost_fen: int | None
    in_period: bool  # dispatched within the statement's month


def month_bounds(month: str) -> tuple[datetime, datetime]:
    """`2026-11` -> [2026-11-01T00:00Z, 2026-12-01T00:00Z); ValueError for anything else."""
    year, sep, mon = month.partition("-")
    if not sep or len(year) != 4 or len(mon) != 2:
        raise ValueError(f"not a month YYYY-MM: {month!r}")
    start = datetime(int(year), int(mon), 1, tzinfo=UTC)
    end = datetime(start.year + start.month // 12, start.month % 12 + 1, 1, tzinfo=UTC)
    return start, end


def reconcile(lines: list[StatementLine], recorded: Iterable[Recorded]) -> dict[str, Any]:
    """The statement's lines against the recorded shipments: every mismatch, one row each, in the
    statement's order, then the missing ones by tracking number:

    - `extra`: charged for a tracking number the carrier has no shipment of;
    - `amount_differs`: charged another amount than the recorded cost;
    - `no_recorded_cost`: the shipment has no recorded cost to compare with;
    - `duplicate`: the tracking number is charged again on the same statement;
    - `missing`: a shipment dispatched in the month that the statement does not charge.
    """
    by_no = {r.tracking_no: r for r in recorded}
    seen: Counter[str] = Counter()
    mismatches: list[dict[str, Any]] = []
    matched = 0
    for line in lines:
        seen[line.tracking_no] += 1
        r = by_no.get(line.tracking_no)
        row = {
            "tracking_no": line.tracking_no,
            "shipment_id": r.shipment_id if r else None,
            "charged_fen": line.charged_fen,
            "recorded_fen": r.cost_fen if r else None,
        }
        if seen[line.tracking_no] > 1:
            mismatches.append({**row, "kind": DUPLICATE})
        elif r is None:
            mismatches.append({**row, "kind": EXTRA})
        elif r.cost_fen is None:
            mismatches.append({**row, "kind": NO_RECORDED_COST})
        elif r.cost_fen != line.charged_fen:
            mismatches.append({**row, "kind": AMOUNT_DIFFERS, "difference_fen": line.charged_fen - r.cost_fen})
        else:
            matched += 1
    for no in sorted(by_no):
        r = by_no[no]
        if r.in_period and no not in seen:
            mismatches.append(
                {"tracking_no": no, "shipment_id": r.shipment_id, "charged_fen": None, "recorded_fen": r.cost_fen}
                | {"kind": MISSING}
            )
    kinds = Counter(m["kind"] for m in mismatches)
    return {
        "lines": len(lines),
        "matched": matched,
        "charged_total_fen": sum(line.charged_fen for line in lines),
        "mismatch_counts": {k: kinds.get(k, 0) for k in (MISSING, EXTRA, AMOUNT_DIFFERS, NO_RECORDED_COST, DUPLICATE)},
        "mismatches": mismatches,
    }


# Stage clocks ----------------------------------------------------------------------------------
PRINT, HANDOVER, DISPATCH, PICKUP = "print", "handover", "dispatch", "pickup"


@dataclass(frozen=True)
class OpenShipment:
    """What the stage clocks need of a shipment still in the warehouse or waiting for its pickup."""

    shipment_id: str
    shop_id: str
    order_id: str
    created_at: datetime  # the order passed its audit (OrderReadyToShip)
    dispatch_due_at: datetime
    printed_at: datetime | None = None
    dispatched_at: datetime | None = None  # handed to the carrier
    pickup_due_at: datetime | None = None
    picked_up_at: datetime | None = None
    deadline_basis: str = "standard"  # standard | promotion | presale


@dataclass(frozen=True)
class StageHours:
    print_hours: float = 1
    handover_hours: float = 2


def stage_clocks(s: OpenShipment, hours: StageHours, now: datetime) -> list[dict[str, Any]]:
    """The running clocks of one shipment: not dispatched -> `print` (audited -> waybill printed) or
    `handover` (printed -> handed to the carrier), and `dispatch` (its deadline: 24 h, 48 h in a
    promotion, or the presale promise); dispatched and not picked up -> `pickup` (揽收)."""

    def clock(kind: str, started: datetime, due: datetime, basis: str | None = None) -> dict[str, Any]:
        left = int((due - now).total_seconds())
        item: dict[str, Any] = {"kind": kind, "id": s.shipment_id, "shipment_id": s.shipment_id}
        item.update(order_id=s.order_id, shop_id=s.shop_id, started_at=started, due_at=due)
        item.update(seconds_left=left, breached=left < 0)
        return {**item, "basis": basis} if basis else item

    if s.dispatched_at is None:
        if s.printed_at is None:
            stage = clock(PRINT, s.created_at, s.created_at + timedelta(hours=hours.print_hours))
        else:
            stage = clock(HANDOVER, s.printed_at, s.printed_at + timedelta(hours=hours.handover_hours))
        return [stage, clock(DISPATCH, s.created_at, s.dispatch_due_at, s.deadline_basis)]
    if s.picked_up_at is None and s.pickup_due_at is not None:
        return [clock(PICKUP, s.dispatched_at, s.pickup_due_at)]
    return []


def first_in_first_out(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Oldest first: by when the item entered its stage, then by deadline, then by shipment."""
    return sorted(items, key=lambda i: (i["started_at"], i["due_at"], i["id"], i["kind"]))
