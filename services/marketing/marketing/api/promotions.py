"""A shop's promotions: full reduction (满减, tiers or 每满 with a cap), time-bound SKU discounts
(限时折扣, optionally in a daily window: 分时折扣) and the first-order discount (首单立减). Ops
manage their shop's; finance reads; another shop's is 404."""

from __future__ import annotations

import re

import sqlalchemy as sa
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from ecom_common.auth import list_filter, requires, shop_for_write
from ecom_common.http import Blueprint, current_db
from ecom_common.idempotency import idempotent
from ecom_common.pagination import PageArgs, paginate
from ecom_common.schemas import BodySchema, UtcTime, page_of
from ecom_common.usecase import use_case

from .. import operations
from ..models import Promotion
from ..settings import Settings
from .schemas import Fen, Time

blp = Blueprint("promotions", __name__)
KINDS = ("full_reduction", "timed_discount", "first_order", "first_n_gift", "buy_n_gift", "gift_over_amount")
READERS = ("ops", "finance", "admin", "service")
HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


class TierIn(BodySchema):
    threshold_fen = Fen(required=True, metadata={"description": "满X: compared in fen, never truncated"})
    reduction_fen = Fen(required=True)


class PromotionIn(BodySchema):
    shop_id = fields.Str(validate=validate.Length(min=1, max=64))
    kind = fields.Str(required=True, validate=validate.OneOf(KINDS))
    campaign_id = fields.Str(
        validate=validate.Length(min=1, max=40), metadata={"description": "the campaign whose subsidy pays it"}
    )
    name = fields.Str(required=True, validate=validate.Length(min=1, max=100))
    starts_at = Time(required=True)
    ends_at = Time(required=True)
    tiers = fields.List(fields.Nested(TierIn), validate=validate.Length(min=1, max=10))
    per_every = fields.Bool(load_default=False, metadata={"description": "每满: one tier, counted as often as met"})
    cap_fen = Fen(allow_none=True, load_default=None)
    sku_codes = fields.List(fields.Str(validate=validate.Length(min=1, max=64)), validate=validate.Length(max=500))
    rate_bps = fields.Int(
        validate=validate.Range(min=1, max=9999), metadata={"description": "share of the list price paid: 8500 = 8.5折"}
    )
    window_start = fields.Str(validate=validate.Regexp(HHMM), metadata={"description": "HH:MM, local time"})
    window_end = fields.Str(validate=validate.Regexp(HHMM))
    reduction_fen = Fen()
    threshold_fen = Fen(load_default=0)
    gift_sku_code = fields.Str(validate=validate.Length(min=1, max=64), metadata={"description": "the gift kinds"})
    gift_limit = fields.Int(
        validate=validate.Range(min=1, max=10_000_000),
        metadata={"description": "first_n_gift: N payers; the other gift kinds: gifts in stock (optional)"},
    )
    buy_quantity = fields.Int(
        validate=validate.Range(min=1, max=10_000), metadata={"description": "buy_n_gift: a gift per N units"}
    )

    @validates_schema
    def _terms_of_kind(self, data, **kwargs):
        need = {
            "full_reduction": ("tiers",),
            "timed_discount": ("sku_codes", "rate_bps"),
            "first_order": ("reduction_fen",),
            "first_n_gift": ("gift_sku_code", "gift_limit"),
            "buy_n_gift": ("gift_sku_code", "buy_quantity"),
            "gift_over_amount": ("gift_sku_code",),
        }
        missing = [f for f in need[data["kind"]] if data.get(f) in (None, [])]
        if missing:
            raise ValidationError({f: [f"required for {data['kind']}"] for f in missing})
        if data["kind"] == "gift_over_amount" and not data.get("threshold_fen"):
            raise ValidationError({"threshold_fen": ["required for gift_over_amount, above 0"]})
        if ("window_start" in data) != ("window_end" in data):
            raise ValidationError({"window_end": ["give both ends of the daily window, or neither"]})
        if data.get("per_every") and len(data.get("tiers") or []) != 1:
            raise ValidationError({"tiers": ["每满 takes exactly one tier"]})
        if data.get("per_every") and data["tiers"][0]["threshold_fen"] == 0:
            raise ValidationError({"tiers": ["每满 needs a threshold above 0"]})


