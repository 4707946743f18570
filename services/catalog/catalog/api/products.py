"""Products: create, search, read and edit a shop's products."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from marshmallow import Schema, fields, validate

from ecom_common import ids
from ecom_common.auth import list_filter, requires
from ecom_common.db import is_unique_violation
from ecom_common.errors import Conflict
from ecom_common.http import MAX_INT, Blueprint, PageArgs, current_db, paginate
from ecom_common.idempotency import idempotent

from .. import domain, operations
from ..models import Product
from .context import codes_free_or_409, load_own, load_visible, make_ctx, merchant_shop, scan_or_422, view_for
from .schemas import ProductIn, ProductOut

blp = Blueprint("products", __name__)


class ProductPatch(ProductIn):
    version = fields.Int(
        metadata={"description": "the version you read; 409 if it moved on"}, validate=validate.Range(max=MAX_INT)
    )


class ProductPage(Schema):
    items = fields.List(fields.Nested(ProductOut))
    next_cursor = fields.Str(allow_none=True)


class ProductListArgs(PageArgs):
    status = fields.Str(
        validate=validate.OneOf(domain.STATUSES),
        metadata={"description": "deleted products are listed only when asked for"},
    )
    category_id = fields.Str(metadata={"description": "this category and everything below it"})
    shop_id = fields.Str()
    q = fields.Str(validate=validate.Length(min=1, max=100), metadata={"description": "text in the title"})
    updated_since = fields.DateTime()


def _commit(uow) -> None:
    try:
        uow.commit()
    except sa.exc.IntegrityError as exc:
        if is_unique_violation(exc):
            raise Conflict("a SKU code of this product was taken meanwhile", {"skus": ["sku_code_taken"]}) from exc
        raise


@blp.route("/products", methods=["POST"])
@requires("ops")
@idempotent()
@blp.arguments(ProductIn)
@blp.response(201, ProductOut)
def create_product(body):
    """Create a product (draft) for your shop.

    The compliance scan runs first: 422 lists every finding as a field error naming the rule and
    the offending text (also in `findings`). A SKU code already used in the shop is 409."""
    shop_id = merchant_shop(body.pop("shop_id", None))
    with current_db().uow() as uow:
        ctx = make_ctx(uow.session)
        tree = operations.load_tree(ctx.session)
        findings = scan_or_422(ctx, body, tree)
        codes_free_or_409(ctx, shop_id, body["skus"], None)
        product = Product(
            id=ids.new_id("PR", ctx.now),
            shop_id=shop_id,
            category_id=body["category_id"],
            title=body["title"].strip(),
            brand=body.get("brand"),
            description=body.get("description"),
            attributes=body.get("attributes") or {},
            images=body.get("images") or [],
            video=body.get("video"),
            status=domain.DRAFT,
            version=1,
            review_required=False,
            created_by=ctx.actor,
            created_at=ctx.now,
            updated_at=ctx.now,
        )
        ctx.session.add(product)
        ctx.session.flush()
        operations.replace_skus(ctx.session, product, body["skus"])
        operations.write_timeline(
            ctx.session,
            product.id,
            ctx.now,
            ctx.actor,
            ctx.principal.roles,
            "create",
            None,
            domain.DRAFT,
            None,
            {"sku_codes": [s["sku_code"] for s in body["skus"]]},
        )
        _commit(uow)
        return view_for(ctx, product, tree, findings)


@blp.route("/products", methods=["GET"])
@requires()
@blp.arguments(ProductListArgs, location="query")
@blp.response(200, ProductPage)
def list_products(args):
    """Search products.

    Newest first; filters: status, category (with its subcategories), shop, text in the title,
    updated since. Merchant staff see their own shop's products and others' listed ones; deleted
    products only with status=deleted."""
    with current_db().Session() as session:
        ctx = make_ctx(session)
        stmt = sa.select(Product).where(sa.or_(Product.status == domain.LISTED, list_filter(Product.shop_id)))
        if args.get("status"):
            stmt = stmt.where(Product.status == args["status"])
        else:
            stmt = stmt.where(Product.status != domain.DELETED)
        if args.get("shop_id"):
            stmt = stmt.where(Product.shop_id == args["shop_id"])
        tree = operations.load_tree(session)
        if args.get("category_id"):
            stmt = stmt.where(Product.category_id.in_(tree.subtree(args["category_id"])))
        if args.get("q"):
            stmt = stmt.where(sa.func.lower(Product.title).contains(args["q"].lower(), autoescape=True))
        if args.get("updated_since"):
            stmt = stmt.where(Product.updated_at >= _utc(args["updated_since"]))
        return paginate(
            session,
            stmt,
            [Product.id],
            args["limit"],
            args.get("cursor"),
            to_item=lambda prod: view_for(ctx, prod, tree, findings=[]),
        )


def _utc(dt: datetime) -> datetime:
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


@blp.route("/products/<product_id>", methods=["GET"])
@requires()
@blp.response(200, ProductOut)
def get_product(product_id):
    """One product with its SKUs, attribute completeness and the warnings of the scan."""
    with current_db().Session() as session:
        ctx = make_ctx(session)
        return view_for(ctx, load_visible(ctx, product_id))


@blp.route("/products/<product_id>", methods=["PUT", "PATCH"])
@requires("ops")
@blp.arguments(ProductPatch(partial=True))
@blp.response(200, ProductOut)
def edit_product(body, product_id):
    """Edit a product (any subset of fields).

    `skus`, when given, replace the list (kept codes keep their identity). Content edits (title,
    brand, description, images, video, attributes, category, SKU set, spec or barcode) of a listed
    product send it back to review; price-only edits (prices, weight, low-stock threshold) keep it
    listed and publish catalog.PriceChanged. The scan runs on the result (422); `version` guards
    against lost updates (409)."""
    body.pop("shop_id", None)
    expected_version = body.pop("version", None)
    with current_db().uow() as uow:
        ctx = make_ctx(uow.session)
        product = load_own(ctx, product_id)
        if expected_version is not None and expected_version != product.version:
            raise Conflict(
                "the product has changed since you read it", {"version": [f"Current version is {product.version}."]}
            )
        before = operations.product_draft(product)
        after = {**before, **{k: v for k, v in body.items()}}
        if "title" in body:
            after["title"] = body["title"].strip()
        if "skus" in body:
            after["skus"] = [
                {
                    **{
                        "spec": {},
                        "barcode": None,
                        "weight_g": None,
                        "promo_price_fen": None,
                        "member_price_fen": None,
                        "low_stock_threshold": 10,
                    },
                    **s,
                }
                for s in body["skus"]
            ]
        kind = domain.classify_edit(before, after)
        t = domain.edit(operations.state_of(product), kind)
        if after == before:
            return view_for(ctx, product)  # nothing changed: no new version, no timeline entry
        tree = operations.load_tree(ctx.session)
        findings = scan_or_422(ctx, after, tree)
        if "skus" in body:
            codes_free_or_409(ctx, product.shop_id, after["skus"], product.id)
        changed = sorted(k for k in domain.CONTENT_FIELDS if before.get(k) != after.get(k))
        old_codes = [s["sku_code"] for s in before["skus"]]
        extra = {k: after[k] for k in ("category_id", "title", "brand", "description", "attributes", "images", "video")}
        if t.to_status == domain.PENDING:
            extra.update(
                submitted_at=ctx.now,
                review_due_at=domain.review_due(ctx.now, ctx.rules),
                reviewed_at=None,
                reviewed_by=None,
            )
        operations.apply(
            ctx.session,
            product,
            t,
            ctx.now,
            ctx.actor,
            ctx.principal.roles,
            extra,
            {
                "content": kind.content,
                "commercial": kind.commercial,
                "fields": changed,
                "skus_changed": "skus" in body and before["skus"] != after["skus"],
            },
        )
        if "skus" in body:
            operations.replace_skus(ctx.session, product, after["skus"])
        if t.to_status == domain.PENDING:
            # No longer on sale while the change is reviewed: tell whoever tracks sellability.
            uow.record(operations.ev_delisted(product, domain.UNDER_REVIEW, old_codes))
            uow.record(operations.ev_submitted(product))
        elif kind.commercial and t.to_status in (domain.LISTED, domain.DELISTED):
            uow.record(operations.ev_price_changed(product))
        _commit(uow)
        return view_for(ctx, product, tree, findings)
