"""The bodies, answers and query arguments of orders' API (names: README, "Names")."""

from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate, validates_schema
from webargs.fields import DelimitedList

from ecom_common.pagination import PageArgs
from ecom_common.schemas import MAX_INT, BodySchema, TimelineOut, UtcTime, page_of

from .. import domain, pricing
from ..operations.notes import CHANNELS, OUTCOMES

# The most orders one bulk request names.
BULK_MAX = 200
PHONE_RE = r"^\+?[0-9][0-9\- ]{5,18}[0-9]$"
# Phone search: the last four digits, or a full number (PHONE_RE, full-width digits allowed).
SEARCH_PHONE_RE = r"^(?:[0-9０-９]{4}|[+＋]?[0-9０-９][0-9０-９\- ]{5,18}[0-9０-９])$"


# Bodies and query arguments ------------------------------------------------------------------------------
def _flatten(messages, prefix: str = "") -> dict:
    """{"lines": {0: {"quantity": [...]}}} -> {"lines.0.quantity": [...]}: one naming for every error
    about a line or an address part, whether marshmallow or a business rule found it."""
    if not isinstance(messages, dict):
        return {prefix or "_schema": messages}
    out: dict = {}
    for key, value in messages.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict):
            out.update(_flatten(value, name))
        else:
            out[name] = value
    return out


class FlatErrorsSchema(BodySchema):
    def handle_error(self, error: ValidationError, data, *, many: bool, **kwargs):
        raise ValidationError(_flatten(error.messages), data=data)


class AddressIn(BodySchema):
    name = fields.Str(required=True, validate=validate.Length(min=1, max=50))
    phone = fields.Str(required=True, validate=validate.Regexp(PHONE_RE, error="Not a phone number."))
    province = fields.Str(required=True, validate=validate.Length(min=1, max=20))
    city = fields.Str(required=True, validate=validate.Length(min=1, max=40))
    # district/street/detail may be empty: an incomplete address is placed, then held by the audit.
    district = fields.Str(load_default="", validate=validate.Length(max=40))
    street = fields.Str(load_default="", validate=validate.Length(max=100))
    detail = fields.Str(load_default="", validate=validate.Length(max=200))


class LineIn(BodySchema):
    sku_code = fields.Str(required=True, validate=validate.Length(min=1, max=64))
    # The range is a business rule (pricing.check_requested_lines) so its message names the line.
    quantity = fields.Int(
        required=True,
        validate=validate.Range(max=MAX_INT),
        metadata={"minimum": 1, "maximum": pricing.MAX_LINE_QUANTITY},
    )


class OrderIn(FlatErrorsSchema):
    shop_id = fields.Str(required=True, validate=validate.Length(min=1, max=64))
    lines = fields.List(fields.Nested(LineIn), required=True, validate=validate.Length(min=1, max=50))
    address = fields.Nested(AddressIn, required=True)
    note = fields.Str(load_default="", validate=validate.Length(max=200))
    presale = fields.Bool(
        load_default=False,
        metadata={
            "description": "ignored: presale comes from the SKU (catalog's presale_ship_days) or a stock "
            "shortage, never from the buyer; accepted so that older clients are not refused"
        },
    )
    coupon_claim_ids = fields.List(
        fields.Str(validate=validate.Length(min=1, max=40)),
        load_default=list,
        validate=validate.Length(max=2),
        metadata={"description": "the buyer's coupon claims to use: at most one shop and one platform coupon"},
    )
    points = fields.Int(
        load_default=0,
        validate=validate.Range(min=0, max=MAX_INT),
        metadata={"description": "points to redeem (100 points = 1 yuan), capped by marketing"},
    )


class ReviewIn(FlatErrorsSchema):
    decision = fields.Str(required=True, validate=validate.OneOf(["approve", "reject"]))
    reason = fields.Str(load_default=None, validate=validate.Length(max=300))

    @validates_schema
    def _reason_for_reject(self, data, **kwargs):
        if data.get("decision") == "reject" and not (data.get("reason") or "").strip():
            raise ValidationError("A rejection needs a reason.", "reason")


class NoteIn(FlatErrorsSchema):
    text = fields.Str(required=True, validate=validate.Length(min=1, max=500))

    @validates_schema
    def _not_blank(self, data, **kwargs):
        if not (data.get("text") or "").strip():
            raise ValidationError("Must not be blank.", "text")


