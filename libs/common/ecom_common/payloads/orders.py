"""orders's events."""

from __future__ import annotations

from marshmallow import fields, validate

from . import Discount, OrderRef, PricedLine, event


@event("orders.OrderPlaced")
class OrderPlaced(OrderRef):
    buyer_id = fields.Str(required=True)
    payable_fen = fields.Int(required=True)
    lines = fields.List(fields.Nested(PricedLine), required=True)
    discounts = fields.List(fields.Nested(Discount), load_default=list)
    points_used = fields.Int(load_default=0, validate=validate.Range(min=0))


@event("orders.OrderPaid")
class OrderPaid(OrderRef):
    buyer_id = fields.Str()
    payable_fen = fields.Int(required=True)
    paid_at = fields.Str(required=True)
    lines = fields.List(fields.Nested(PricedLine), required=True)
    presale = fields.Bool(load_default=False)
    # The receiver's province only (not the address): inventory reserves in the nearest warehouse.
    receiver_province = fields.Str(allow_none=True, validate=validate.Length(max=20))


@event("orders.OrderHeld")
class OrderHeld(OrderRef):
    reasons = fields.List(fields.Str(), required=True)
    priority = fields.Bool(load_default=False)


@event("orders.OrderReadyToShip")
class OrderReadyToShip(OrderRef):
    lines = fields.List(fields.Nested(PricedLine), required=True)
    paid_at = fields.Str(allow_none=True)
    priority = fields.Bool(load_default=False)
    # Receiver as masked for events; logistics asks orders for the full address when it prints.
    address = fields.Dict()
    # Total parcel weight (sum of SKU weight x quantity), when orders knows it: logistics uses it to
    # choose a carrier (heavy parcels go to a cheaper carrier).
    weight_g = fields.Int(allow_none=True)
    # Presale (a presale SKU, or the stock ran short): the date promised to the buyer (paid time + the
    # most presale days over the lines), the shipment's dispatch deadline. Null: the SOP's usual one.
    promised_ship_by = fields.Str(allow_none=True)


@event("orders.OrderShipped")
class OrderShipped(OrderRef):
    carrier = fields.Str()
    tracking_no = fields.Str()


@event("orders.OrderDelivered")
class OrderDelivered(OrderRef):
    pass


@event("orders.OrderCompleted")
class OrderCompleted(OrderRef):
    completed_at = fields.Str(required=True)
    payable_fen = fields.Int(required=True)
    lines = fields.List(fields.Nested(PricedLine))


@event("orders.OrderCancelled")
class OrderCancelled(OrderRef):
    reason = fields.Str()
    # Whether money was taken: billing refunds only then; inventory releases any reservation.
    was_paid = fields.Bool(load_default=False)
    lines = fields.List(fields.Nested(PricedLine))
    # Set when an after-sales case (refund-only before shipment) asked for the cancellation; billing
    # carries it into RefundSucceeded so that aftersales can close the case.
    case_id = fields.Str(allow_none=True)


@event("orders.AddressChanged")
class AddressChanged(OrderRef):
    """The buyer or the shop changed the receiver address before dispatch (POST /orders/{id}/address).
    Logistics re-reads the full address (GET orders /api/v1/orders/{id}) for a waybill not yet handed
    over; aftersales tells the buyer. `held`: the audit, run again on the new address, holds the order
    (`reasons`); a shipment for it should wait for the review (an approval sends OrderReadyToShip)."""

    buyer_id = fields.Str(required=True)
    # Masked like every event's address: region and street, name 张*, phone 138****5678, detail ****.
    address = fields.Dict(required=True)
    status = fields.Str(required=True)
    held = fields.Bool(load_default=False)
    reasons = fields.List(fields.Str(), load_default=list)
    changed_at = fields.Str(required=True)
    changed_by = fields.Str()


@event("orders.PresalePromised")
class PresalePromised(OrderRef):
    """A presale order's ship-by date, for the buyer (预计N天内发货): sent at payment when a line's SKU
    is presale (`reason: sku_presale`, paid time + the most presale days over the lines), or when the
    stock ran short and the shop waits (`reason: stock_shortage`). aftersales' notifications tell the
    buyer; the same date travels as `promised_ship_by` on OrderReadyToShip."""

    buyer_id = fields.Str(required=True)
    promised_ship_by = fields.Str(required=True)
    promise = fields.Str(required=True)
    ship_days = fields.Int(validate=validate.Range(min=0))
    reason = fields.Str(validate=validate.OneOf(["sku_presale", "stock_shortage"]))
