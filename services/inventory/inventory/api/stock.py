"""Stock: the stock items, one SKU's stock, its ledger, warehouse adjustments and the
replenishment report."""

from __future__ import annotations

import sqlalchemy as sa
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from ecom_common.auth import list_filter, not_found_unless, requires, shop_for_read, shop_for_write, shop_of_resource
from ecom_common.errors import NotFound
from ecom_common.http import Blueprint, current_db
from ecom_common.idempotency import idempotent
from ecom_common.pagination import PageArgs, paginate
from ecom_common.schemas import BodySchema, UtcTime, page_of
from ecom_common.usecase import use_case

from .. import domain, operations, queries
from ..domain import AdjustmentKind
from ..ledger import StockKey
from ..models import StockItem, StockMovement
from ..settings import Settings
from .schemas import PLATFORM_NAMES_SHOP, SHOP_ID, WAREHOUSE_CODE, MovementOut, StockItemOut

blp = Blueprint("stock", __name__)


# Stock items -----------------------------------------------------------------------------------
class StockArgs(PageArgs):
    shop_id = fields.Str(validate=SHOP_ID)
    sku_code = fields.Str()
    warehouse_code = fields.Str(validate=WAREHOUSE_CODE)
    low = fields.Bool(metadata={"description": "only items at or below their low-stock threshold"})


StockItemPage = page_of(StockItemOut)


class SkuStockOut(Schema):
    shop_id = fields.Str()
    sku_code = fields.Str()
    on_hand = fields.Int()
    reserved = fields.Int()
    available = fields.Int()
    warehouses = fields.List(fields.Nested(StockItemOut))


@blp.route("/stock", methods=["GET"])
@requires("warehouse", "ops", "admin", "finance", "service")
@blp.arguments(StockArgs, location="query")
@blp.response(200, StockItemPage)
def list_stock(args):
    """Stock items, newest first; merchant staff see their own shop's only."""
    stmt = sa.select(StockItem).where(list_filter(StockItem.shop_id, shop_id=args.get("shop_id")))
    if args.get("sku_code"):
        stmt = stmt.where(StockItem.sku_code == args["sku_code"])
    if args.get("warehouse_code"):
        stmt = stmt.where(StockItem.warehouse_code == args["warehouse_code"])
    if args.get("low"):
        stmt = stmt.where(StockItem.on_hand - StockItem.reserved <= StockItem.low_stock_threshold)
    with current_db().Session() as session:
        return paginate(session, stmt, [StockItem.id], args["limit"], args.get("cursor"))


class SkuStockArgs(Schema):
    shop_id = fields.Str(metadata={"description": "required for platform roles; merchant staff use their own"})


# Replenishment (declared before /stock/<sku_code>; werkzeug prefers the static path anyway) ------
class ReplenishmentArgs(Schema):
    shop_id = fields.Str(validate=SHOP_ID, metadata={"description": PLATFORM_NAMES_SHOP})
    window_days = fields.Int(
        validate=validate.Range(min=1, max=365), metadata={"description": "sales history to average over (default 30)"}
    )
    cover_days = fields.Int(
        validate=validate.Range(min=0, max=365),
        metadata={"description": "reorder when available covers at most this (default 3)"},
    )
    target_days = fields.Int(
        validate=validate.Range(min=0, max=365),
        metadata={"description": "a reorder brings stock up to this many days (default 15)"},
    )


class ReplenishmentLineOut(Schema):
    sku_code = fields.Str()
    available = fields.Int()
    sold_in_window = fields.Int()
    average_daily_sales = fields.Float()
    reorder_point = fields.Float()
    waiting_quantity = fields.Int()
    suggested_quantity = fields.Int()


class ReplenishmentOut(Schema):
    shop_id = fields.Str()
    as_of = UtcTime()
    window_days = fields.Int()
    cover_days = fields.Int()
    target_days = fields.Int()
    items = fields.List(fields.Nested(ReplenishmentLineOut))


@blp.route("/stock/replenishment", methods=["GET"])
@requires("warehouse", "ops", "admin")
@blp.arguments(ReplenishmentArgs, location="query")
@blp.response(200, ReplenishmentOut)
def replenishment(args):
    """SKUs whose available stock covers at most `cover_days` of average daily sales (order deducts
    over the last `window_days`, by the service clock), or that paid orders are waiting for; with
    the quantity to reorder to reach `target_days` of sales."""
    shop_id = shop_for_read(args.get("shop_id"))
    with use_case(Settings) as ctx:
        return queries.replenishment(
            ctx,
            shop_id,
            window_days=args.get("window_days"),
            cover_days=args.get("cover_days"),
            target_days=args.get("target_days"),
        )


@blp.route("/stock/<sku_code>", methods=["GET"])
@requires("warehouse", "ops", "admin", "finance", "service", "cs")
@blp.arguments(SkuStockArgs, location="query")
@blp.response(200, SkuStockOut)
def get_stock(args, sku_code):
    """One SKU's stock, summed over warehouses, with the per-warehouse rows."""
    shop_id = shop_of_resource(args.get("shop_id"), "stock item")
    with use_case(Settings) as ctx:
        return queries.sku_stock(ctx, shop_id, sku_code)