class ContactIn(FlatErrorsSchema):
    channel = fields.Str(required=True, validate=validate.OneOf(CHANNELS))
    outcome = fields.Str(required=True, validate=validate.OneOf(OUTCOMES))
    note = fields.Str(load_default="", validate=validate.Length(max=500))


class AddressChangeIn(FlatErrorsSchema):
    address = fields.Nested(AddressIn, required=True)


class CancelIn(FlatErrorsSchema):
    reason = fields.Str(load_default=None, validate=validate.Length(max=300))


class OrderListArgs(PageArgs):
    status = DelimitedList(fields.Str(validate=validate.OneOf(domain.STATUSES)))
    tab = fields.Str(validate=validate.OneOf([t[0] for t in domain.TABS]))
    shop_id = fields.Str()
    buyer_id = fields.Str()
    created_from = fields.AwareDateTime(default_timezone=None, metadata={"description": "placed at or after"})
    created_to = fields.AwareDateTime(default_timezone=None, metadata={"description": "placed at or before"})
    min_payable_fen = fields.Int(validate=validate.Range(min=0, max=MAX_INT))
    max_payable_fen = fields.Int(validate=validate.Range(min=0, max=MAX_INT))
    held_reason = fields.Str(validate=validate.OneOf(domain.HoldReason.ALL))
    priority = fields.Bool()
    phone = fields.Str(
        validate=validate.Regexp(SEARCH_PHONE_RE, error="Four digits, or a phone number."),
        metadata={"description": "the receiver's phone: its last four digits (尾号) or the full number"},
    )
    receiver_name = fields.Str(
        validate=validate.Length(min=1, max=50), metadata={"description": "the receiver's name as written"}
    )
    sku_code = fields.Str(
        validate=validate.Length(min=1, max=64), metadata={"description": "orders with a line of this SKU"}
    )
    format = fields.Str(
        load_default="json",
        validate=validate.OneOf(["json", "csv"]),
        metadata={"description": "csv: every order matching the filters, streamed (limit and cursor ignored)"},
    )

    @validates_schema
    def _ranges(self, data, **kwargs):
        if data.get("created_from") and data.get("created_to") and data["created_from"] > data["created_to"]:
            raise ValidationError("Must not be after created_to.", "created_from")
        if (
            data.get("min_payable_fen") is not None
            and data.get("max_payable_fen") is not None
            and data["min_payable_fen"] > data["max_payable_fen"]
        ):
            raise ValidationError("Must not be above max_payable_fen.", "min_payable_fen")


class CountArgs(Schema):
    shop_id = fields.Str()


class ShopArgs(Schema):
    shop_id = fields.Str(metadata={"description": "required for admin; ops use their own shop"})


class AuditRulesPatch(FlatErrorsSchema):
    auto_pass_max_fen = fields.Int(validate=validate.Range(min=0, max=MAX_INT))
    hold_above_fen = fields.Int(validate=validate.Range(min=0, max=MAX_INT))
    auto_pass_middle = fields.Bool()
    remote_regions = fields.List(fields.Str(validate=validate.Length(min=1, max=20)), validate=validate.Length(max=50))
    front_desk_keywords = fields.List(
        fields.Str(validate=validate.Length(min=1, max=20)), validate=validate.Length(max=50)
    )
    repeat_phone_count = fields.Int(validate=validate.Range(min=2, max=1000))
    repeat_phone_window_minutes = fields.Int(validate=validate.Range(min=1, max=7 * 24 * 60))
    note_hold_keywords = fields.List(
        fields.Str(validate=validate.Length(min=1, max=20)), validate=validate.Length(max=50)
    )
    priority_keywords = fields.List(
        fields.Str(validate=validate.Length(min=1, max=20)), validate=validate.Length(max=50)
    )


# Answers ---------------------------------------------------------------------------------------------------
class AddressOut(Schema):
    name = fields.Str()
    phone = fields.Str()
    province = fields.Str()
    city = fields.Str()
    district = fields.Str()
    street = fields.Str()
    detail = fields.Str()


class LineOut(Schema):
    line_no = fields.Int()
    sku_code = fields.Str()
    title = fields.Str()
    category_id = fields.Str(allow_none=True)
    quantity = fields.Int()
    list_price_fen = fields.Int()
    unit_price_fen = fields.Int(
        metadata={"description": "the single-item price: the lowest of promo, time-bound and member price"}
    )
    total_fen = fields.Int(metadata={"description": "unit_price_fen x quantity"})
    discount_fen = fields.Int(
        metadata={"description": "the line's share of the order-level discounts (满减, coupons, points)"}
    )
    paid_fen = fields.Int(
        metadata={"description": "what the line paid: total_fen - discount_fen; refunds of the line read it"}
    )
    weight_g = fields.Int()
    no_7day_return = fields.Bool(
        metadata={"description": "custom-made or fresh goods (catalog's SKU at placing): no 7-day no-reason return"}
    )


