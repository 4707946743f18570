"""The carriers' tracking webhook: signed progress reports (picked up, in transit, delivered,
exceptions), each applied once."""

from __future__ import annotations

from datetime import UTC

import sqlalchemy as sa
from flask import request
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from ecom_common.clock import iso
from ecom_common.db import is_unique_violation
from ecom_common.errors import BadRequest, NotFound, ServiceUnavailable, Unauthorized, UnprocessableEntity
from ecom_common.http import Blueprint, BodySchema, current_db

from .. import domain
from .. import operations as ops
from ..models import Shipment, TrackingEvent
from .context import now, settings

blp = Blueprint("tracking", __name__)


class TrackingIn(BodySchema):
    event_id = fields.Str(required=True, validate=validate.Length(min=1, max=100))
    carrier = fields.Str(required=True)
    tracking_no = fields.Str(required=True)
    status = fields.Str(required=True, validate=validate.OneOf(domain.TRACKING_STATUSES))
    occurred_at = fields.AwareDateTime(load_default=None, allow_none=True, default_timezone=UTC)
    location = fields.Str(load_default=None, allow_none=True, validate=validate.Length(max=200))
    reason = fields.Str(load_default=None, allow_none=True, validate=validate.Length(max=500))

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
    secret = settings().webhook_secret
    if not secret:
        raise ServiceUnavailable("the carrier webhook is not configured (LOGISTICS_CARRIER_WEBHOOK_SECRET)")
    raw = request.get_data()
    if not domain.signature_valid(secret, raw, request.headers.get(domain.SIGNATURE_HEADER)):
        raise Unauthorized(f"missing or invalid {domain.SIGNATURE_HEADER}")
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise BadRequest("the request body must be a JSON object", {"body": ["Invalid JSON body."]})
    try:
        body = TrackingIn().load(data)
    except ValidationError as exc:
        raise UnprocessableEntity("the request failed validation", exc.messages) from exc
    with current_db().uow() as uow:
        session = uow.session
        seen = session.execute(
            sa.select(TrackingEvent.shipment_id).where(
                TrackingEvent.carrier == body["carrier"], TrackingEvent.carrier_event_id == body["event_id"]
            )
        ).scalar()
        if seen is not None:
            return {"shipment_id": seen, "status": session.get(Shipment, seen).status, "duplicate": True}
        s = session.execute(
            sa.select(Shipment).where(Shipment.carrier == body["carrier"], Shipment.tracking_no == body["tracking_no"])
        ).scalar_one_or_none()
        if s is None:
            raise NotFound(f"no shipment with {body['carrier']} tracking number {body['tracking_no']}")
        if domain.repeats_reached_status(s.status, body["status"]):
            # Already reached and announced once: write nothing (no second tracking row, no event).
            return {"shipment_id": s.id, "status": s.status, "duplicate": True}
        t = now()
        session.add(
            TrackingEvent(
                shipment_id=s.id,
                carrier=body["carrier"],
                carrier_event_id=body["event_id"],
                tracking_no=body["tracking_no"],
                status=body["status"],
                location=body["location"],
                reason=body["reason"],
                occurred_at=body["occurred_at"],
                received_at=t,
            )
        )
        try:
            session.flush()
        except sa.exc.IntegrityError as exc:
            if not is_unique_violation(exc):
                raise
            # The same event raced in on another connection and won: this one is the duplicate.
            uow.rollback()
            return {"shipment_id": s.id, "status": session.get(Shipment, s.id).status, "duplicate": True}
        ops.apply_tracking(
            uow,
            s,
            body["status"],
            t,
            body["reason"],
            {"event_id": body["event_id"], "location": body["location"], "occurred_at": iso(body["occurred_at"])},
        )
        uow.commit()
        return {"shipment_id": s.id, "status": s.status, "duplicate": False}
