"""Products: create, search, read and edit a shop's products."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import sqlalchemy as sa
from marshmallow import fields, validate

from ecom_common.auth import list_filter, requires
from ecom_common.db import is_unique_violation
from ecom_common.errors import Conflict
from ecom_common.http import Blueprint
from ecom_common.idempotency import idempotent
from ecom_common.pagination import PageArgs, paginate
from ecom_common.schemas import MAX_INT, page_of
from ecom_common.usecase import use_case

from .. import domain, operations, store
from ..models import Product
from ..settings import Settings
from .context import merchant_shop, view_for
from .schemas import ProductIn, ProductOut

blp = Blueprint("products", __name__)


class ProductPatch(ProductIn):
    version = fields.Int(
        metadata={"description": "the version you read; 409 if it moved on"}, validate=validate.Range(max=MAX_INT)
    )


ProductPage = page_of(ProductOut)


class ProductArgs(PageArgs):
    status = fields.Str(
        validate=validate.OneOf(domain.STATUSES),
        metadata={"description": "deleted products are listed only when asked for"},
    )
    category_id = fields.Str(metadata={"description": "this category and everything below it"})
    shop_id = fields.Str()
    q = fields.Str(validate=validate.Length(min=1, max=100), metadata={"description": "text in the title"})
    updated_since = fields.DateTime()


@contextmanager
def sku_codes_race() -> Iterator[None]:
    """A SKU code taken by another product between our check and the COMMIT is a 409, not a 500."""
    try:
        yield
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
    with sku_codes_race(), use_case(Settings) as ctx:
        saved = operations.create_product(ctx, body, shop_id=shop_id)
        return view_for(ctx, saved.product, findings=saved.findings)


@blp.route("/products", methods=["GET"])
@requires()
@blp.arguments(ProductArgs, location="query")
@blp.response(200, ProductPage)
def list_products(args):
    """Search products.

    Newest first; filters: status, category (with its subcategories), shop, text in the title,
    updated since. Merchant staff see their own shop's products and others' listed ones; deleted
    products only with status=deleted."""
    with use_case(Settings) as ctx:
        stmt = sa.select(Product).where(sa.or_(Product.status == domain.LISTED, list_filter(Product.shop_id)))
        if args.get("status"):
            stmt = stmt.where(Product.status == args["status"])
        else:
            stmt = stmt.where(Product.status != domain.DELETED)
        if args.get("shop_id"):
            stmt = stmt.where(Product.shop_id == args["shop_id"])
        tree = store.load_tree(ctx.session)
        if args.get("category_id"):
            stmt = stmt.where(Product.category_id.in_(tree.subtree(args["category_id"])))
        if args.get("q"):
            stmt = stmt.where(sa.func.lower(Product.title).contains(args["q"].lower(), autoescape=True))
        if args.get("updated_since"):
            stmt = stmt.where(Product.updated_at >= _utc(args["updated_since"]))
        return paginate(
            ctx.session,
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
    with use_case(Settings) as ctx:
        return view_for(ctx, operations.get_product(ctx, product_id))


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
    version = body.pop("version", None)
    with sku_codes_race(), use_case(Settings) as ctx:
        saved = operations.edit_product(ctx, product_id, body, version=version)
        return view_for(ctx, saved.product, findings=saved.findings)
