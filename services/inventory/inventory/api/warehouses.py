"""Warehouses of a shop: where each is (province), whether it serves orders (active), and its cost
table (fen per parcel by destination province, region or "*")."""

from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate, validates

from ecom_common.auth import requires, shop_for_read, shop_for_write
from ecom_common.http import Blueprint
from ecom_common.idempotency import idempotent
from ecom_common.schemas import MAX_INT, BodySchema, UtcTime
from ecom_common.usecase import use_case

from .. import warehouses
from ..settings import Settings
from .schemas import PLATFORM_NAMES_SHOP, SHOP_ID, WAREHOUSE_CODE

blp = Blueprint("warehouses", __name__)

COSTS_DOC = (
    'fen per parcel by destination: a province ("浙江"), a region (华北 东北 华东 华中 华南 西南 西北 港澳台) '
    'or "*" for everywhere else; the province entry wins over the region, the region over "*"'
)


class ShopArgs(Schema):
    shop_id = fields.Str(validate=SHOP_ID, metadata={"description": PLATFORM_NAMES_SHOP})


class CostsField(fields.Dict):
    def __init__(self, **kwargs):
        super().__init__(
            keys=fields.Str(validate=validate.Length(min=1, max=20)),
            values=fields.Int(strict=True, validate=validate.Range(min=0, max=MAX_INT)),
            metadata={"description": COSTS_DOC},
            **kwargs,
        )


class WarehouseIn(BodySchema):
    code = fields.Str(required=True, validate=WAREHOUSE_CODE)
    name = fields.Str(required=True, validate=validate.Length(min=1, max=100))
    province = fields.Str(required=True, validate=validate.Length(min=1, max=20))
    active = fields.Bool(load_default=True)
    costs = CostsField(load_default=dict)
    shop_id = fields.Str(validate=SHOP_ID, metadata={"description": "platform roles name the shop"})

    @validates("costs")
    def _few(self, value, **_kwargs):
        if len(value) > 64:
            raise ValidationError("At most 64 destinations.")


class WarehousePatch(BodySchema):
    name = fields.Str(validate=validate.Length(min=1, max=100))
    province = fields.Str(validate=validate.Length(min=1, max=20))
    active = fields.Bool()
    costs = CostsField()

    @validates("costs")
    def _few(self, value, **_kwargs):
        if len(value) > 64:
            raise ValidationError("At most 64 destinations.")


class WarehouseOut(Schema):
    shop_id = fields.Str()
    code = fields.Str()
    name = fields.Str()
    province = fields.Str()
    active = fields.Bool()
    costs = fields.Dict(keys=fields.Str(), values=fields.Int())
    updated_by = fields.Str()
    created_at = UtcTime()
    updated_at = UtcTime()


class WarehouseList(Schema):
    shop_id = fields.Str()
    items = fields.List(fields.Nested(WarehouseOut))


def _spec(args: dict) -> warehouses.WarehouseSpec:
    return warehouses.WarehouseSpec(
        name=args.get("name"), province=args.get("province"), active=args.get("active"), costs=args.get("costs")
    )


@blp.route("/warehouses", methods=["GET"])
@requires("warehouse", "ops", "admin", "service")
@blp.arguments(ShopArgs, location="query")
@blp.response(200, WarehouseList)
def list_warehouses(args):
    """A shop's warehouses, by code, with their province and cost table."""
    shop_id = shop_for_read(args.get("shop_id"))
    with use_case(Settings) as ctx:
        return warehouses.list_warehouses(ctx, shop_id)


@blp.route("/warehouses", methods=["POST"])
@requires("ops", "admin")
@idempotent()
@blp.arguments(WarehouseIn)
@blp.response(201, WarehouseOut)
def create_warehouse(args):
    """Register a warehouse (409 for a code the shop has; 422 for an unknown province or destination)."""
    shop_id = shop_for_write(args.get("shop_id"))
    with use_case(Settings) as ctx:
        return warehouses.create_warehouse(ctx, shop_id, args["code"], _spec(args))


@blp.route("/warehouses/<code>", methods=["PATCH"])
@requires("ops", "admin")
@blp.arguments(ShopArgs, location="query")
@blp.arguments(WarehousePatch)
@blp.response(200, WarehouseOut)
def update_warehouse(query, args, code):
    """Change a warehouse's name, province, active flag or (the whole) cost table."""
    shop_id = shop_for_write(query.get("shop_id"))
    with use_case(Settings) as ctx:
        return warehouses.update_warehouse(ctx, shop_id, code, _spec(args))


@blp.route("/warehouses/<code>", methods=["DELETE"])
@requires("ops", "admin")
@blp.arguments(ShopArgs, location="query")
@blp.response(204)
def delete_warehouse(query, code):
    """Forget a warehouse holding no units (422 otherwise: transfer them out or deactivate it)."""
    shop_id = shop_for_write(query.get("shop_id"))
    with use_case(Settings) as ctx:
        warehouses.delete_warehouse(ctx, shop_id, code)
    return None