# The ledger ------------------------------------------------------------------------------------
class MovementArgs(PageArgs):
    shop_id = fields.Str(validate=SHOP_ID, metadata={"description": PLATFORM_NAMES_SHOP})
    warehouse_code = fields.Str(validate=WAREHOUSE_CODE)
    kind = fields.Str(validate=validate.OneOf(domain.Movement.ALL))
    cause = fields.Str(metadata={"description": "e.g. order:O123, case:C1, adjustment:inbound"})


MovementPage = page_of(MovementOut)


@blp.route("/stock/<sku_code>/movements", methods=["GET"])
@requires("warehouse", "ops", "admin", "finance", "service")
@blp.arguments(MovementArgs, location="query")
@blp.response(200, MovementPage)
def list_movements(args, sku_code):
    """The stock ledger of one SKU, newest first: every movement with its cause and actor."""
    shop_id = shop_of_resource(args.get("shop_id"), "stock item")
    with current_db().Session() as session:
        known = session.execute(
            sa.select(sa.func.count())
            .select_from(StockItem)
            .where(StockItem.shop_id == shop_id, StockItem.sku_code == sku_code)
        ).scalar_one()
        not_found_unless(bool(known), "stock item")
        stmt = sa.select(StockMovement).where(StockMovement.shop_id == shop_id, StockMovement.sku_code == sku_code)
        for name in ("warehouse_code", "kind", "cause"):
            if args.get(name):
                stmt = stmt.where(getattr(StockMovement, name) == args[name])
        return paginate(session, stmt, [StockMovement.id], args["limit"], args.get("cursor"))


# Adjustments -----------------------------------------------------------------------------------
class AdjustmentIn(BodySchema):
    kind = fields.Str(required=True, validate=validate.OneOf(AdjustmentKind.ALL))
    quantity = fields.Int(
        validate=validate.Range(min=1, max=1_000_000),
        metadata={"description": "units received (inbound) or written off (damage, loss)"},
    )
    counted = fields.Int(
        validate=validate.Range(min=0, max=100_000_000),
        metadata={"description": "units counted on the shelf (count_correction)"},
    )
    reason = fields.Str(validate=validate.Length(min=1, max=500))
    warehouse_code = fields.Str(load_default=domain.DEFAULT_WAREHOUSE, validate=WAREHOUSE_CODE)
    shop_id = fields.Str(validate=SHOP_ID, metadata={"description": "platform roles name the shop"})
    reference = fields.Str(
        validate=validate.Length(min=1, max=200),
        metadata={"description": "e.g. the purchase order or count sheet number"},
    )

    @validates_schema
    def _by_kind(self, data, **_kwargs):
        kind = data.get("kind")
        errors = {}
        if kind in AdjustmentKind.BY_QUANTITY:
            if "quantity" not in data:
                errors["quantity"] = [f"Required for {kind}."]
            if "counted" in data:
                errors["counted"] = [f"Not used by {kind}; give quantity."]
        if kind == AdjustmentKind.COUNT_CORRECTION:
            if "counted" not in data:
                errors["counted"] = ["Required for count_correction."]
            if "quantity" in data:
                errors["quantity"] = ["Not used by count_correction; give counted."]
        if kind in (AdjustmentKind.COUNT_CORRECTION, *AdjustmentKind.WRITE_OFFS) and not data.get("reason"):
            errors["reason"] = [f"Required for {kind}."]
        if errors:
            raise ValidationError(errors)


class AdjustmentOut(Schema):
    stock = fields.Nested(StockItemOut)
    movement = fields.Nested(MovementOut)
    served_orders = fields.List(fields.Str(), metadata={"description": "waiting orders reserved by this receipt"})


@blp.route("/stock/<sku_code>/adjustments", methods=["POST"])
@requires("warehouse", "admin")
@idempotent()
@blp.arguments(AdjustmentIn)
@blp.response(201, AdjustmentOut)
def adjust_stock(args, sku_code):
    """Inbound receipt or counted correction (or a damage/loss write-off) for one warehouse.

    A count_correction needs `counted` and `reason` (422). A correction or write-off can never leave less on hand
    than is reserved (422). An inbound
    receipt serves orders waiting for this SKU, oldest payment first."""
    shop_id = shop_for_write(args.get("shop_id"))
    adjustment = domain.Adjustment(
        kind=args["kind"],
        quantity=args.get("quantity"),
        counted=args.get("counted"),
        reason=args.get("reason"),
        reference=args.get("reference"),
    )
    with use_case(Settings) as ctx:
        try:
            done = operations.adjust(ctx, StockKey(shop_id, sku_code, args["warehouse_code"]), adjustment)
        except domain.UnknownSkuError:
            raise NotFound("stock item not found") from None
        return {"stock": done.stock, "movement": done.movement, "served_orders": done.served}
