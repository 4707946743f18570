"""The rollups, kept two ways that must agree (tests/test_handlers.py):

- **incrementally**, as each event changes a fact: `add(session, ShopDay, rows)` is one
  `INSERT ... ON CONFLICT (key) DO UPDATE SET col = col + excluded.col` for all rows of the event
  (summed per key first). The database adds: no row is read into Python and written back, so two
  consumers adding to the same shop-day never lose an update;
- **from the facts**, by `rebuild(session)`: every rollup emptied and recomputed with
  `INSERT ... SELECT ... GROUP BY` through the same upsert (`ecom analytics rebuild`).

Each rollup column is defined once, in SOURCES: the fact it counts, the day column and the
condition. An operation adds to a rollup exactly when it sets what SOURCES reads (a fact's first
`paid_at`, a new refund row, ...), which is what makes the two ways equal.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from . import domain
from .models import (
    ROLLUPS,
    BuyerDay,
    CaseFact,
    LineFact,
    OrderFact,
    RefundFact,
    ShipmentFact,
    ShopDay,
    SkuDay,
    Visit,
    VisitorDay,
)

KEYS: dict[type, tuple[str, ...]] = {
    ShopDay: ("shop_id", "day"),
    SkuDay: ("shop_id", "day", "sku_code", "category_id"),
    BuyerDay: ("shop_id", "day", "buyer_id"),
    VisitorDay: ("shop_id", "day", "visitor_id"),
}


def _insert(session: Session, table: sa.Table) -> Any:
    return (postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert)(table)


def add(session: Session, model: type, rows: Sequence[dict[str, Any]]) -> None:
    """Add the numbers of `rows` to the rollup rows of their keys, creating the missing ones: one
    statement for all rows (merged per key: one statement may not update a row twice)."""
    if not rows:
        return
    keys = KEYS[model]
    merged = sorted(domain.sum_by_key(rows, keys), key=lambda r: tuple(str(r[k]) for k in keys))
    table = model.__table__  # type: ignore[attr-defined]
    ins = _insert(session, table)
    numbers = [c for c in merged[0] if c not in keys]
    session.execute(
        ins.on_conflict_do_update(index_elements=list(keys), set_={c: table.c[c] + ins.excluded[c] for c in numbers}),
        merged,
    )


@dataclass(frozen=True)
class Source:
    """One rollup column (or several) as an aggregate of a fact table."""

    model: type
    fact: Any  # the fact's table
    day: str  # the fact's day column
    values: dict[str, Any]  # rollup column -> aggregate over the fact
    where: Any = None
    extra_keys: dict[str, Any] | None = None  # rollup key column -> fact expression


def _sources() -> list[Source]:
    o, line, r, s, c, v = (m.__table__ for m in (OrderFact, LineFact, RefundFact, ShipmentFact, CaseFact, Visit))
    count = sa.func.count()
    return [
        Source(ShopDay, o, "paid_day", {"paid_fen": sa.func.sum(o.c.paid_fen), "paid_orders": count}),
        Source(ShopDay, o, "placed_day", {"placed_orders": count}),
        Source(ShopDay, o, "cancelled_day", {"cancelled_orders": count}),
        Source(ShopDay, r, "day", {"refund_fen": sa.func.sum(r.c.amount_fen), "refunds": count}),
        Source(ShopDay, s, "dispatched_day", {"dispatched": count}, where=s.c.case_id.is_(None)),
        Source(ShopDay, s, "delivered_day", {"delivered": count}, where=s.c.case_id.is_(None)),
        Source(ShopDay, s, "stalled_day", {"stalled": count}),
        Source(ShopDay, c, "opened_day", {"cases_opened": count}, where=c.c.kind == "case"),
        Source(ShopDay, c, "opened_day", {"complaints_escalated": count}, where=c.c.kind == "complaint"),
        Source(
            SkuDay,
            line,
            "paid_day",
            {"paid_fen": sa.func.sum(line.c.paid_fen), "units": sa.func.sum(line.c.quantity), "lines": count},
            extra_keys={"sku_code": line.c.sku_code, "category_id": sa.func.coalesce(line.c.category_id, "")},
        ),
        Source(BuyerDay, o, "paid_day", {"orders": count}, extra_keys={"buyer_id": o.c.buyer_id}),
        Source(VisitorDay, v, "day", {"views": count}, extra_keys={"visitor_id": v.c.visitor_id}),
    ]


def rebuild(session: Session) -> dict[str, int]:
    """Empty every rollup and recompute it from the facts; the rows each rollup has afterwards.

    Safe while the worker projects: on PostgreSQL the rollups are locked first (EXCLUSIVE: reads go
    on, writes wait). A consumer that added to a rollup before holds its row locks until it commits,
    so the lock waits for it and the rebuild reads its facts; one that comes after waits for the
    rebuild's commit and adds to the rebuilt rows, its fact not yet visible to the rebuild."""
    if session.get_bind().dialect.name == "postgresql":
        names = ", ".join(model.__tablename__ for model in ROLLUPS)
        session.execute(sa.text(f"LOCK TABLE {names} IN EXCLUSIVE MODE"))
    for model in ROLLUPS:
        session.execute(sa.delete(model))
    for src in _sources():
        table = src.model.__table__  # type: ignore[attr-defined]
        day = src.fact.c[src.day]
        key_exprs = {"shop_id": src.fact.c.shop_id, "day": day, **(src.extra_keys or {})}
        select = sa.select(
            *(expr.label(name) for name, expr in key_exprs.items()),
            *(expr.label(name) for name, expr in src.values.items()),
        ).where(day.is_not(None))
        if src.where is not None:
            select = select.where(src.where)
        select = select.group_by(*key_exprs.values())
        ins = _insert(session, table)
        session.execute(
            ins.from_select([*key_exprs, *src.values], select).on_conflict_do_update(
                index_elements=list(KEYS[src.model]),
                set_={c: table.c[c] + ins.excluded[c] for c in src.values},
            )
        )
    return {
        model.__tablename__: session.execute(sa.select(sa.func.count()).select_from(model)).scalar_one()
        for model in ROLLUPS
    }
