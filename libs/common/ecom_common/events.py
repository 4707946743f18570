"""The event envelope and the registry of every event type on the bus.

Every event any service publishes is declared here with a marshmallow schema for its payload, so
that a reader sees the whole vocabulary of the platform in one file and a producer cannot publish
a payload that breaks the contract (`make_event` validates). Consumers read payloads as dicts and
may rely on the required fields declared here.

Routing key = `<producer>.<Type>` (CONTRACTS.md, "Events").
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from marshmallow import INCLUDE, Schema, ValidationError, fields, validate

from . import context
from .clock import iso, utcnow

ENVELOPE_VERSION = 1


class Payload(Schema):
    # Producers may add fields without a registry change; consumers ignore what they do not know.
    class Meta:
        unknown = INCLUDE


REGISTRY: dict[str, type[Schema]] = {}
_S = TypeVar("_S", bound=type[Schema])


def event(routing_key: str) -> Callable[[_S], _S]:
    producer, _, name = routing_key.partition(".")
    if not producer or not name:
        raise ValueError(f"routing key must be <producer>.<Type>: {routing_key!r}")

    def register(schema_cls: _S) -> _S:
        REGISTRY[routing_key] = schema_cls
        return schema_cls

    return register


# Reusable pieces ------------------------------------------------------------------------------
class Line(Payload):
    sku_code = fields.Str(required=True)
    quantity = fields.Int(required=True, validate=validate.Range(min=1))


class PricedLine(Line):
    unit_price_fen = fields.Int()
    category_id = fields.Str(allow_none=True)
    list_price_fen = fields.Int()
    # The line's share of the order-level discounts and what it paid (unit x quantity - discount):
    # refunds of the line read paid_fen (orders placed before marketing priced them lack both).
    discount_fen = fields.Int(validate=validate.Range(min=0))
    paid_fen = fields.Int(validate=validate.Range(min=0))


class Discount(Payload):
    """One (line, source) deduction of marketing's quote, with who funds it."""

    line = fields.Int(required=True, validate=validate.Range(min=0))
    sku_code = fields.Str(required=True)
    source = fields.Str(required=True)
    ref = fields.Str(allow_none=True)
    amount_fen = fields.Int(required=True, validate=validate.Range(min=1))
    funded_by = fields.Str(required=True, validate=validate.OneOf(["shop", "platform"]))


class SkuPrice(Payload):
    sku_code = fields.Str(required=True)
    list_price_fen = fields.Int(required=True)
    promo_price_fen = fields.Int(allow_none=True)
    member_price_fen = fields.Int(allow_none=True)
    low_stock_threshold = fields.Int(load_default=10)
    weight_g = fields.Int(allow_none=True)


# catalog -------------------------------------------------------------------------------------
class ProductRef(Payload):
    product_id = fields.Str(required=True)
    shop_id = fields.Str(required=True)


@event("catalog.ProductSubmitted")
class ProductSubmitted(ProductRef):
    title = fields.Str()


@event("catalog.ProductApproved")
class ProductApproved(ProductRef):
    reviewer = fields.Str()


@event("catalog.ProductRejected")
class ProductRejected(ProductRef):
    reason = fields.Str()


@event("catalog.ProductListed")
class ProductListed(ProductRef):
    title = fields.Str()
    category_id = fields.Str(allow_none=True)
    skus = fields.List(fields.Nested(SkuPrice), required=True)


@event("catalog.ProductDelisted")
class ProductDelisted(ProductRef):
    reason = fields.Str()
    sku_codes = fields.List(fields.Str())


@event("catalog.ProductDeleted")
class ProductDeleted(ProductRef):
    sku_codes = fields.List(fields.Str())


@event("catalog.ProductRestored")
class ProductRestored(ProductRef):
    pass


@event("catalog.PriceChanged")
class PriceChanged(ProductRef):
    skus = fields.List(fields.Nested(SkuPrice), required=True)


# orders --------------------------------------------------------------------------------------
class OrderRef(Payload):
    order_id = fields.Str(required=True)
    shop_id = fields.Str(required=True)


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


# billing -------------------------------------------------------------------------------------
@event("billing.PaymentSucceeded")
class PaymentSucceeded(OrderRef):
    payment_id = fields.Str(required=True)
    amount_fen = fields.Int(required=True)
    method = fields.Str()
    paid_at = fields.Str()


@event("billing.PaymentFailed")
class PaymentFailed(OrderRef):
    payment_id = fields.Str(required=True)
    reason = fields.Str()
    failure_code = fields.Str(allow_none=True)  # card_declined, insufficient_funds, expired_card, ...
    method = fields.Str()


@event("billing.RefundSucceeded")
class RefundSucceeded(OrderRef):
    refund_id = fields.Str(required=True)
    amount_fen = fields.Int(required=True)
    case_id = fields.Str(allow_none=True)
    payment_id = fields.Str(allow_none=True)
    # order_cancelled | late_payment (a success that arrived after the cancel) | aftersales
    kind = fields.Str()
    after_settlement = fields.Bool()  # taken from the shop's next payout


