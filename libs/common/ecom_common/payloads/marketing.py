"""marketing's events."""

from __future__ import annotations

from marshmallow import fields

from . import Payload, event


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


@event("marketing.PromotionPeriodDeclared")
class PromotionPeriodDeclared(Payload):
    """A platform promotion period declared or changed (the whole period again, `version` + 1):
    copies keep the highest version they saw."""

    period_id = fields.Str(required=True)
    name = fields.Str(required=True)
    starts_at = fields.Str(required=True)
    ends_at = fields.Str(required=True)
    version = fields.Int(required=True)


@event("marketing.PromotionPeriodCancelled")
class PromotionPeriodCancelled(Payload):
    period_id = fields.Str(required=True)
    name = fields.Str()
    version = fields.Int(required=True)
