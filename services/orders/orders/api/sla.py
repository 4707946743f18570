"""GET /sla: orders' open items with their deadline and time left, for the console's board."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from ecom_common.auth import list_filter, requires
from ecom_common.http import Blueprint
from ecom_common.schemas import UtcTime
from ecom_common.usecase import use_case

from .. import operations
from ..models import Order
from ..settings import Settings

blp = Blueprint("orders_sla", __name__)


class SlaArgs(Schema):
    shop_id = fields.Str(validate=validate.Length(min=1, max=64))
    limit = fields.Int(load_default=200, validate=validate.Range(min=1, max=200))


class SlaItemOut(Schema):
    kind = fields.Str(metadata={"description": "order.payment (unpaid, close timer) | order.review (held, 30 min)"})
    id = fields.Str(metadata={"description": "the order id"})
    shop_id = fields.Str()
    due_at = UtcTime()
    seconds_left = fields.Int(metadata={"description": "negative once breached"})
    breached = fields.Bool()


class SlaBoardOut(Schema):
    items = fields.List(fields.Nested(SlaItemOut))


@blp.route("/sla", methods=["GET"])
@requires("ops", "cs", "warehouse", "admin", "service")
@blp.arguments(SlaArgs, location="query")
@blp.response(200, SlaBoardOut)
def sla_board(args):
    """Unpaid orders (closed when the timer runs out) and held orders (reviewed within 30 minutes),
    earliest deadline first; the caller's shop only (`limit` of each kind, the oldest)."""
    with use_case(Settings) as ctx:
        where = list_filter(Order.shop_id, None, args.get("shop_id"))
        return {"items": operations.open_clocks(ctx, where, args["limit"])}
