"""Ops' handling of a parcel in the exception queue: notes, a new estimated arrival (the buyer is
told) and the resolution."""

from __future__ import annotations

from datetime import UTC

from marshmallow import fields, validate

from ecom_common.auth import requires
from ecom_common.http import Blueprint
from ecom_common.idempotency import idempotent
from ecom_common.schemas import BodySchema
from ecom_common.usecase import use_case

from .. import operations
from ..settings import Settings
from .shipments import ShipmentOut, shipment_dict

blp = Blueprint("exceptions", __name__)

# Who works the exception queue: the shop's warehouse, ops and customer service, and the platform's admin.
HANDLERS = ("warehouse", "ops", "cs", "admin")


class NoteIn(BodySchema):
    text = fields.Str(required=True, validate=validate.Length(min=1, max=500))


class EstimateIn(BodySchema):
    estimated_arrival_at = fields.AwareDateTime(required=True, default_timezone=UTC)
    reason = fields.Str(load_default=None, allow_none=True, validate=validate.Length(max=500))


class ResolveIn(BodySchema):
    reason = fields.Str(required=True, validate=validate.Length(min=1, max=500))


@blp.route("/shipments/<shipment_id>/exception/notes", methods=["POST"])
@requires(*HANDLERS)
@idempotent()
@blp.arguments(NoteIn)
@blp.response(200, ShipmentOut)
def note_exception(body, shipment_id):
    """A note on the shipment's open exception (timeline `exception_note`); 409 without one."""
    with use_case(Settings) as ctx:
        return shipment_dict(operations.note_exception(ctx, shipment_id, body["text"]), ctx.now)


@blp.route("/shipments/<shipment_id>/estimate", methods=["POST"])
@requires(*HANDLERS)
@idempotent()
@blp.arguments(EstimateIn)
@blp.response(200, ShipmentOut)
def estimate_arrival(body, shipment_id):
    """A new estimated arrival for a parcel on its way (future time; 409 unless dispatched, in transit,
    out for delivery or in exception): logistics.ArrivalEstimateChanged, the buyer is told once."""
    with use_case(Settings) as ctx:
        s = operations.estimate_arrival(ctx, shipment_id, at=body["estimated_arrival_at"], reason=body.get("reason"))
        return shipment_dict(s, ctx.now)


@blp.route("/shipments/<shipment_id>/exception/resolve", methods=["POST"])
@requires(*HANDLERS)
@idempotent()
@blp.arguments(ResolveIn)
@blp.response(200, ShipmentOut)
def resolve_exception(body, shipment_id):
    """Close the open exception with its resolution (it leaves the queue; the status stays the
    carrier's); 409 without one."""
    with use_case(Settings) as ctx:
        return shipment_dict(operations.resolve_exception(ctx, shipment_id, reason=body["reason"]), ctx.now)