@event("billing.RefundFailed")
class RefundFailed(OrderRef):
    refund_id = fields.Str(required=True)
    reason = fields.Str()
    case_id = fields.Str(allow_none=True)
    # amount_exceeds_paid, quantity_exceeds_bought, line_not_in_order, order_not_paid, unknown_order, ...
    code = fields.Str()
    requested_fen = fields.Int()


@event("billing.SettlementScheduled")
class SettlementScheduled(OrderRef):
    settlement_id = fields.Str(required=True)
    due_at = fields.Str(required=True)


@event("billing.SettlementPaid")
class SettlementPaid(Payload):
    shop_id = fields.Str(required=True)
    payout_id = fields.Str(required=True)
    amount_fen = fields.Int(required=True)
    settlement_ids = fields.List(fields.Str())
    order_ids = fields.List(fields.Str())


# marketing -----------------------------------------------------------------------------------
class CouponRef(Payload):
    claim_id = fields.Str(required=True)
    template_id = fields.Str(required=True)
    buyer_id = fields.Str(required=True)
    shop_id = fields.Str(required=True, allow_none=True)  # null: a platform coupon
    funded_by = fields.Str(required=True)  # shop | platform


@event("marketing.CouponIssued")
class CouponIssued(CouponRef):
    pass


@event("marketing.CouponUsed")
class CouponUsed(CouponRef):
    order_id = fields.Str(required=True)


@event("marketing.CouponReleased")
class CouponReleased(CouponRef):
    order_id = fields.Str(required=True)
    reason = fields.Str()  # the order's cancellation reason, or "timeout" (the order never appeared)


@event("marketing.GiftGranted")
class GiftGranted(Payload):
    order_id = fields.Str(required=True)
    shop_id = fields.Str(required=True)
    buyer_id = fields.Str(required=True)
    promotion_id = fields.Str(required=True)
    gift_sku_code = fields.Str(required=True)  # goes on the shipment's pick list
    quantity = fields.Int(required=True)


@event("marketing.MemberTierChanged")
class MemberTierChanged(Payload):
    shop_id = fields.Str(required=True)
    buyer_id = fields.Str(required=True)
    from_tier = fields.Str(required=True)  # new | active | high_value
    tier = fields.Str(required=True)


@event("marketing.PointsEarned")
class PointsEarned(Payload):
    shop_id = fields.Str(required=True)
    buyer_id = fields.Str(required=True)
    order_id = fields.Str(required=True)
    points = fields.Int(required=True)
    balance = fields.Int(required=True)


# inventory -----------------------------------------------------------------------------------
@event("inventory.StockReserved")
class StockReserved(OrderRef):
    lines = fields.List(fields.Nested(Line), required=True)


@event("inventory.StockShortage")
class StockShortage(OrderRef):
    # Which lines are short and by how many; policy says whether the order waits or is cancelled.
    short = fields.List(fields.Dict(), required=True)
    policy = fields.Str(validate=validate.OneOf(["wait", "cancel"]), required=True)


@event("inventory.StockReleased")
class StockReleased(OrderRef):
    lines = fields.List(fields.Nested(Line))


@event("inventory.StockDeducted")
class StockDeducted(OrderRef):
    lines = fields.List(fields.Nested(Line))


@event("inventory.LowStock")
class LowStock(Payload):
    sku_code = fields.Str(required=True)
    shop_id = fields.Str(allow_none=True)
    available = fields.Int(required=True)
    threshold = fields.Int(required=True)


@event("inventory.StockItemCreated")
class StockItemCreated(Payload):
    sku_code = fields.Str(required=True)
    shop_id = fields.Str(allow_none=True)


# logistics -----------------------------------------------------------------------------------
class ShipmentRef(OrderRef):
    shipment_id = fields.Str(required=True)


@event("logistics.ShipmentCreated")
class ShipmentCreated(ShipmentRef):
    carrier = fields.Str(allow_none=True)
    # Set on an exchange's replacement shipment.
    case_id = fields.Str(allow_none=True)


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


# aftersales ----------------------------------------------------------------------------------
class CaseRef(OrderRef):
    case_id = fields.Str(required=True)


@event("aftersales.CaseRequested")
class CaseRequested(CaseRef):
    case_type = fields.Str()


@event("aftersales.RefundApproved")
class RefundApproved(CaseRef):
    amount_fen = fields.Int(required=True)
    lines = fields.List(fields.Nested(Line))
    # 1 for the first request; cs retrying after billing.RefundFailed sends attempt + 1.
    attempt = fields.Int(load_default=1)


@event("aftersales.ReturnReceived")
class ReturnReceived(CaseRef):
    resellable = fields.Bool(required=True)
    lines = fields.List(fields.Nested(Line), required=True)


