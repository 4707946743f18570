"""Warehouse actions on a shipment: dispatch it, override its carrier before printing, or change
the carrier of a parcel whose pickup failed."""

from __future__ import annotations

import sqlalchemy as sa
from marshmallow import fields, validate

from ecom_common.auth import current_principal, requires
from ecom_common.db import is_unique_violation
from ecom_common.errors import Conflict
from ecom_common.http import Blueprint, BodySchema, current_db
from ecom_common.idempotency import idempotent

from .. import domain
from .. import operations as ops
from .context import now
from .shipments import ShipmentSchema, load_visible, shipment_dict

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


def act_on(shipment_id: str, action):
    """Run a warehouse action on one visible shipment in one unit of work; returns the shipment."""
    principal = current_principal()
    with current_db().uow() as uow:
        s = load_visible(uow.session, shipment_id)
        action(uow, s, principal.sub)
        try:
            uow.commit()
        except sa.exc.IntegrityError as exc:
            if is_unique_violation(exc):
                raise Conflict(
                    "tracking number already used by another shipment",
                    {"tracking_no": ["Already used by another shipment."]},
                ) from exc
            raise
        return shipment_dict(s, now())


@blp.route("/shipments/<shipment_id>/dispatch", methods=["POST"])
@requires("warehouse")
@idempotent()
@blp.arguments(DispatchIn)
@blp.response(200, ShipmentSchema)
def dispatch_shipment(body, shipment_id):
    """Hand the parcel to a carrier: `pending -> dispatched` and logistics.ShipmentDispatched.
    Naming another carrier than the chosen one overrides the choice (recorded). 422 when the
    carrier (named, or the chosen one) is unknown or no longer active."""
    return act_on(shipment_id, lambda uow, s, who: ops.dispatch(uow, s, body.get("carrier"), body["tracking_no"], who))


@blp.route("/shipments/<shipment_id>/carrier", methods=["POST"])
@requires("warehouse")
@idempotent()
@blp.arguments(AssignCarrierIn)
@blp.response(200, ShipmentSchema)
def assign_carrier(body, shipment_id):
    """Override the automatically chosen carrier of a pending shipment (before printing). An
    unknown or inactive carrier is 422."""

    def run(uow, s, who):
        ops.require_active_carrier(uow.session, body["carrier"])
        t = now()
        before = s.carrier
        ops.transition(
            uow.session,
            s,
            "assign carrier to",
            t,
            who,
            reason=body.get("reason"),
            values={"carrier": body["carrier"], "carrier_reason": f"chosen by warehouse {who}"},
            data={"old_carrier": before, "carrier": body["carrier"]},
            timeline_action="carrier_assigned",
        )

    return act_on(shipment_id, run)


@blp.route("/shipments/<shipment_id>/change-carrier", methods=["POST"])
@requires("warehouse")
@idempotent()
@blp.arguments(ChangeCarrierIn)
@blp.response(200, ShipmentSchema)
def change_carrier(body, shipment_id):
    """A failed pickup: another carrier and tracking number for a dispatched parcel (history kept).
    An unknown or inactive carrier is 422."""

    def run(uow, s, who):
        domain.next_status(s.status, "change the carrier of")
        ops.require_active_carrier(uow.session, body["carrier"])
        ops.ensure_tracking_free(uow.session, body["carrier"], body["tracking_no"], s.id)
        t = now()
        old = {"old_carrier": s.carrier, "old_tracking_no": s.tracking_no}
        ops.transition(
            uow.session,
            s,
            "change the carrier of",
            t,
            who,
            reason=body["reason"],
            values={
                "carrier": body["carrier"],
                "tracking_no": body["tracking_no"],
                "last_progress_at": t,
                "carrier_reason": f"changed by warehouse {who}: {body['reason']}"[:200],
            },
            data={**old, "carrier": body["carrier"], "tracking_no": body["tracking_no"]},
            timeline_action="carrier_changed",
        )

    return act_on(shipment_id, run)
