"""The reservation rows: one per paid order (primary key order_id), its lines and its log, and the
waiting queue. operations.py builds the use cases from these; like them, nothing here commits.

The reservation row makes reserving idempotent per order and tells release/deduct exactly what to
undo; its status changes are conditional updates (`set_status`), so two events racing for one order
cannot both move it. Lines are reserved in SKU order, each in the first warehouse (by code) that
has the units (`reserve_lines`): one lock order for every transaction, so concurrent orders cannot
deadlock each other.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from ecom_common.events import make_event
from ecom_common.usecase import Ctx

from . import domain, ledger, warehouses
from .domain import Movement
from .domain import ReservationStatus as RS
from .ledger import Entry, StockKey
from .models import Reservation, ReservationLine, ReservationLog
from .settings import Settings

reservations = Reservation.__table__
reservation_lines = ReservationLine.__table__
reservation_log = ReservationLog.__table__

# The statements of the reservation path, built once (ledger.py says why).
_now = sa.bindparam("b_now", type_=reservations.c.updated_at.type)
_order = sa.bindparam("b_order_id")
WRITE_LOG = reservation_log.insert()
WRITE_LINES = reservation_lines.insert()
MARK_RESERVED = (
    reservations.update().where(reservations.c.order_id == _order).values(status=RS.RESERVED, updated_at=_now)
)
MARK_SHORT = (
    reservations.update()
    .where(reservations.c.order_id == _order)
    .values(
        status=sa.bindparam("b_status"),
        policy=sa.bindparam("b_policy"),
        short=sa.bindparam("b_short", type_=reservations.c.short.type),
        updated_at=_now,
    )
)


def log_status(ctx: Ctx[Settings], order_id: str, status: str, reason: str | None = None) -> None:
    ctx.session.execute(
        WRITE_LOG,
        dict(order_id=order_id, status=status, at=ctx.now, by=ctx.actor.id[:120], reason=reason and reason[:500]),
    )


def set_status(ctx: Ctx[Settings], order_id: str, *, expected: str, target: str, reason: str | None) -> bool:
    """Move a reservation from `expected` to `target` if it is still `expected` (conditional)."""
    domain.check_transition(expected, target, f"mark {target}")
    done = (
        ctx.session.execute(
            reservations.update()
            .where(reservations.c.order_id == order_id, reservations.c.status == expected)
            .values(status=target, updated_at=ctx.now)
        ).rowcount
        == 1
    )
    if done:
        log_status(ctx, order_id, target, reason)
    return done


def reserve_lines(
    ctx: Ctx[Settings], order_id: str, *, shop_id: str, lines: list[domain.Line], receiver_province: str | None = None
) -> tuple[list[tuple[domain.Line, str]], list[domain.ShortLine]]:
    """Try to reserve every line; returns (allocations, short lines). Does not roll back: the
    caller's savepoint does when anything is short.

    Where: when any SKU is held in more than one (active) warehouse, the best warehouse is chosen
    for the whole order (domain.choose_warehouses: nearest to the receiver's province, cheapest
    parcel, most stock; a split over the fewest warehouses only when no single one can serve), from
    a reading of what is available. Each line then tries its chosen warehouse first and the others
    in rank order: the reading may be stale by the time the conditional UPDATE runs, and the units
    are taken by that UPDATE alone, so a concurrent order can at worst make this one split."""
    allocations: list[tuple[domain.Line, str]] = []
    short: list[domain.ShortLine] = []
    cause = f"order:{order_id}"
    inactive = warehouses.inactive_codes(ctx, shop_id)
    candidates = {
        line.sku_code: [(i, w) for i, w in ledger.warehouses_of(ctx, shop_id, line.sku_code) if w not in inactive]
        for line in lines
    }
    if any(len(c) > 1 for c in candidates.values()):
        sites = warehouses.sites_for(ctx, shop_id, lines)
        rank = {s.code: n for n, s in enumerate(domain.rank_sites(sites, receiver_province, lines))}
        plan = domain.choose_warehouses(lines, sites, receiver_province) or {}
        for line in lines:
            planned = plan.get(line.sku_code)
            candidates[line.sku_code].sort(key=lambda c, p=planned: (c[1] != p, rank.get(c[1], len(rank)), c[1]))
    for line in lines:  # sorted by SKU: one lock order for everyone
        placed = None
        for item_id, warehouse in candidates[line.sku_code]:
            if ledger.move(ctx, item_id, Entry(Movement.RESERVE, 0, line.quantity, cause)) is not None:
                placed = warehouse
                break
        if placed is None:
            short.append(domain.ShortLine(line.sku_code, line.quantity, 0))
        else:
            allocations.append((line, placed))
    return allocations, short


def insert_lines(
    ctx: Ctx[Settings], order_id: str, *, shop_id: str, allocations: list[tuple[domain.Line, str | None]]
) -> None:
    rows = [
        dict(order_id=order_id, shop_id=shop_id, sku_code=line.sku_code, quantity=line.quantity, warehouse_code=wh)
        for line, wh in allocations
    ]
    if rows:
        # One line (the usual order) as a plain execute: an executemany of one row costs more.
        ctx.session.execute(WRITE_LINES, rows if len(rows) > 1 else rows[0])


def emit_reserved(
    ctx: Ctx[Settings], order_id: str, *, shop_id: str, allocations: list[tuple[domain.Line, str]]
) -> None:
    """StockReserved, each line with the warehouse it was reserved in (where the parcel leaves from)."""
    ctx.record(
        make_event(
            "inventory.StockReserved",
            {
                "order_id": order_id,
                "shop_id": shop_id,
                "lines": [{**line.to_dict(), "warehouse_code": wh} for line, wh in allocations],
            },
        )
    )


def lines_of(ctx: Ctx[Settings], order_id: str) -> list[Any]:
    """A reservation's lines (reservation_lines rows), by SKU code."""
    return list(
        ctx.session.execute(
            sa.select(reservation_lines)
            .where(reservation_lines.c.order_id == order_id)
            .order_by(reservation_lines.c.sku_code)
        ).all()
    )


