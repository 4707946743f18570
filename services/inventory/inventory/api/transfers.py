"""Transfers: units of a SKU moved from one warehouse of the shop to another (a ledger pair)."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from ecom_common.auth import requires, shop_for_write
from ecom_common.errors import NotFound
from ecom_common.http import Blueprint
from ecom_common.idempotency import idempotent
from ecom_common.schemas import BodySchema
from ecom_common.usecase import use_case

from .. import domain, transfers
from ..settings import Settings
from .schemas import SHOP_ID, WAREHOUSE_CODE, MovementOut, StockItemOut

blp = Blueprint("transfers", __name__)


class TransferIn(BodySchema):
    sku_code = fields.Str(required=True, validate=validate.Length(min=1, max=64))
    from_warehouse = fields.Str(required=True, validate=WAREHOUSE_CODE)
    to_warehouse = fields.Str(required=True, validate=WAREHOUSE_CODE)
    quantity = fields.Int(required=True, validate=validate.Range(min=1, max=1_000_000))
    reason = fields.Str(validate=validate.Length(min=1, max=500))
    reference = fields.Str(validate=validate.Length(min=1, max=200), metadata={"description": "e.g. the transfer note"})
    shop_id = fields.Str(validate=SHOP_ID, metadata={"description": "platform roles name the shop"})


class TransferOut(Schema):
    transfer_id = fields.Str()
    shop_id = fields.Str()
    sku_code = fields.Str()
    from_warehouse = fields.Str()
    to_warehouse = fields.Str()
    quantity = fields.Int()
    from_stock = fields.Nested(StockItemOut)
    to_stock = fields.Nested(StockItemOut)
    movements = fields.List(fields.Nested(MovementOut), metadata={"description": "transfer_out, then transfer_in"})
    served_orders = fields.List(fields.Str(), metadata={"description": "waiting orders reserved thanks to it"})


@blp.route("/transfers", methods=["POST"])
@requires("warehouse", "ops", "admin")
@idempotent()
@blp.arguments(TransferIn)
@blp.response(201, TransferOut)
def create_transfer(args):
    """Move available units of a SKU between two warehouses of the shop: a `transfer_out` and a
    `transfer_in` ledger row with cause `transfer:<id>` (find them with `?cause=` on the ledger).
    Reserved units never move; 422 when fewer are available, for the same warehouse twice, a source
    without the SKU or an inactive destination; 404 for a SKU the shop does not stock. Repeat with the
    same Idempotency-Key to get the first answer again (nothing moves twice)."""
    shop_id = shop_for_write(args.get("shop_id"))
    move = transfers.Transfer(
        sku_code=args["sku_code"],
        from_warehouse=args["from_warehouse"],
        to_warehouse=args["to_warehouse"],
        quantity=args["quantity"],
        reason=args.get("reason"),
        reference=args.get("reference"),
    )
    with use_case(Settings) as ctx:
        try:
            return transfers.transfer(ctx, shop_id, move)
        except domain.UnknownSkuError:
            raise NotFound("stock item not found") from None
