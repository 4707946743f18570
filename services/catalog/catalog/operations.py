"""Loading and saving catalog state for the API, the handlers and the jobs.

Every change of a product row is one conditional UPDATE (`WHERE id = :id AND status = :expected AND
version = :read`) whose rowcount is checked, so two people acting on one product at once can never
both win; the loser gets 409 and retries. Each transition writes its timeline entry in the same
transaction, and the caller records its events in that transaction too.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ecom_common.clock import aware as _aware
from ecom_common.db import is_unique_violation
from ecom_common.errors import ConflictError
from ecom_common.events import make_event

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


# Products as plain data --------------------------------------------------------------------------
def sku_dict(sku: Sku) -> dict:
    return {
        "sku_code": sku.sku_code,
        "spec": dict(sku.spec or {}),
        "barcode": sku.barcode,
        "weight_g": sku.weight_g,
        "list_price_fen": sku.list_price_fen,
        "promo_price_fen": sku.promo_price_fen,
        "member_price_fen": sku.member_price_fen,
        "low_stock_threshold": sku.low_stock_threshold,
    }


def product_draft(product: Product) -> dict:
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
        _aware(product.deleted_at),
        product.status_before_delete,
    )


def sku_prices(product: Product) -> list[dict]:
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
    session: Session,
    product_id: str,
    now: datetime,
    actor: str,
    roles,
    action: str,
    from_status: str | None,
    to_status: str,
    reason: str | None = None,
    details: dict | None = None,
) -> None:
    session.add(
        TimelineEntry(
            product_id=product_id,
            at=now,
            actor=actor,
            actor_roles=",".join(sorted(roles or ())),
            action=action,
            from_status=from_status,
            to_status=to_status,
            reason=reason,
            details=details,
        )
    )


def guarded_update(session: Session, product: Product, expected_status: str, values: dict) -> None:
    """UPDATE the product only if nobody changed it since we read it; 409 otherwise."""
    result = session.execute(
        sa.update(Product)
        .where(Product.id == product.id, Product.status == expected_status, Product.version == product.version)
        .values(version=Product.version + 1, **values)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        raise ConflictError(
            "the product was changed by someone else meanwhile; reload and retry",
            {"version": [f"Expected version {product.version}."]},
        )
    session.expire(product)


def apply(
    session: Session,
    product: Product,
    t: domain.Transition,
    now: datetime,
    actor: str,
    roles,
    extra: dict | None = None,
    details: dict | None = None,
) -> None:
    values = {"status": t.to_status, "updated_at": now, **t.changes, **(extra or {})}
    product_id, from_status = product.id, t.from_status
    guarded_update(session, product, t.from_status, values)
    write_timeline(session, product_id, now, actor, roles, t.action, from_status, t.to_status, t.reason, details)


def replace_skus(session: Session, product: Product, skus: list[dict]) -> None:
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
        row.position = position
    try:
        session.flush()
    except sa.exc.IntegrityError as exc:
        # Another product of the shop took one of these codes between our check and this insert.
        if is_unique_violation(exc):
            raise ConflictError("a SKU code of this product was taken meanwhile", {"skus": ["sku_code_taken"]}) from exc
        raise
    session.expire(product, ["skus"])


# Events --------------------------------------------------------------------------------------------
def ev_submitted(p: Product):
    return make_event("catalog.ProductSubmitted", {"product_id": p.id, "shop_id": p.shop_id, "title": p.title})


def ev_approved(p: Product, reviewer: str):
    return make_event("catalog.ProductApproved", {"product_id": p.id, "shop_id": p.shop_id, "reviewer": reviewer})


def ev_rejected(p: Product, reason: str):
    return make_event("catalog.ProductRejected", {"product_id": p.id, "shop_id": p.shop_id, "reason": reason})


def ev_listed(p: Product):
    return make_event(
        "catalog.ProductListed",
        {
            "product_id": p.id,
            "shop_id": p.shop_id,
            "title": p.title,
            "category_id": p.category_id,
            "skus": sku_prices(p),
        },
    )


def ev_delisted(p: Product, reason: str, sku_codes: list[str]):
    return make_event(
        "catalog.ProductDelisted", {"product_id": p.id, "shop_id": p.shop_id, "reason": reason, "sku_codes": sku_codes}
    )


def ev_deleted(p: Product):
    return make_event(
        "catalog.ProductDeleted", {"product_id": p.id, "shop_id": p.shop_id, "sku_codes": [s.sku_code for s in p.skus]}
    )


def ev_restored(p: Product):
    return make_event("catalog.ProductRestored", {"product_id": p.id, "shop_id": p.shop_id, "status": p.status})


def ev_price_changed(p: Product):
    return make_event("catalog.PriceChanged", {"product_id": p.id, "shop_id": p.shop_id, "skus": sku_prices(p)})


# Views ---------------------------------------------------------------------------------------------
def sku_view(product: Product, sku: Sku) -> dict:
    """The SKU read model other services rely on (docs/interfaces.md)."""
    return {
        "sku_code": sku.sku_code,
        "shop_id": sku.shop_id,
        "product_id": product.id,
        "title": product.title,
        "category_id": product.category_id,
        "product_status": product.status,
        "sellable": product.status == domain.LISTED,
        "list_price_fen": sku.list_price_fen,
        "promo_price_fen": sku.promo_price_fen,
        "member_price_fen": sku.member_price_fen,
        "price_fen": domain.effective_price(sku.list_price_fen, sku.promo_price_fen),
        "weight_g": sku.weight_g,
        "low_stock_threshold": sku.low_stock_threshold,
        "spec": dict(sku.spec or {}),
        "barcode": sku.barcode,
    }


def product_view(product: Product, tree: domain.CategoryTree, now: datetime, rules: Settings) -> dict:
    return {
        "product_id": product.id,
        "shop_id": product.shop_id,
        "category_id": product.category_id,
        "category_path": tree.path(product.category_id),
        "title": product.title,
        "brand": product.brand,
        "description": product.description,
        "attributes": dict(product.attributes or {}),
        "images": list(product.images or []),
        "video": product.video,
        "status": product.status,
        "version": product.version,
        "delist_reason": product.delist_reason,
        "review_required": bool(product.review_required),
        "sellable": product.status == domain.LISTED,
        "attribute_completeness": compliance.attribute_completeness(tree, product.category_id, product.attributes),
        "submitted_at": product.submitted_at,
        "review_due_at": product.review_due_at,
        "review_overdue": product.status == domain.PENDING and domain.is_overdue(_aware(product.review_due_at), now),
        "reviewed_at": product.reviewed_at,
        "reviewed_by": product.reviewed_by,
        "reject_reason": product.reject_reason,
        "listed_at": product.listed_at,
        "deleted_at": product.deleted_at,
        "restorable_until": domain.restorable_until(_aware(product.deleted_at), rules),
        "created_by": product.created_by,
        "created_at": product.created_at,
        "updated_at": product.updated_at,
        "skus": [
            {
                **sku_dict(s),
                "price_fen": domain.effective_price(s.list_price_fen, s.promo_price_fen),
                "low_stock_available": s.low_stock_available,
                "low_stock_alert_at": s.low_stock_alert_at,
            }
            for s in product.skus
        ],
    }
