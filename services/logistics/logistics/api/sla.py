"""The warehouse's stage clocks (the console's SLA board reads every service's `GET /sla`)."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from ecom_common.auth import list_filter, requires
from ecom_common.http import Blueprint
from ecom_common.schemas import UtcTime
from ecom_common.usecase import use_case

from .. import operations
from ..models import Shipment
from ..settings import Settings
from .context import STAFF

blp = Blueprint("sla", __name__)


class SlaArgs(Schema):
    shop_id = fields.Str(metadata={"description": "platform roles: one shop (default: every shop)"})
    limit = fields.Int(load_default=200, validate=validate.Range(min=1, max=200))


class SlaItemOut(Schema):
    kind = fields.Str(metadata={"description": "print | handover | dispatch | pickup"})
    id = fields.Str(metadata={"description": "the shipment"})
    shipment_id = fields.Str()
    order_id = fields.Str()
    shop_id = fields.Str()
    owner = fields.Str(allow_none=True, dump_default=None)
    started_at = UtcTime(metadata={"description": "when the shipment entered the stage"})
    due_at = UtcTime()
    seconds_left = fields.Int(metadata={"description": "negative once breached"})
    breached = fields.Bool()
    basis = fields.Str(
        metadata={"description": "dispatch only: standard (24 h) | promotion (48 h) | presale (promised)"}
    )


class SlaBoardOut(Schema):
    items = fields.List(fields.Nested(SlaItemOut))


@blp.route("/sla", methods=["GET"])
@requires(*STAFF, "service")
@blp.arguments(SlaArgs, location="query")
@blp.response(200, SlaBoardOut)
def sla_board(args):
    """Every running stage clock, oldest first (FIFO): audited -> waybill printed (1 h), printed ->
    handed to the carrier (2 h), the dispatch deadline (24 h / 48 h in a promotion / the presale
    promise), and the carrier's pickup (2 h)."""
    where = list_filter(Shipment.shop_id, shop_id=args.get("shop_id"))
    with use_case(Settings) as ctx:
        return {"items": operations.stage_board(ctx, where, args["limit"])}
