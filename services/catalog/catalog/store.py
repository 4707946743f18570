"""Loading and saving catalog state for operations.py: the category tree and word list as domain
objects, a product as plain data, its guarded update with the timeline entry, its SKUs.

Every change of a product row is one conditional UPDATE (`WHERE id = :id AND status = :expected AND
version = :read`) whose rowcount is checked, so two people acting on one product at once can never
both win; the loser gets 409 and retries. Each transition writes its timeline entry in the same
transaction, and the operation records its events in that transaction too.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ecom_common.auth import Scope
from ecom_common.clock import aware
from ecom_common.db import is_unique_violation
from ecom_common.errors import ConcurrentChange, ConflictError
from ecom_common.events import Envelope, make_event
from ecom_common.usecase import Ctx

from . import compliance, domain
from .models import BannedWord, Category, Product, Sku, TimelineEntry
from .settings import Settings


# Reference data --------------------------------------------------------------------------------
def load_tree(session: Session) -> domain.CategoryTree:
    cats = session.execute(sa.select(Category)).scalars().all()
    return domain.CategoryTree(
        [
            domain.CategoryNode(
                c.id,
                c.name,
                c.parent_id,
                [domain.AttributeDef(a.name, a.type, a.required, tuple(a.options or ()), c.id) for a in c.attributes],
            )
            for c in cats
        ]
    )


def load_lexicon(session: Session) -> compliance.Lexicon:
    rows = session.execute(sa.select(BannedWord.word, BannedWord.kind)).all()
    return compliance.Lexicon(
        banned=tuple(sorted(w for w, k in rows if k == "banned")),
        exemptions=tuple(sorted(w for w, k in rows if k == "exemption")),
    )


# Who reads what (ecom_common.auth scopes) ------------------------------------------------------
def scope_of(ctx: Ctx[Settings]) -> Scope:
    """The caller's scope; the service itself (a handler, a job) sees every shop."""
    return ctx.scope if ctx.scope is not None else Scope(all_shops=True)


def own_shop(scope: Scope) -> str | None:
    """The shop whose every product (any status) this caller may change; None for platform roles
    and callers of no shop."""
    return None if scope.all_shops else scope.shop_id


def can_read(scope: Scope, product: Product) -> bool:
    """Listed products are public to every caller who may see anything (staff without a shop may
    not); the rest only within the caller's scope."""
    return not scope.nothing and (product.status == domain.LISTED or scope.allows(product.shop_id))


# Products as plain data --------------------------------------------------------------------------
def sku_dict(sku: Sku) -> dict[str, Any]:
    return {
        "sku_code": sku.sku_code,
        "spec": dict(sku.spec or {}),
        "barcode": sku.barcode,
        "weight_g": sku.weight_g,
        "list_price_fen": sku.list_price_fen,
        "promo_price_fen": sku.promo_price_fen,
        "member_price_fen": sku.member_price_fen,
        "low_stock_threshold": sku.low_stock_threshold,
        "no_7day_return": bool(sku.no_7day_return),
        "presale_ship_days": sku.presale_ship_days,
    }


def product_draft(product: Product) -> dict[str, Any]:
    """What the scan and the edit classifier look at."""
    return {
        "category_id": product.category_id,
        "title": product.title,
        "brand": product.brand,
        "description": product.description,
        "attributes": dict(product.attributes or {}),
        "images": list(product.images or []),
        "video": product.video,
        "skus": [sku_dict(s) for s in product.skus],
    }


def state_of(product: Product) -> domain.ProductState:
    return domain.ProductState(
        product.status,
        product.delist_reason,
        bool(product.review_required),
        aware(product.deleted_at),
        product.status_before_delete,
    )


def sku_prices(product: Product) -> list[dict[str, Any]]:
    """The SkuPrice payload pieces of ProductListed / PriceChanged."""
    return [
        {
            "sku_code": s.sku_code,
            "list_price_fen": s.list_price_fen,
            "promo_price_fen": s.promo_price_fen,
            "member_price_fen": s.member_price_fen,
            "low_stock_threshold": s.low_stock_threshold,
            "weight_g": s.weight_g,
        }
        for s in product.skus
    ]


