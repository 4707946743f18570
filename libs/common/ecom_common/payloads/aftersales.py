"""aftersales's events."""

from __future__ import annotations

from marshmallow import fields, validate

from . import Line, OrderRef, Payload, event


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
    # A case's, complaint's or bad review's service clock ran out (首问负责制): escalated once per clock.
    kind = fields.Str(required=True)  # case | complaint | review (a bad review's follow-up task)
    ref_id = fields.Str(required=True)
    shop_id = fields.Str(required=True)
    order_id = fields.Str()
    milestone = fields.Str(required=True)  # first_response | solution | resolution | follow_up
    owner = fields.Str(allow_none=True)
    due_at = fields.Str()


@event("aftersales.OrderReviewed")
class OrderReviewed(Payload):
    # A buyer reviewed an order (once): the scores only, no text and nothing about the buyer.
    review_id = fields.Str(required=True)
    order_id = fields.Str(required=True)
    shop_id = fields.Str(required=True)
    stars = fields.Int(required=True, validate=validate.Range(min=1, max=5))
    nps = fields.Int(allow_none=True, validate=validate.Range(min=0, max=10))  # 0-10 would-recommend
    at = fields.Str(required=True)


@event("aftersales.ComplaintFiled")
class ComplaintFiled(Payload):
    # A buyer filed a complaint (once); a crisis is escalated at once (ComplaintEscalated follows).
    complaint_id = fields.Str(required=True)
    shop_id = fields.Str(required=True)
    order_id = fields.Str(required=True)
    tier = fields.Str(required=True)
    at = fields.Str(required=True)


@event("aftersales.ReviewRiskFlagged")
class ReviewRiskFlagged(Payload):
    # A review's text names a risk keyword (假货, 诈骗, 过敏, ...): an alert for cs and admin.
    review_id = fields.Str(required=True)
    order_id = fields.Str(required=True)
    shop_id = fields.Str(required=True)
    stars = fields.Int(required=True)
    keywords = fields.List(fields.Str(), required=True)
    # Catalog's banned words among them (the review is held pending, not public).
    banned_words = fields.List(fields.Str(), load_default=list)


@event("aftersales.CompensationCouponRequested")
class CompensationCouponRequested(OrderRef):
    # A serious or crisis complaint's solution carries a compensation coupon for the buyer (no
    # threshold, funded by the shop): for marketing to issue, once per complaint_id (its key).
    complaint_id = fields.Str(required=True)
    buyer_id = fields.Str(required=True)
    amount_fen = fields.Int(required=True, validate=validate.Range(min=1))
    funded_by = fields.Str(load_default="shop", validate=validate.OneOf(["shop", "platform"]))
    reason = fields.Str()


@event("aftersales.DisputeOpened")
class DisputeOpened(CaseRef):
    # The buyer appealed a rejected case (once); a platform reviewer arbitrates.
    dispute_id = fields.Str(required=True)


@event("aftersales.DisputeDecided")
class DisputeDecided(CaseRef):
    dispute_id = fields.Str(required=True)
    outcome = fields.Str(required=True, validate=validate.OneOf(["upheld", "overturned"]))
    reason = fields.Str()
