"""The stock rows and their ledger: every change of stock, done by the database, atomically, with its
ledger row. operations.py builds the use cases from these; like them, nothing here commits.

Every quantity change is ONE conditional UPDATE whose WHERE clause is the stock invariant itself
(on_hand >= 0, reserved >= 0, reserved <= on_hand after the change). If the row would break it the
update matches nothing (rowcount 0) and nothing moves: two buyers can never both take the last unit,
whatever the interleaving. Nothing is read into Python and written back.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

import sqlalchemy as sa

from ecom_common.db import is_unique_violation
from ecom_common.events import make_event
from ecom_common.usecase import Ctx

from . import domain
from .domain import Movement
from .models import StockItem, StockMovement, StockPolicy
from .settings import Settings

items = StockItem.__table__
movements = StockMovement.__table__

# The statements of the reservation path, built once. Building a SQLAlchemy statement costs more
# client CPU than executing it (about 0.4 ms for the stock UPDATE against 0.07 ms to run it once
# built, whose compiled form and cache key are then reused): a flash sale runs these for every
# order. Values travel as bound parameters, exactly as when the statement is built per call.
# docs/perf-log.md, "Statements built once". (operations.py builds the reservation rows' ones.)
_item, _shop, _sku = sa.bindparam("b_item_id"), sa.bindparam("b_shop_id"), sa.bindparam("b_sku_code")
_dh, _dr = sa.bindparam("b_dh", type_=sa.Integer), sa.bindparam("b_dr", type_=sa.Integer)
_now = sa.bindparam("b_now", type_=items.c.updated_at.type)
STOCK_ROW = (
    items.c.id,
    items.c.shop_id,
    items.c.sku_code,
    items.c.warehouse_code,
    items.c.on_hand,
    items.c.reserved,
    items.c.low_stock_threshold,
    items.c.low_alerted,
)
# The stock invariant is the WHERE clause: a change that would break it matches nothing.
MOVE_STOCK = (
    items.update()
    .where(
        items.c.id == _item,
        items.c.on_hand + _dh >= 0,
        items.c.reserved + _dr >= 0,
        items.c.reserved + _dr <= items.c.on_hand + _dh,
    )
    .values(on_hand=items.c.on_hand + _dh, reserved=items.c.reserved + _dr, updated_at=_now)
    .returning(*STOCK_ROW)
)
AVAILABLE = sa.select(sa.func.coalesce(sa.func.sum(items.c.on_hand - items.c.reserved), 0)).where(
    items.c.shop_id == _shop, items.c.sku_code == _sku, items.c.sellable.is_(True)
)
WAREHOUSES = (
    sa.select(items.c.id, items.c.warehouse_code)
    .where(items.c.shop_id == _shop, items.c.sku_code == _sku)
    .order_by(items.c.warehouse_code)
)
WRITE_LEDGER = movements.insert().returning(movements.c.id)  # the row's values as parameters


class StockKey(NamedTuple):
    """A stock row's identity: a SKU code is unique per shop, stock is per warehouse."""

    shop_id: str
    sku_code: str
    warehouse_code: str


@dataclass(frozen=True)
class Entry:
    """One row of the stock ledger before it is written: what moves and why (`cause` order:<id>,
    case:<id>, adjustment:<kind>, product:<id>; `reference` shipment:<id>, a purchase order...)."""

    kind: str
    on_hand_delta: int
    reserved_delta: int
    cause: str
    reason: str | None = None
    reference: str | None = None


class Moved(NamedTuple):
    row: Any  # the stock row after the change (STOCK_ROW)
    movement_id: int  # its ledger row


