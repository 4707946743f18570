"""The carriers' tracking webhook: signed progress reports (picked up, in transit, delivered,
exceptions), each applied once."""

from __future__ import annotations

from datetime import UTC

from flask import request
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from ecom_common.errors import BadRequest, ServiceUnavailable, Unauthorized, UnprocessableEntity
from ecom_common.http import Blueprint, current_config, current_db
from ecom_common.schemas import MAX_INT, BodySchema
from ecom_common.settings import settings_of
from ecom_common.usecase import Actor, Ctx

from .. import domain, operations
from ..settings import Settings

blp = Blueprint("tracking", __name__)


class TrackingIn(BodySchema):
    event_id = fields.Str(required=True, validate=validate.Length(min=1, max=100))
    carrier = fields.Str(required=True)
    tracking_no = fields.Str(required=True)
    status = fields.Str(required=True, validate=validate.OneOf(domain.TRACKING_STATUSES))
    occurred_at = fields.AwareDateTime(load_default=None, allow_none=True, default_timezone=UTC)
    location = fields.Str(load_default=None, allow_none=True, validate=validate.Length(max=200))
    reason = fields.Str(load_default=None, allow_none=True, validate=validate.Length(max=500))
    cost_fen = fields.Int(
        load_default=None,
        allow_none=True,
        validate=validate.Range(min=0, max=MAX_INT),
        metadata={"description": "the carrier's charge for the parcel, when it reports one"},
    )

    @validates_schema
    def _reason(self, data, **kwargs):
        if data.get("status") == domain.EXCEPTION and not data.get("reason"):
            raise ValidationError("an exception report needs its reason", "reason")


class TrackingOut(Schema):
    shipment_id = fields.Str()
    status = fields.Str()
    duplicate = fields.Bool()


@blp.route("/tracking/webhook", methods=["POST"])
@blp.doc(
    security=[],
    parameters=[
        {
            "in": "header",
            "name": domain.SIGNATURE_HEADER,
            "required": True,
            "schema": {"type": "string", "pattern": "^(sha256=)?[0-9a-fA-F]{64}$"},
            "description": "sha256=<hex HMAC-SHA256 of the raw body with the shared secret>",
        }
    ],
    # read by hand after the signature check, so that an unsigned caller learns nothing of it
    requestBody={"required": True, "content": {"application/json": {"schema": TrackingIn}}},
)
@blp.response(200, TrackingOut)
def tracking_webhook():
    """Carrier progress reports, signed with LOGISTICS_CARRIER_WEBHOOK_SECRET; idempotent per
    (carrier, event_id). A resent event, or a report of the final state the shipment already reached
    (delivered again under a new event id), answers 200 with `duplicate: true` and changes nothing."""
    secret = settings_of(current_config(), Settings).carrier_webhook_secret
    if not secret:
        raise ServiceUnavailable("the carrier webhook is not configured (LOGISTICS_CARRIER_WEBHOOK_SECRET)")
    raw = request.get_data()
    if not domain.signature_valid(secret, raw, request.headers.get(domain.SIGNATURE_HEADER)):
        raise Unauthorized(f"missing or invalid {domain.SIGNATURE_HEADER}")
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise BadRequest("the request body must be a JSON object", {"body": ["Invalid JSON body."]})
    try:
        report = operations.TrackingReport(**TrackingIn().load(data))
    except ValidationError as exc:
        raise UnprocessableEntity("the request failed validation", exc.messages) from exc
    # No caller token here (the signature is the carrier's credential): the unit of work is opened
    # directly, acting as the carrier, and committed here.
    db = current_db()
    with db.uow() as uow:
        ctx = Ctx(uow=uow, actor=Actor(f"carrier:{report.carrier}"), settings=settings_of(db.config, Settings))
        tracked = operations.record_tracking(ctx, report)
        uow.commit()
    return tracked
