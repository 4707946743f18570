"""logistics's events."""

from __future__ import annotations

from marshmallow import fields

from . import Line, OrderRef, event


class ShipmentRef(OrderRef):
    shipment_id = fields.Str(required=True)


@event("logistics.ShipmentCreated")
class ShipmentCreated(ShipmentRef):
    carrier = fields.Str(allow_none=True)
    # Set on an exchange's replacement shipment.
    case_id = fields.Str(allow_none=True)
    # The dispatch deadline logistics gave it (payment + 24 h, 48 h in a declared promotion period).
    dispatch_by = fields.Str()


@event("logistics.ShipmentDispatched")
class ShipmentDispatched(ShipmentRef):
    carrier = fields.Str(required=True)
    tracking_no = fields.Str(required=True)
    lines = fields.List(fields.Nested(Line), required=True)
    # A replacement shipment of an exchange (aftersales) is not the order's first shipment.
    case_id = fields.Str(allow_none=True)


@event("logistics.ShipmentDelivered")
class ShipmentDelivered(ShipmentRef):
    delivered_at = fields.Str()
    case_id = fields.Str(allow_none=True)


@event("logistics.ShipmentStalled")
class ShipmentStalled(ShipmentRef):
    last_progress_at = fields.Str()


@event("logistics.ShipmentException")
class ShipmentException(ShipmentRef):
    reason = fields.Str()


@event("logistics.CarrierChanged")
class CarrierChanged(ShipmentRef):
    """A dispatched parcel moved to another carrier (a failed pickup): the buyer's tracking number
    changes. Consumers apply it only over the old number (a change that overtakes an earlier one is
    retried until the earlier one is applied)."""

    old_carrier = fields.Str(allow_none=True)
    old_tracking_no = fields.Str(allow_none=True)
    carrier = fields.Str(required=True)
    tracking_no = fields.Str(required=True)
    reason = fields.Str(allow_none=True)
    at = fields.Str(required=True)
    # Set on an exchange's replacement shipment (not the order's own tracking number).
    case_id = fields.Str(allow_none=True)


@event("logistics.ArrivalEstimateChanged")
class ArrivalEstimateChanged(ShipmentRef):
    """Ops set a new estimated arrival for a parcel on its way (typically in exception): the buyer is
    told. One event per new estimate (the same estimate again emits nothing)."""

    estimated_arrival_at = fields.Str(required=True)
    previous_estimate_at = fields.Str(allow_none=True)
    reason = fields.Str(allow_none=True)
    carrier = fields.Str(allow_none=True)
    tracking_no = fields.Str(allow_none=True)