# Readings kept for the transaction --------------------------------------------------------------
def read_once(ctx: Ctx[Settings]) -> dict:
    """Readings kept for the rest of this transaction. A consumer handles a backlog several events
    per transaction (ecom_common.consumer, "Batches"): in a flash sale that is many orders of the
    same SKU, which need the SKU's stock items and the shop's shortage policy read only once.
    Quantities are never kept: every change is still a conditional UPDATE of the row."""
    session = ctx.session
    transaction = session.get_transaction()
    kept = session.info.get("inventory.read_once")
    if kept is None or kept[0] is not transaction:
        kept = (transaction, {})
        session.info["inventory.read_once"] = kept
    return kept[1]


def warehouses_of(ctx: Ctx[Settings], shop_id: str, sku_code: str) -> list[tuple[int, str]]:
    """(item id, warehouse code) of a SKU's stock items, in warehouse-code order (the lock order).
    Read once per transaction (`ensure_item`, the one place that creates items, forgets it)."""
    kept = read_once(ctx)
    key = ("warehouses", shop_id, sku_code)
    if key not in kept:
        rows = ctx.session.execute(WAREHOUSES, {"b_shop_id": shop_id, "b_sku_code": sku_code}).all()
        kept[key] = [(r.id, r.warehouse_code) for r in rows]
    return list(kept[key])


def shortage_policy(ctx: Ctx[Settings], shop_id: str) -> str:
    """The shop's policy, read once per transaction: a change made meanwhile applies from the
    consumer's next transaction (a batch is a fraction of a second)."""
    kept = read_once(ctx)
    key = ("policy", shop_id)
    if key not in kept:
        kept[key] = ctx.session.execute(
            sa.select(StockPolicy.shortage_policy).where(StockPolicy.shop_id == shop_id)
        ).scalar_one_or_none()
    return kept[key] or ctx.settings.default_shortage_policy


def available(ctx: Ctx[Settings], shop_id: str, sku_code: str) -> int:
    """Available units over all warehouses (a reading for reports and shortage messages only)."""
    return int(ctx.session.execute(AVAILABLE, {"b_shop_id": shop_id, "b_sku_code": sku_code}).scalar_one())


def available_in(ctx: Ctx[Settings], item: int) -> int:
    """Available units of one stock row (a reading for messages only)."""
    return int(
        ctx.session.execute(sa.select(items.c.on_hand - items.c.reserved).where(items.c.id == item)).scalar_one()
    )


def _the_item(key: StockKey) -> sa.Select:
    return sa.select(items.c.id).where(
        items.c.shop_id == key.shop_id, items.c.sku_code == key.sku_code, items.c.warehouse_code == key.warehouse_code
    )


def item_id(ctx: Ctx[Settings], key: StockKey) -> int | None:
    """The id of the stock row, None when it does not exist."""
    return ctx.session.execute(_the_item(key)).scalar_one_or_none()


# Stock items -----------------------------------------------------------------------------------
def ensure_item(
    ctx: Ctx[Settings],
    key: StockKey,
    *,
    cause: str,
    threshold: int | None = None,
    threshold_as_of: datetime | None = None,
) -> int:
    """The id of the stock item, created with 0 on hand when missing (a SKU the shop already has
    stock items for, received into a new warehouse). UnknownSkuError when the shop has no stock item
    for the SKU at all and no threshold is given."""
    session = ctx.session
    found = item_id(ctx, key)
    if found is not None:
        return found
    if threshold is None:
        threshold = session.execute(
            sa.select(sa.func.max(items.c.low_stock_threshold)).where(
                items.c.shop_id == key.shop_id, items.c.sku_code == key.sku_code
            )
        ).scalar_one_or_none()
        if threshold is None:
            raise domain.UnknownSkuError(key.sku_code)
    now = ctx.now
    read_once(ctx).pop(("warehouses", key.shop_id, key.sku_code), None)
    try:
        with session.begin_nested():
            new_id = session.execute(
                items.insert()
                .values(
                    shop_id=key.shop_id,
                    sku_code=key.sku_code,
                    warehouse_code=key.warehouse_code,
                    on_hand=0,
                    reserved=0,
                    low_stock_threshold=threshold,
                    threshold_as_of=threshold_as_of,
                    sellable=True,
                    # Born empty: no alert until it has been stocked above the threshold once.
                    low_alerted=True,
                    created_at=now,
                    updated_at=now,
                )
                .returning(items.c.id)
            ).scalar_one()
            write_ledger(ctx, key, Entry(Movement.CREATE, 0, 0, cause))
            return new_id
    except sa.exc.IntegrityError as exc:
        if not is_unique_violation(exc):
            raise
    # Created by a concurrent transaction meanwhile.
    return session.execute(_the_item(key)).scalar_one()