def item_of(ctx: Ctx[Settings], line: Any) -> int | None:
    """The stock row a reservation line was reserved in (None when it never was)."""
    if line.warehouse_code is None:
        return None
    return ledger.item_id(ctx, StockKey(line.shop_id, line.sku_code, line.warehouse_code))


# The waiting queue -----------------------------------------------------------------------------
def serve_waiting(ctx: Ctx[Settings], shop_id: str, sku_codes: list[str], *, limit: int | None = None) -> list[str]:
    """Reserve waiting orders that need these SKUs, oldest payment first. An order that still
    cannot be served in full stays waiting and does not hold up the ones behind it. Returns the
    orders reserved."""
    if not sku_codes:
        return []
    session = ctx.session
    limit = limit or ctx.settings.waiting_batch
    waiting = (
        session.execute(
            sa.select(reservations.c.order_id)
            .where(
                reservations.c.shop_id == shop_id,
                reservations.c.status == RS.WAITING,
                reservations.c.order_id.in_(
                    sa.select(reservation_lines.c.order_id).where(
                        reservation_lines.c.shop_id == shop_id, reservation_lines.c.sku_code.in_(sku_codes)
                    )
                ),
            )
            .order_by(reservations.c.paid_at, reservations.c.created_at, reservations.c.order_id)
            .limit(limit)
        )
        .scalars()
        .all()
    )
    served: list[str] = []
    exhausted: set[str] = set()  # SKUs with nothing left to give: skip orders needing them
    for order_id in waiting:
        rows = lines_of(ctx, order_id)
        if any(r.sku_code in exhausted for r in rows):
            continue
        attempt = session.begin_nested()
        # Claim the order first (conditional): a concurrent server of the queue skips it.
        if not set_status(ctx, order_id, expected=RS.WAITING, target=RS.RESERVED, reason="stock arrived"):
            attempt.rollback()
            continue
        lines = [domain.Line(r.sku_code, r.quantity) for r in rows]
        province = session.execute(
            sa.select(reservations.c.receiver_province).where(reservations.c.order_id == order_id)
        ).scalar_one_or_none()
        allocations, short = reserve_lines(ctx, order_id, shop_id=shop_id, lines=lines, receiver_province=province)
        if short:
            attempt.rollback()
            for s in short:
                if ledger.available(ctx, shop_id, s.sku_code) <= 0:
                    exhausted.add(s.sku_code)
            continue
        for line, warehouse in allocations:
            session.execute(
                reservation_lines.update()
                .where(reservation_lines.c.order_id == order_id, reservation_lines.c.sku_code == line.sku_code)
                .values(warehouse_code=warehouse)
            )
        attempt.commit()
        emit_reserved(ctx, order_id, shop_id=shop_id, allocations=allocations)
        served.append(order_id)
    return served
