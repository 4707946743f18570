"""billing's events."""

from __future__ import annotations

from marshmallow import fields

from . import OrderRef, Payload, event


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


@event("billing.InvoiceIssued")
class InvoiceIssued(OrderRef):
    """Finance issued the buyer's invoice (发票): tell the buyer."""

    invoice_id = fields.Str(required=True)
    buyer_id = fields.Str(required=True)
    invoice_no = fields.Str(required=True)
    amount_fen = fields.Int(required=True)  # paid less refunds known to billing at issue time
    title_type = fields.Str()  # company | personal
    title = fields.Str()
    issued_at = fields.Str()


@event("billing.InvoiceRefused")
class InvoiceRefused(OrderRef):
    """Finance refused the buyer's invoice request: tell the buyer why (they may ask again)."""

    invoice_id = fields.Str(required=True)
    buyer_id = fields.Str(required=True)
    reason = fields.Str(required=True)
