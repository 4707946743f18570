"""Transfers between two warehouses of one shop: units of a SKU leave one and arrive in the other, as
a pair of ledger rows sharing the cause `transfer:<id>`. Like operations.py, nothing here commits:
the caller's unit of work makes the pair atomic (a failed half rolls the other back).

Both halves are conditional UPDATEs (ledger.move): the source gives only units that are available
(`on_hand - n >= reserved`: promised units never move), nothing ever goes negative. Two existing rows
are updated in warehouse-code order, so two opposite transfers of one SKU cannot deadlock each other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from ecom_common.errors import RuleViolation
from ecom_common.ids import new_id
from ecom_common.usecase import Ctx

from . import domain, ledger, reservations, warehouses
from .domain import Movement
from .ledger import Entry, StockKey
from .models import StockItem, StockMovement
from .settings import Settings


@dataclass(frozen=True)
class Transfer:
    sku_code: str
    from_warehouse: str
    to_warehouse: str
    quantity: int
    reason: str | None = None
    reference: str | None = None


def transfer(ctx: Ctx[Settings], shop_id: str, move: Transfer) -> dict[str, Any]:
    """Move `quantity` available units of a SKU from one warehouse of the shop to another.
    UnknownSkuError when the shop has no stock of the SKU; RuleViolation (422) for the same warehouse
    twice, a source without the SKU or without enough available units, an inactive destination."""
    if move.from_warehouse == move.to_warehouse:
        raise RuleViolation("a transfer needs two warehouses", {"to_warehouse": ["Same as from_warehouse."]})
    if move.quantity < 1:
        raise RuleViolation("a transfer moves at least 1 unit", {"quantity": ["At least 1."]})
    source = ledger.item_id(ctx, StockKey(shop_id, move.sku_code, move.from_warehouse))
    if source is None:
        if not ledger.warehouses_of(ctx, shop_id, move.sku_code):
            raise domain.UnknownSkuError(move.sku_code)
        raise RuleViolation(
            f"{move.from_warehouse} holds no {move.sku_code}", {"from_warehouse": [f"No {move.sku_code} there."]}
        )
    if move.to_warehouse in warehouses.inactive_codes(ctx, shop_id):
        raise RuleViolation(
            f"warehouse {move.to_warehouse} is inactive", {"to_warehouse": [f"{move.to_warehouse} is inactive."]}
        )
    transfer_id = new_id("T", ctx.now)
    cause = f"transfer:{transfer_id}"
    out = Entry(Movement.TRANSFER_OUT, -move.quantity, 0, cause, move.reason, move.reference)
    into = Entry(Movement.TRANSFER_IN, move.quantity, 0, cause, move.reason, move.reference)
    target_key = StockKey(shop_id, move.sku_code, move.to_warehouse)
    target = ledger.item_id(ctx, target_key)
    if target is None:
        # A new destination row: take the units first, then create the row (nobody else can hold a
        # lock on a row that does not exist yet, so the lock order does not matter here).
        halves = [(source, out), (None, into)]
    else:  # both rows exist: update them in warehouse-code order, one lock order for everyone
        halves = [
            (item, entry)
            for _, item, entry in sorted([(move.from_warehouse, source, out), (move.to_warehouse, target, into)])
        ]
    moved: dict[str, ledger.Moved] = {}
    for item, entry in halves:
        done = ledger.move(ctx, item if item is not None else ledger.ensure_item(ctx, target_key, cause=cause), entry)
        if done is None:  # only the source half can fail: not enough available units
            available = ledger.available_in(ctx, source)
            raise RuleViolation(
                f"only {available} of {move.sku_code} available in {move.from_warehouse}",
                {"quantity": [f"At most {max(available, 0)}."]},
            )
        moved[entry.kind] = done
    # The destination may now serve a waiting order whose line no single warehouse could cover.
    served = reservations.serve_waiting(ctx, shop_id, [move.sku_code])
    return _answer(ctx, shop_id, move, moved, {"transfer_id": transfer_id, "served_orders": served})


def _answer(
    ctx: Ctx[Settings], shop_id: str, move: Transfer, moved: dict[str, ledger.Moved], done: dict[str, Any]
) -> dict[str, Any]:
    """The answer, read in the transaction (the two rows are locked by the moves)."""
    session = ctx.session
    rows = {
        r.warehouse_code: r
        for r in session.execute(
            sa.select(StockItem)
            .where(
                StockItem.shop_id == shop_id,
                StockItem.sku_code == move.sku_code,
                StockItem.warehouse_code.in_([move.from_warehouse, move.to_warehouse]),
            )
            .execution_options(populate_existing=True)
        ).scalars()
    }
    movements = [
        session.get(StockMovement, moved[kind].movement_id, populate_existing=True)
        for kind in (Movement.TRANSFER_OUT, Movement.TRANSFER_IN)
    ]
    return {
        **done,
        "shop_id": shop_id,
        "sku_code": move.sku_code,
        "from_warehouse": move.from_warehouse,
        "to_warehouse": move.to_warehouse,
        "quantity": move.quantity,
        "from_stock": rows[move.from_warehouse],
        "to_stock": rows[move.to_warehouse],
        "movements": movements,
    }