@event("aftersales.ReshipRequested")
class ReshipRequested(CaseRef):
    lines = fields.List(fields.Nested(Line), required=True)
    shipping_paid_by = fields.Str()
    returned_lines = fields.List(fields.Nested(Line))  # what came back (lines = the new spec to ship)


@event("aftersales.OrderCancelRequested")
class OrderCancelRequested(CaseRef):
    reason = fields.Str()


@event("aftersales.CaseClosed")
class CaseClosed(CaseRef):
    outcome = fields.Str()


@event("aftersales.ComplaintEscalated")
class ComplaintEscalated(Payload):
    complaint_id = fields.Str(required=True)
    shop_id = fields.Str(required=True)
    tier = fields.Str(required=True)
    reason = fields.Str()
    order_id = fields.Str()
    kind = fields.Str()  # "crisis" (at creation) or "breach:<milestone>" (the SLA job)


@event("aftersales.ServiceClockBreached")
class ServiceClockBreached(Payload):
    # A case's or complaint's service clock ran out (首问负责制): escalated once per milestone.
    kind = fields.Str(required=True)  # case | complaint | review (a bad review's follow-up task)
    ref_id = fields.Str(required=True)
    shop_id = fields.Str(required=True)
    order_id = fields.Str()
    milestone = fields.Str(required=True)  # first_response | solution | resolution
    owner = fields.Str(allow_none=True)
    due_at = fields.Str()


@event("aftersales.ReviewRiskFlagged")
class ReviewRiskFlagged(Payload):
    # A review's text names a risk keyword (假货, 诈骗, 过敏, ...): an alert for cs and admin.
    review_id = fields.Str(required=True)
    order_id = fields.Str(required=True)
    shop_id = fields.Str(required=True)
    stars = fields.Int(required=True)
    keywords = fields.List(fields.Str(), required=True)


@event("aftersales.DisputeOpened")
class DisputeOpened(CaseRef):
    # The buyer appealed a rejected case (once); a platform reviewer arbitrates.
    dispute_id = fields.Str(required=True)


@event("aftersales.DisputeDecided")
class DisputeDecided(CaseRef):
    dispute_id = fields.Str(required=True)
    outcome = fields.Str(required=True, validate=validate.OneOf(["upheld", "overturned"]))
    reason = fields.Str()


# Envelope ------------------------------------------------------------------------------------
@dataclass
class Envelope:
    type: str
    producer: str
    payload: dict[str, Any]
    event_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    version: int = ENVELOPE_VERSION
    occurred_at: str = field(default_factory=lambda: iso(utcnow()))
    correlation_id: str | None = None
    causation_id: str | None = None

    @property
    def routing_key(self) -> str:
        return f"{self.producer}.{self.type}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "event_id": self.event_id,
            "type": self.type,
            "version": self.version,
            "occurred_at": self.occurred_at,
            "producer": self.producer,
            "correlation_id": self.correlation_id,
            "causation_id": self.causation_id,
            "payload": self.payload,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Envelope:
        missing = [k for k in ("event_id", "type", "producer", "payload") if k not in data]
        if missing:
            raise ValueError(f"not an event envelope, missing {missing}")
        return cls(
            type=data["type"],
            producer=data["producer"],
            payload=data["payload"],
            event_id=str(data["event_id"]),
            version=int(data.get("version", 1)),
            occurred_at=data.get("occurred_at") or iso(utcnow()),
            correlation_id=data.get("correlation_id"),
            causation_id=data.get("causation_id"),
        )


class UnknownEvent(ValueError):
    pass


_SCHEMAS: dict[str, Schema] = {}


def _schema(routing_key: str, schema_cls: type[Schema]) -> Schema:
    """One instance per event type: creating a marshmallow schema deep-copies its declared fields,
    which took four times as long as validating the payload; validating keeps no state on it."""
    schema = _SCHEMAS.get(routing_key)
    if schema is None:
        schema = _SCHEMAS[routing_key] = schema_cls()
    return schema


def make_event(routing_key: str, payload: dict[str, Any], occurred_at: datetime | None = None) -> Envelope:
    """Build a validated envelope, carrying the current correlation and causation ids."""
    schema_cls = REGISTRY.get(routing_key)
    if schema_cls is None:
        raise UnknownEvent(f"{routing_key} is not in the event registry (ecom_common.events)")
    errors = _schema(routing_key, schema_cls).validate(payload)
    if errors:
        raise ValidationError({"payload": errors}, data=payload)
    producer, _, name = routing_key.partition(".")
    env = Envelope(
        type=name,
        producer=producer,
        payload=json.loads(json.dumps(payload, default=_json_default)),
        correlation_id=context.correlation_id() or str(uuid.uuid4()),
        causation_id=context.causation_id(),
    )
    if occurred_at is not None:
        env.occurred_at = iso(occurred_at)
    return env


def _json_default(value: object) -> str:
    if isinstance(value, datetime):
        return iso(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
