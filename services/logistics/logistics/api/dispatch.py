"""Warehouse actions on a shipment: dispatch it, override its carrier before printing, or change
the carrier of a parcel whose pickup failed."""

from __future__ import annotations

from marshmallow import fields, validate

from ecom_common.auth import requires
from ecom_common.http import Blueprint
from ecom_common.idempotency import idempotent
from ecom_common.schemas import BodySchema
from ecom_common.usecase import use_case

from .. import operations
from ..settings import Settings
from .context import conflict_on_unique
from .shipments import ShipmentOut, shipment_dict

blp = Blueprint("dispatch", __name__)


class DispatchIn(BodySchema):
    carrier = fields.Str(
        load_default=None, allow_none=True, metadata={"description": "omit to use the automatically chosen carrier"}
    )
    tracking_no = fields.Str(required=True, validate=validate.Length(min=4, max=64))


class AssignCarrierIn(BodySchema):
    carrier = fields.Str(required=True)
    reason = fields.Str(load_default=None, allow_none=True, validate=validate.Length(max=500))


class ChangeCarrierIn(BodySchema):
    carrier = fields.Str(required=True)
    tracking_no = fields.Str(required=True, validate=validate.Length(min=4, max=64))
    reason = fields.Str(required=True, validate=validate.Length(min=1, max=500))


def tracking_no_taken():
    """A tracking number another request took meanwhile (the unique key wins over the check)."""
    return conflict_on_unique(
        "tracking number already used by another shipment", {"tracking_no": ["Already used by another shipment."]}
    )


@blp.route("/shipments/<shipment_id>/dispatch", methods=["POST"])
@requires("warehouse")
@idempotent()
@blp.arguments(DispatchIn)
@blp.response(200, ShipmentOut)
def dispatch_shipment(body, shipment_id):
    """Hand the parcel to a carrier: `pending -> dispatched` and logistics.ShipmentDispatched.
    Naming another carrier than the chosen one overrides the choice (recorded). 422 when the
    carrier (named, or the chosen one) is unknown or no longer active."""
    with tracking_no_taken(), use_case(Settings) as ctx:
        s = operations.dispatch(ctx, shipment_id, carrier=body.get("carrier"), tracking_no=body["tracking_no"])
        return shipment_dict(s, ctx.now)


@blp.route("/shipments/<shipment_id>/carrier", methods=["POST"])
@requires("warehouse")
@idempotent()
@blp.arguments(AssignCarrierIn)
@blp.response(200, ShipmentOut)
def assign_carrier(body, shipment_id):
    """Override the automatically chosen carrier of a pending shipment (before printing). An
    unknown or inactive carrier is 422."""
    with tracking_no_taken(), use_case(Settings) as ctx:
        s = operations.assign_carrier(ctx, shipment_id, carrier=body["carrier"], reason=body.get("reason"))
        return shipment_dict(s, ctx.now)


@blp.route("/shipments/<shipment_id>/change-carrier", methods=["POST"])
@requires("warehouse")
@idempotent()
@blp.arguments(ChangeCarrierIn)
@blp.response(200, ShipmentOut)
def change_carrier(body, shipment_id):
    """A failed pickup: another carrier and tracking number for a dispatched parcel (history kept).
    An unknown or inactive carrier is 422."""
    with tracking_no_taken(), use_case(Settings) as ctx:
        s = operations.change_carrier(
            ctx, shipment_id, carrier=body["carrier"], tracking_no=body["tracking_no"], reason=body["reason"]
        )
        return shipment_dict(s, ctx.now)
