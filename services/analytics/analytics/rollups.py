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
    BreachFact,
    BreakdownDay,
    BuyerDay,
    CampaignDay,
    CaseFact,
    DiscountFact,
    LineFact,
    OrderFact,
    RefundFact,
    ReviewFact,
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
    BreakdownDay: ("shop_id", "day", "metric", "label"),
    CampaignDay: ("shop_id", "day", "source", "ref"),
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
    consts: dict[str, str] | None = None  # rollup key column -> a fixed value (a breakdown's metric)


def _true(column: Any) -> Any:
    """1 for a row whose flag is true, else 0 (a NULL flag: not known, not counted)."""
    return sa.func.sum(sa.case((column.is_(True), 1), else_=0))


def _breakdown(fact: Any, day: str, metric: str, label: Any, where: Any = None) -> Source:
    """A breakdown rollup's count of `metric` by `label`."""
    label_key = {"label": sa.func.coalesce(label, "")}
    return Source(BreakdownDay, fact, day, {"count": sa.func.count()}, where, label_key, {"metric": metric})


def _sources() -> list[Source]:
    o, line, r, s, c, v = (m.__table__ for m in (OrderFact, LineFact, RefundFact, ShipmentFact, CaseFact, Visit))
    rv, b, d = (m.__table__ for m in (ReviewFact, BreachFact, DiscountFact))
    count = sa.func.count()
    own = s.c.case_id.is_(None)  # the order's own parcels, not an exchange's replacement
    complaint = c.c.kind == "complaint"
    return [
        Source(ShopDay, o, "paid_day", {"paid_fen": sa.func.sum(o.c.paid_fen), "paid_orders": count}),
        Source(ShopDay, o, "placed_day", {"placed_orders": count}),
        Source(ShopDay, o, "cancelled_day", {"cancelled_orders": count}),
        Source(ShopDay, r, "day", {"refund_fen": sa.func.sum(r.c.amount_fen), "refunds": count}),
        Source(
            ShopDay,
            s,
            "dispatched_day",
            {
                "dispatched": count,
                "dispatch_due": sa.func.count(s.c.dispatched_on_time),
                "dispatched_on_time": _true(s.c.dispatched_on_time),
                "dispatch_timed": sa.func.count(s.c.paid_to_dispatch_s),
                "dispatch_seconds": sa.func.coalesce(sa.func.sum(s.c.paid_to_dispatch_s), 0),
            },
            where=own,
        ),
        Source(
            ShopDay,
            s,
            "delivered_day",
            {
                "delivered": count,
                "delivered_timed": sa.func.count(s.c.delivered_on_time),
                "delivered_on_time": _true(s.c.delivered_on_time),
            },
            where=own,
        ),
        Source(ShopDay, s, "stalled_day", {"stalled": count}),
        _breakdown(s, "dispatched_day", "carrier_dispatched", s.c.carrier, own),
        _breakdown(
            s, "delivered_day", "carrier_delivered_timed", s.c.carrier, own & s.c.delivered_on_time.is_not(None)
        ),
        _breakdown(s, "delivered_day", "carrier_delivered_on_time", s.c.carrier, own & s.c.delivered_on_time.is_(True)),
        _breakdown(s, "stalled_day", "carrier_stalled", s.c.carrier),
        Source(ShopDay, c, "opened_day", {"cases_opened": count}, where=c.c.kind == "case"),
        _breakdown(c, "opened_day", "case_type", c.c.case_type, c.c.kind == "case"),
        Source(ShopDay, c, "filed_day", {"complaints_filed": count}, where=complaint),
        _breakdown(c, "filed_day", "complaint_tier", c.c.tier, complaint),
        Source(ShopDay, c, "escalated_day", {"complaints_escalated": count}, where=complaint),
        _breakdown(c, "escalated_day", "escalated_tier", c.c.tier, complaint),
        Source(ShopDay, b, "day", {"sla_breaches": count}),
        _breakdown(b, "day", "sla_breach", b.c.kind),
        Source(
            ShopDay,
            rv,
            "day",
            {
                "reviews": count,
                "stars_sum": sa.func.sum(rv.c.stars),
                "nps_scores": sa.func.count(rv.c.nps),
                "promoters": sa.func.sum(sa.case((rv.c.nps >= domain.PROMOTER_MIN, 1), else_=0)),
                "detractors": sa.func.sum(sa.case((rv.c.nps <= domain.DETRACTOR_MAX, 1), else_=0)),
            },
        ),
        Source(
            SkuDay,
            line,
            "paid_day",
            {"paid_fen": sa.func.sum(line.c.paid_fen), "units": sa.func.sum(line.c.quantity), "lines": count},
            extra_keys={"sku_code": line.c.sku_code, "category_id": sa.func.coalesce(line.c.category_id, "")},
        ),
        Source(BuyerDay, o, "paid_day", {"orders": count}, extra_keys={"buyer_id": o.c.buyer_id}),
        Source(VisitorDay, v, "day", {"views": count}, extra_keys={"visitor_id": v.c.visitor_id}),
        Source(
            CampaignDay,
            d,
            "paid_day",
            {
                "orders": count,
                "attributed_fen": sa.func.sum(d.c.order_paid_fen),
                "spend_fen": sa.func.sum(d.c.amount_fen),
            },
            extra_keys={"source": d.c.source, "ref": d.c.ref},
        ),
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
        consts = {name: sa.cast(sa.literal(value), sa.String) for name, value in (src.consts or {}).items()}
        select = sa.select(
            *(expr.label(name) for name, expr in key_exprs.items()),
            *(expr.label(name) for name, expr in consts.items()),
            *(expr.label(name) for name, expr in src.values.items()),
        ).where(day.is_not(None))
        if src.where is not None:
            select = select.where(src.where)
        select = select.group_by(*key_exprs.values())
        ins = _insert(session, table)
        session.execute(
            ins.from_select([*key_exprs, *consts, *src.values], select).on_conflict_do_update(
                index_elements=list(KEYS[src.model]),
                set_={c: table.c[c] + ins.excluded[c] for c in src.values},
            )
        )
    return {
        model.__tablename__: session.execute(sa.select(sa.func.count()).select_from(model)).scalar_one()
        for model in ROLLUPS
    }
