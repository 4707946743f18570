"""inventory HTTP API: flask-smorest blueprint and marshmallow schemas."""
from __future__ import annotations

import sqlalchemy as sa
from flask_smorest import Blueprint
from marshmallow import Schema, fields

from ecom_common.auth import current_principal, not_found_unless, requires
from ecom_common.http import PageArgs, current_db, paginate

from .models import StockItem

blp = Blueprint("inventory", __name__, url_prefix="/api/v1", description="Stock per SKU and warehouse")


class StockItemSchema(Schema):
    sku_code = fields.Str()
    warehouse_code = fields.Str()
    shop_id = fields.Str(allow_none=True)
    on_hand = fields.Int()
    reserved = fields.Int()
    available = fields.Int()
    low_stock_threshold = fields.Int()
    sellable = fields.Bool()
    updated_at = fields.DateTime()


class StockListArgs(PageArgs):
    shop_id = fields.Str()
    sku_code = fields.Str()
    low = fields.Bool(metadata={"description": "only items at or below their low-stock threshold"})


class StockPageSchema(Schema):
    items = fields.List(fields.Nested(StockItemSchema))
    next_cursor = fields.Str(allow_none=True)


class SkuStockSchema(Schema):
    shop_id = fields.Str()
    sku_code = fields.Str()
    on_hand = fields.Int()
    reserved = fields.Int()
    available = fields.Int()
    warehouses = fields.List(fields.Nested(StockItemSchema))


@blp.route("/stock", methods=["GET"])
@requires("warehouse", "ops", "admin", "finance", "service")
@blp.arguments(StockListArgs, location="query")
@blp.response(200, StockPageSchema)
def list_stock(args):
    """Stock items, newest first; merchant staff see their own shop's only."""
    principal = current_principal()
    stmt = sa.select(StockItem)
    scope = principal.shop_scope()
    if scope is not None:
        stmt = stmt.where(StockItem.shop_id == scope)
    elif args.get("shop_id"):
        stmt = stmt.where(StockItem.shop_id == args["shop_id"])
    if args.get("sku_code"):
        stmt = stmt.where(StockItem.sku_code == args["sku_code"])
    if args.get("low"):
        stmt = stmt.where(StockItem.on_hand - StockItem.reserved <= StockItem.low_stock_threshold)
    with current_db().Session() as session:
        return paginate(session, stmt, [StockItem.id], args["limit"], args.get("cursor"))


class SkuStockArgs(Schema):
    shop_id = fields.Str(metadata={"description": "required for platform roles; merchant staff use their own"})


@blp.route("/stock/<sku_code>", methods=["GET"])
@requires("warehouse", "ops", "admin", "finance", "service", "cs")
@blp.arguments(SkuStockArgs, location="query")
@blp.response(200, SkuStockSchema)
def get_stock(args, sku_code):
    """One SKU's stock, summed over warehouses, with the per-warehouse rows."""
    shop_id = current_principal().shop_scope() or args.get("shop_id")
    not_found_unless(bool(shop_id), "stock item")
    with current_db().Session() as session:
        items = session.execute(
            sa.select(StockItem).where(StockItem.shop_id == shop_id, StockItem.sku_code == sku_code)
        ).scalars().all()
    not_found_unless(bool(items), "stock item")
    return {
        "shop_id": shop_id,
        "sku_code": sku_code,
        "on_hand": sum(i.on_hand for i in items),
        "reserved": sum(i.reserved for i in items),
        "available": sum(i.available for i in items),
        "warehouses": items,
    }
