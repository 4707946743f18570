"""What every catalog view shares: the shop a merchant acts for, and a product rendered as its
caller may see it (ProductOut). The use cases, with who may act on which product, are in
operations.py.

Who may do what (CONTRACTS.md roles):
- `ops` with a shop_id creates, edits, submits, withdraws, delists, relists, deletes and restores the
  products of their own shop;
- `reviewer` works the review queue (approve / reject) and may delist any product (a takedown);
- `admin` manages categories and banned words, and may delist any product;
- everyone authenticated reads. Platform roles (admin, reviewer, service, finance without a shop) see
  every product; merchant staff see their own shop's products in every status and other shops' only
  when listed; a buyer sees listed products. Anything not visible answers 404.
"""

from __future__ import annotations

from typing import Any

from ecom_common.auth import PLATFORM_ROLES, current_principal, current_scope
from ecom_common.clock import aware
from ecom_common.errors import Forbidden
from ecom_common.usecase import Ctx

from .. import compliance, domain, store
from ..models import Product, Sku
from ..settings import Settings


def merchant_shop(requested: str | None = None) -> str:
    """The shop a merchant acts for: the one in their token (403 for anyone else)."""
    shop = store.own_shop(current_scope())
    if shop is None:
        raise Forbidden("only merchant staff with a shop_id in their token can do this")
    if requested and requested != shop:
        raise Forbidden("you can only act for your own shop")
    return shop


# The review trail names staff (who created, who reviewed) and carries reviewers' notes: the shop's
# and the platform's business, not a buyer's nor another shop's, who see a listed product without it.
REVIEW_FIELDS = (
    "created_by",
    "review_required",
    "submitted_at",
    "review_due_at",
    "review_overdue",
    "reviewed_at",
    "reviewed_by",
    "reject_reason",
)


# Who reads a product's review trail (staff ids, reject notes): the platform and the shop's product
# staff, through the one tenancy rule; buyers, finance and other shops see the listing without it.
REVIEW_TRAIL_ROLES = PLATFORM_ROLES | {"ops", "cs", "warehouse"}


def sees_review_history(product: Product) -> bool:
    return current_principal().scope(REVIEW_TRAIL_ROLES).allows(product.shop_id)


def sku_view(product: Product, sku: Sku) -> dict[str, Any]:
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
        "no_7day_return": bool(sku.no_7day_return),
        "presale_ship_days": sku.presale_ship_days,
    }


def product_view(ctx: Ctx[Settings], product: Product, tree: domain.CategoryTree) -> dict[str, Any]:
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
        "review_overdue": product.status == domain.PENDING and domain.is_overdue(aware(product.review_due_at), ctx.now),
        "reviewed_at": product.reviewed_at,
        "reviewed_by": product.reviewed_by,
        "reject_reason": product.reject_reason,
        "listed_at": product.listed_at,
        "deleted_at": product.deleted_at,
        "restorable_until": domain.restorable_until(aware(product.deleted_at), ctx.settings),
        "created_by": product.created_by,
        "created_at": product.created_at,
        "updated_at": product.updated_at,
        "skus": [
            {
                **store.sku_dict(s),
                "price_fen": domain.effective_price(s.list_price_fen, s.promo_price_fen),
                "low_stock_available": s.low_stock_available,
                "low_stock_alert_at": s.low_stock_alert_at,
            }
            for s in product.skus
        ],
    }


def view_for(
    ctx: Ctx[Settings],
    product: Product,
    tree: domain.CategoryTree | None = None,
    findings: list[compliance.Finding] | None = None,
) -> dict[str, Any]:
    """The product as the caller may see it (ProductOut), with the findings of a scan run now
    unless `findings` are given."""
    tree = tree or store.load_tree(ctx.session)
    view = product_view(ctx, product, tree)
    if not sees_review_history(product):
        for name in REVIEW_FIELDS:
            del view[name]
    if findings is None:
        findings = compliance.scan_product(
            store.product_draft(product), tree, store.load_lexicon(ctx.session), ctx.settings
        )
    view["findings"] = [f.to_dict() for f in findings]
    return view
