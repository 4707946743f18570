"""Warehouses of a shop (where each is, what a parcel from it costs per destination) and what the
reservation path reads of them to choose where an order is served from. Like operations.py, nothing
here commits; rules come from domain.py (provinces, regions, cost tables, the choice itself)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from ecom_common.db import is_unique_violation
from ecom_common.errors import ConflictError, NotFound, RuleViolation
from ecom_common.usecase import Ctx

from . import domain, ledger
from .models import StockItem, Warehouse
from .settings import Settings

warehouses = Warehouse.__table__
items = StockItem.__table__


@dataclass(frozen=True)
class WarehouseSpec:
    """What ops say about a warehouse (POST: every field but `active`; PATCH: any of them)."""

    name: str | None = None
    province: str | None = None
    active: bool | None = None
    costs: dict[str, int] | None = None


def _row(ctx: Ctx[Settings], shop_id: str, code: str, *, lock: bool = False) -> Warehouse:
    stmt = sa.select(Warehouse).where(Warehouse.shop_id == shop_id, Warehouse.code == code)
    if lock:
        stmt = stmt.with_for_update()
    found = ctx.session.execute(stmt.execution_options(populate_existing=True)).scalar_one_or_none()
    if found is None:
        raise NotFound("warehouse not found")
    return found


def list_warehouses(ctx: Ctx[Settings], shop_id: str) -> dict[str, Any]:
    rows = (
        ctx.session.execute(sa.select(Warehouse).where(Warehouse.shop_id == shop_id).order_by(Warehouse.code))
        .scalars()
        .all()
    )
    return {"shop_id": shop_id, "items": list(rows)}


def get_warehouse(ctx: Ctx[Settings], shop_id: str, code: str) -> Warehouse:
    return _row(ctx, shop_id, code)


def create_warehouse(ctx: Ctx[Settings], shop_id: str, code: str, spec: WarehouseSpec) -> Warehouse:
    """A new warehouse (active). 409 when the shop has one with this code; 422 for an unknown
    province or cost destination."""
    province = domain.require_province(spec.province)
    costs = domain.normalise_costs(spec.costs)
    now = ctx.now
    try:
        with ctx.session.begin_nested():
            ctx.session.execute(
                warehouses.insert().values(
                    shop_id=shop_id,
                    code=code,
                    name=spec.name or code,
                    province=province,
                    active=True if spec.active is None else spec.active,
                    costs=costs,
                    updated_by=ctx.actor.id[:120],
                    created_at=now,
                    updated_at=now,
                )
            )
    except sa.exc.IntegrityError as exc:
        if not is_unique_violation(exc):
            raise
        raise ConflictError(f"warehouse {code} exists", {"code": [f"{code} exists."]}) from None
    return _row(ctx, shop_id, code)


def update_warehouse(ctx: Ctx[Settings], shop_id: str, code: str, spec: WarehouseSpec) -> Warehouse:
    """Change name, province, active or the whole cost table (what is given)."""
    row = _row(ctx, shop_id, code, lock=True)
    values: dict[str, Any] = {}
    if spec.name is not None:
        values["name"] = spec.name
    if spec.province is not None:
        values["province"] = domain.require_province(spec.province)
    if spec.active is not None:
        values["active"] = spec.active
    if spec.costs is not None:
        values["costs"] = domain.normalise_costs(spec.costs)
    if values:
        ctx.session.execute(
            warehouses.update()
            .where(warehouses.c.shop_id == shop_id, warehouses.c.code == code)
            .values(**values, updated_by=ctx.actor.id[:120], updated_at=ctx.now)
        )
    return _row(ctx, row.shop_id, row.code)


def delete_warehouse(ctx: Ctx[Settings], shop_id: str, code: str) -> None:
    """Forget a warehouse that holds nothing (422 while any unit is on hand there: transfer it out
    or deactivate the warehouse instead). Its stock rows and ledger stay."""
    _row(ctx, shop_id, code, lock=True)
    held = ctx.session.execute(
        sa.select(sa.func.coalesce(sa.func.sum(items.c.on_hand), 0)).where(
            items.c.shop_id == shop_id, items.c.warehouse_code == code
        )
    ).scalar_one()
    if held:
        raise RuleViolation(
            f"warehouse {code} still holds {held} units", {"code": [f"{held} units on hand; transfer them first."]}
        )
    ctx.session.execute(warehouses.delete().where(warehouses.c.shop_id == shop_id, warehouses.c.code == code))


# What the reservation path reads -----------------------------------------------------------------
def places(ctx: Ctx[Settings], shop_id: str) -> dict[str, Any]:
    """{code: warehouses row} of the shop's registered warehouses, read once per transaction."""
    kept = ledger.read_once(ctx)
    key = ("places", shop_id)
    if key not in kept:
        rows = ctx.session.execute(sa.select(warehouses).where(warehouses.c.shop_id == shop_id)).all()
        kept[key] = {r.code: r for r in rows}
    return dict(kept[key])


def inactive_codes(ctx: Ctx[Settings], shop_id: str) -> set[str]:
    return {code for code, r in places(ctx, shop_id).items() if not r.active}


def sites_for(ctx: Ctx[Settings], shop_id: str, lines: list[domain.Line]) -> list[domain.Site]:
    """The shop's active warehouses holding any of the lines' SKUs, with what is available there now
    (a reading to choose by; taking the units is still the conditional update)."""
    registered = places(ctx, shop_id)
    rows = ctx.session.execute(
        sa.select(items.c.warehouse_code, items.c.sku_code, (items.c.on_hand - items.c.reserved).label("available"))
        .where(
            items.c.shop_id == shop_id,
            items.c.sku_code.in_([line.sku_code for line in lines]),
            items.c.sellable.is_(True),
        )
        .order_by(items.c.warehouse_code, items.c.sku_code)
    ).all()
    stock: dict[str, list[tuple[str, int]]] = {}
    for r in rows:
        stock.setdefault(r.warehouse_code, []).append((r.sku_code, int(r.available)))
    sites = []
    for code, available in stock.items():
        place = registered.get(code)
        if place is not None and not place.active:
            continue
        sites.append(
            domain.Site(
                code=code,
                province=place.province if place is not None else None,
                costs=tuple(sorted((place.costs or {}).items())) if place is not None else (),
                available=tuple(available),
            )
        )
    return sites