class PromotionOut(Schema):
    promotion_id = fields.Str()
    shop_id = fields.Str()
    kind = fields.Str()
    name = fields.Str()
    status = fields.Str(metadata={"description": "active | ended"})
    starts_at = UtcTime()
    ends_at = UtcTime()
    terms = fields.Dict()
    campaign_id = fields.Str(allow_none=True)
    gift_limit = fields.Int(allow_none=True)
    gifts_granted = fields.Int()
    created_at = UtcTime()
    created_by = fields.Str()


PromotionPage = page_of(PromotionOut)


class PromotionArgs(PageArgs):
    shop_id = fields.Str()
    kind = fields.Str(validate=validate.OneOf(KINDS))
    status = fields.Str(validate=validate.OneOf(("active", "ended")))


def _minutes(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


def terms_of(body: dict) -> dict:
    kind = body["kind"]
    if kind == "full_reduction":
        return {"tiers": body["tiers"], "per_every": body["per_every"], "cap_fen": body.get("cap_fen")}
    if kind == "timed_discount":
        window = {}
        if "window_start" in body:
            window = {"window_start": _minutes(body["window_start"]), "window_end": _minutes(body["window_end"])}
        return {"sku_codes": body["sku_codes"], "rate_bps": body["rate_bps"], **window}
    if kind == "first_n_gift":
        gift = {"gift_sku_code": body["gift_sku_code"], "gift_limit": body["gift_limit"]}
        return {**gift, "threshold_fen": body.get("threshold_fen", 0)}
    if kind == "buy_n_gift":
        gift = {"gift_sku_code": body["gift_sku_code"], "gift_limit": body.get("gift_limit")}
        return {**gift, "buy_quantity": body["buy_quantity"], "sku_codes": body.get("sku_codes") or []}
    if kind == "gift_over_amount":
        gift = {"gift_sku_code": body["gift_sku_code"], "gift_limit": body.get("gift_limit")}
        return {**gift, "threshold_fen": body["threshold_fen"]}
    return {"reduction_fen": body["reduction_fen"], "threshold_fen": body.get("threshold_fen", 0)}


@blp.route("/promotions", methods=["POST"])
@requires("ops", "admin")
@idempotent()
@blp.arguments(PromotionIn)
@blp.response(201, PromotionOut)
def create_promotion(body):
    """Create a promotion for your shop (platform roles name the shop). A daily window is local
    time (MARKETING_UTC_OFFSET_MINUTES) and may wrap past midnight. `ends_at` after `starts_at` (422)."""
    shop_id = shop_for_write(body.get("shop_id"))
    with use_case(Settings) as ctx:
        data = {**body, "terms": terms_of(body)}
        return PromotionOut().dump(operations.create_promotion(ctx, shop_id, data))


@blp.route("/promotions", methods=["GET"])
@requires(*READERS)
@blp.arguments(PromotionArgs, location="query")
@blp.response(200, PromotionPage)
def list_promotions(args):
    """Your shop's promotions, newest first."""
    with current_db().Session() as session:
        stmt = sa.select(Promotion).where(list_filter(Promotion.shop_id, shop_id=args.get("shop_id")))
        for name in ("kind", "status"):
            if args.get(name):
                stmt = stmt.where(getattr(Promotion, name) == args[name])
        return paginate(
            session,
            stmt,
            [Promotion.created_at, Promotion.promotion_id],
            args["limit"],
            args.get("cursor"),
            to_item=PromotionOut().dump,
        )


@blp.route("/promotions/<promotion_id>", methods=["GET"])
@requires(*READERS)
@blp.response(200, PromotionOut)
def get_promotion(promotion_id):
    with use_case(Settings) as ctx:
        return PromotionOut().dump(operations.get_promotion(ctx, promotion_id))


@blp.route("/promotions/<promotion_id>/end", methods=["POST"])
@requires("ops", "admin")
@blp.response(200, PromotionOut)
def end_promotion(promotion_id):
    """End the promotion now: quotes no longer apply it (ending an ended one changes nothing)."""
    with use_case(Settings) as ctx:
        return PromotionOut().dump(operations.end_promotion(ctx, promotion_id))