class DiscountOut(Schema):
    line = fields.Int(metadata={"description": "the line's line_no"})
    sku_code = fields.Str()
    source = fields.Str(
        metadata={
            "description": "promo_price | timed_discount | member_price | full_reduction | first_order | "
            "shop_coupon | platform_coupon | points"
        }
    )
    ref = fields.Str(allow_none=True, metadata={"description": "the promotion or coupon claim it came from"})
    amount_fen = fields.Int()
    funded_by = fields.Str(metadata={"description": "shop | platform"})


class ReviewWaitOut(Schema):
    waiting_minutes = fields.Int()
    target_minutes = fields.Int()
    overdue = fields.Bool()


class StaffNoteOut(Schema):
    id = fields.Int()
    kind = fields.Str(metadata={"description": "note | contact"})
    channel = fields.Str(allow_none=True, metadata={"description": "contact: " + " | ".join(CHANNELS)})
    outcome = fields.Str(allow_none=True, metadata={"description": "contact: " + " | ".join(OUTCOMES)})
    text = fields.Str()
    at = UtcTime()
    by = fields.Str()


class OrderOut(Schema):
    order_id = fields.Str()
    shop_id = fields.Str()
    buyer_id = fields.Str()
    status = fields.Str()
    tab = fields.Str(allow_none=True)
    presale = fields.Bool()
    priority = fields.Bool()
    note = fields.Str()
    address = fields.Nested(AddressOut)
    address_masked = fields.Bool(metadata={"description": "false only when the full address is shown"})
    goods_fen = fields.Int()
    discount_fen = fields.Int()
    shipping_fen = fields.Int()
    payable_fen = fields.Int()
    points_used = fields.Int()
    shipping_breakdown = fields.List(fields.Raw(), allow_none=True)
    held_reasons = fields.List(fields.Str())
    held_at = UtcTime(allow_none=True)
    review = fields.Nested(ReviewWaitOut, allow_none=True)
    promise = fields.Str(allow_none=True)
    promised_ship_by = UtcTime(allow_none=True)
    payment_id = fields.Str(allow_none=True)
    paid_at = UtcTime(allow_none=True)
    shipment_id = fields.Str(allow_none=True)
    carrier = fields.Str(allow_none=True)
    tracking_no = fields.Str(allow_none=True)
    shipped_at = UtcTime(allow_none=True)
    delivered_at = UtcTime(allow_none=True)
    completed_at = UtcTime(allow_none=True)
    cancelled_at = UtcTime(allow_none=True)
    cancel_reason = fields.Str(allow_none=True)
    case_id = fields.Str(allow_none=True)
    created_at = UtcTime()
    updated_at = UtcTime()
    lines = fields.List(fields.Nested(LineOut))
    discounts = fields.List(
        fields.Nested(DiscountOut), metadata={"description": "single order only: one row per (line, source)"}
    )
    timeline = fields.List(fields.Nested(TimelineOut))
    staff_notes = fields.List(
        fields.Nested(StaffNoteOut),
        metadata={
            "description": "single order, the shop's staff only (never the buyer): notes and contacts, oldest first"
        },
    )


OrderPage = page_of(OrderOut)


class TabCountOut(Schema):
    tab = fields.Str()
    label = fields.Str()
    statuses = fields.List(fields.Str())
    count = fields.Int()


class CountsOut(Schema):
    by_status = fields.Dict(keys=fields.Str(), values=fields.Int())
    tabs = fields.List(fields.Nested(TabCountOut))
    total = fields.Int()
    on_hold_overdue = fields.Int()


class AuditRulesOut(Schema):
    shop_id = fields.Str()
    is_default = fields.Bool()
    updated_at = UtcTime(allow_none=True)
    updated_by = fields.Str(allow_none=True)
    auto_pass_max_fen = fields.Int()
    hold_above_fen = fields.Int()
    auto_pass_middle = fields.Bool()
    remote_regions = fields.List(fields.Str())
    front_desk_keywords = fields.List(fields.Str())
    repeat_phone_count = fields.Int()
    repeat_phone_window_minutes = fields.Int()
    note_hold_keywords = fields.List(fields.Str())
    priority_keywords = fields.List(fields.Str())