# Movements -------------------------------------------------------------------------------------
def write_ledger(ctx: Ctx[Settings], key: StockKey, entry: Entry) -> int:
    """Write one ledger row; its id."""
    return ctx.session.execute(
        WRITE_LEDGER,
        dict(
            shop_id=key.shop_id,
            sku_code=key.sku_code,
            warehouse_code=key.warehouse_code,
            kind=entry.kind,
            on_hand_delta=entry.on_hand_delta,
            reserved_delta=entry.reserved_delta,
            cause=entry.cause[:200],
            actor=ctx.actor.id[:120],
            reason=(entry.reason or None) and entry.reason[:500],
            reference=entry.reference and entry.reference[:200],
            created_at=ctx.now,
        ),
    ).scalar_one()


def note(ctx: Ctx[Settings], key: StockKey, *, cause: str, reason: str, reference: str | None = None) -> int:
    """A ledger row that moves nothing (e.g. a return that cannot be resold)."""
    return write_ledger(ctx, key, Entry(Movement.NOTE, 0, 0, cause, reason, reference))


def move(ctx: Ctx[Settings], item: int, entry: Entry) -> Moved | None:
    """Apply one movement to one stock row if, and only if, the row stays valid; write its ledger
    row and check the low-stock alert. Returns the row after the change with its ledger row's id,
    or None when the condition failed (nothing changed)."""
    dh, dr = int(entry.on_hand_delta), int(entry.reserved_delta)
    row = ctx.session.execute(MOVE_STOCK, {"b_item_id": item, "b_dh": dh, "b_dr": dr, "b_now": ctx.now}).first()
    if row is None:
        return None
    if (dh, dr) != (entry.on_hand_delta, entry.reserved_delta):
        entry = Entry(entry.kind, dh, dr, entry.cause, entry.reason, entry.reference)
    movement_id = write_ledger(ctx, StockKey(row.shop_id, row.sku_code, row.warehouse_code), entry)
    check_low_stock(ctx, row)
    return Moved(row, movement_id)


def check_low_stock(ctx: Ctx[Settings], row: Any) -> None:
    # The row is locked by the update that just changed it (until this transaction ends), so
    # reading its flag and writing it back cannot race with another movement of the same row.
    available = row.on_hand - row.reserved
    signal = domain.low_stock_signal(bool(row.low_alerted), available, row.low_stock_threshold)
    if signal is None:
        return
    alerted = signal == domain.LowStockSignal.ALERT
    ctx.session.execute(items.update().where(items.c.id == row.id).values(low_alerted=alerted))
    if alerted:
        ctx.record(
            make_event(
                "inventory.LowStock",
                {
                    "sku_code": row.sku_code,
                    "shop_id": row.shop_id,
                    "available": available,
                    "threshold": row.low_stock_threshold,
                    "warehouse_code": row.warehouse_code,
                },
            )
        )


def recheck_low_stock(ctx: Ctx[Settings], shop_id: str, sku_code: str) -> None:
    """After a threshold change: alert or re-arm by the new threshold."""
    for item, _ in warehouses_of(ctx, shop_id, sku_code):
        row = ctx.session.execute(
            items.update().where(items.c.id == item).values(updated_at=ctx.now).returning(*STOCK_ROW)
        ).first()
        check_low_stock(ctx, row)