def delisted_event(p: Product, reason: str, sku_codes: list[str]) -> Envelope:
    return make_event(
        "catalog.ProductDelisted", {"product_id": p.id, "shop_id": p.shop_id, "reason": reason, "sku_codes": sku_codes}
    )


def codes_taken(session: Session, shop_id: str, codes: list[str], product_id: str | None) -> list[str]:
    """SKU codes of this shop already used by another product (deleted ones included until purged)."""
    if not codes:
        return []
    stmt = sa.select(Sku.sku_code).where(Sku.shop_id == shop_id, Sku.sku_code.in_(codes))
    if product_id:
        stmt = stmt.where(Sku.product_id != product_id)
    return sorted(session.execute(stmt).scalars().all())


# Writing -----------------------------------------------------------------------------------------
def write_timeline(
    ctx: Ctx[Settings], product_id: str, t: domain.Transition, *, details: dict[str, Any] | None = None
) -> None:
    """The entry of transition `t`, by ctx's actor (with the roles they acted with), at ctx.now."""
    ctx.session.add(
        TimelineEntry(
            product_id=product_id,
            at=ctx.now,
            actor=ctx.actor.id,
            actor_roles=",".join(sorted(ctx.actor.roles)),
            action=t.action,
            from_status=t.from_status,
            to_status=t.to_status,
            reason=t.reason,
            details=details,
        )
    )


def guarded_update(session: Session, product: Product, expected_status: str, values: dict[str, Any]) -> None:
    """UPDATE the product only if nobody changed it since we read it; 409 (ConcurrentChange)
    otherwise: the caller reloads and retries."""
    result = session.execute(
        sa.update(Product)
        .where(Product.id == product.id, Product.status == expected_status, Product.version == product.version)
        .values(version=Product.version + 1, **values)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        lost = ConcurrentChange("the product was changed by someone else meanwhile; reload and retry")
        lost.errors = {"version": [f"Expected version {product.version}."]}
        raise lost
    session.expire(product)


def apply(
    ctx: Ctx[Settings],
    product: Product,
    t: domain.Transition,
    *,
    extra: dict[str, Any] | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """Transition `t` as one guarded UPDATE (with `extra` columns) and its timeline entry."""
    assert t.from_status is not None, "a transition of an existing product starts from its status"
    values = {"status": t.to_status, "updated_at": ctx.now, **t.changes, **(extra or {})}
    product_id = product.id
    guarded_update(ctx.session, product, t.from_status, values)
    write_timeline(ctx, product_id, t, details=details)


def replace_skus(session: Session, product: Product, skus: list[dict[str, Any]]) -> None:
    """Upsert by code: kept codes are updated in place (their low-stock alerts stay), new ones are
    added, missing ones removed."""
    existing = {
        s.sku_code: s for s in session.execute(sa.select(Sku).where(Sku.product_id == product.id)).scalars().all()
    }
    wanted = {s["sku_code"] for s in skus}
    for code, row in existing.items():
        if code not in wanted:
            session.delete(row)
    session.flush()
    for position, data in enumerate(skus):
        row = existing.get(data["sku_code"])
        if row is None:
            row = Sku(product_id=product.id, shop_id=product.shop_id, sku_code=data["sku_code"])
            session.add(row)
        row.spec = dict(data.get("spec") or {})
        row.barcode = data.get("barcode")
        row.weight_g = data.get("weight_g")
        row.list_price_fen = data["list_price_fen"]
        row.promo_price_fen = data.get("promo_price_fen")
        row.member_price_fen = data.get("member_price_fen")
        row.low_stock_threshold = data.get("low_stock_threshold", 10)
        row.no_7day_return = bool(data.get("no_7day_return", False))
        row.presale_ship_days = data.get("presale_ship_days")
        row.position = position
    try:
        session.flush()
    except sa.exc.IntegrityError as exc:
        # Another product of the shop took one of these codes between our check and this insert.
        if is_unique_violation(exc):
            raise ConflictError("a SKU code of this product was taken meanwhile", {"skus": ["sku_code_taken"]}) from exc
        raise
    session.expire(product, ["skus"])
