"""Coupons: templates (a shop's, funded by the shop and managed by its ops; or the platform's,
funded by the platform and managed by admin), the offers a buyer may claim, and the claims.
Finance reads; a buyer claims and sees their own; another shop's anything is 404."""

from __future__ import annotations

import sqlalchemy as sa
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from ecom_common.auth import current_principal, list_filter, requires, shop_for_write
from ecom_common.errors import Forbidden
from ecom_common.http import Blueprint, current_db
from ecom_common.idempotency import idempotent
from ecom_common.pagination import PageArgs, paginate
from ecom_common.schemas import BodySchema, UtcTime, page_of
from ecom_common.usecase import use_case

from .. import operations
from ..models import CouponClaim, CouponTemplate
from ..settings import Settings
from .schemas import Fen, Time

blp = Blueprint("coupons", __name__)
READERS = ("ops", "finance", "admin", "service")
CLAIM_READERS = ("buyer", "ops", "cs", "finance", "admin", "service")
CODES = fields.List(fields.Str(validate=validate.Length(min=1, max=64)), validate=validate.Length(max=500))


class CouponTemplateIn(BodySchema):
    shop_id = fields.Str(validate=validate.Length(min=1, max=64))
    platform = fields.Bool(load_default=False, metadata={"description": "a platform-funded coupon (admin only)"})
    name = fields.Str(required=True, validate=validate.Length(min=1, max=100))
    threshold_fen = Fen(load_default=0, metadata={"description": "满X (0: no threshold)"})
    reduction_fen = Fen(1, required=True)
    valid_from = Time(metadata={"description": "fixed validity, with valid_until"})
    valid_until = Time()
    valid_days = fields.Int(validate=validate.Range(min=1, max=3650), metadata={"description": "or N days after claim"})
    total_quantity = fields.Int(required=True, validate=validate.Range(min=1, max=10_000_000))
    per_buyer_limit = fields.Int(load_default=1, validate=validate.Range(min=1, max=1000))
    sku_codes = CODES
    category_ids = CODES

    @validates_schema
    def _one_validity(self, data, **kwargs):
        fixed = data.get("valid_from") is not None and data.get("valid_until") is not None
        if fixed == (data.get("valid_days") is not None):
            raise ValidationError({"valid_days": ["give valid_from and valid_until, or valid_days"]})


class CouponTemplateOut(Schema):
    template_id = fields.Str()
    shop_id = fields.Str(allow_none=True, metadata={"description": "null: a platform coupon"})
    funded_by = fields.Str(metadata={"description": "shop | platform"})
    name = fields.Str()
    status = fields.Str(metadata={"description": "active | stopped"})
    threshold_fen = fields.Int()
    reduction_fen = fields.Int()
    valid_from = UtcTime(allow_none=True)
    valid_until = UtcTime(allow_none=True)
    valid_days = fields.Int(allow_none=True)
    total_quantity = fields.Int()
    claimed_quantity = fields.Int()
    per_buyer_limit = fields.Int()
    sku_codes = fields.List(fields.Str())
    category_ids = fields.List(fields.Str())
    created_at = UtcTime()


class CouponClaimOut(Schema):
    claim_id = fields.Str()
    template_id = fields.Str()
    buyer_id = fields.Str()
    shop_id = fields.Str(allow_none=True)
    funded_by = fields.Str()
    status = fields.Str(metadata={"description": "available | locked | used"})
    order_id = fields.Str(allow_none=True)
    valid_from = UtcTime()
    valid_until = UtcTime()
    claimed_at = UtcTime()
    used_at = UtcTime(allow_none=True)


CouponTemplatePage = page_of(CouponTemplateOut)
CouponClaimPage = page_of(CouponClaimOut)


class CouponTemplateArgs(PageArgs):
    shop_id = fields.Str()
    status = fields.Str(validate=validate.OneOf(("active", "stopped")))


class CouponOfferArgs(PageArgs):
    shop_id = fields.Str(metadata={"description": "this shop's offers and the platform's"})


class CouponClaimArgs(PageArgs):
    shop_id = fields.Str()
    status = fields.Str(validate=validate.OneOf(("available", "locked", "used")))
    template_id = fields.Str()
    order_id = fields.Str()


@blp.route("/coupon-templates", methods=["POST"])
@requires("ops", "admin")
@idempotent()
@blp.arguments(CouponTemplateIn)
@blp.response(201, CouponTemplateOut)
def create_template(body):
    """A coupon template for your shop; `platform: true` (admin only, 403 otherwise) makes a
    platform-funded one. valid_until after valid_from (422)."""
    if body.pop("platform"):
        if "admin" not in current_principal().roles:
            raise Forbidden("platform coupons are managed by admin")
        shop_id = None
    else:
        shop_id = shop_for_write(body.get("shop_id"))
    with use_case(Settings) as ctx:
        return CouponTemplateOut().dump(operations.create_template(ctx, shop_id, body))


@blp.route("/coupon-templates", methods=["GET"])
@requires(*READERS)
@blp.arguments(CouponTemplateArgs, location="query")
@blp.response(200, CouponTemplatePage)
def list_templates(args):
    """Your shop's templates (platform roles: every shop's and the platform's), newest first."""
    with current_db().Session() as session:
        stmt = sa.select(CouponTemplate).where(list_filter(CouponTemplate.shop_id, shop_id=args.get("shop_id")))
        if args.get("status"):
            stmt = stmt.where(CouponTemplate.status == args["status"])
        keys = [CouponTemplate.created_at, CouponTemplate.template_id]
        return paginate(session, stmt, keys, args["limit"], args.get("cursor"), to_item=CouponTemplateOut().dump)


@blp.route("/coupon-templates/<template_id>", methods=["GET"])
@requires(*READERS)
@blp.response(200, CouponTemplateOut)
def get_template(template_id):
    with use_case(Settings) as ctx:
        return CouponTemplateOut().dump(operations.get_template(ctx, template_id))


@blp.route("/coupon-templates/<template_id>/stop", methods=["POST"])
@requires("ops", "admin")
@blp.response(200, CouponTemplateOut)
def stop_template(template_id):
    """No more claims of this template; claims already made stay usable."""
    with use_case(Settings) as ctx:
        return CouponTemplateOut().dump(operations.stop_template(ctx, template_id))


@blp.route("/coupon-offers", methods=["GET"])
@requires()
@blp.arguments(CouponOfferArgs, location="query")
@blp.response(200, CouponTemplatePage)
def list_offers(args):
    """The coupons a buyer can claim now (active, in validity, not all claimed): public offers,
    like listed products. With `shop_id`, that shop's and the platform's."""
    with use_case(Settings) as ctx:
        t = CouponTemplate
        stmt = sa.select(t).where(
            t.status == "active",
            t.claimed_quantity < t.total_quantity,
            sa.or_(t.valid_until.is_(None), t.valid_until > ctx.now),
        )
        if args.get("shop_id"):
            stmt = stmt.where(sa.or_(t.shop_id == args["shop_id"], t.shop_id.is_(None)))
        keys = [t.created_at, t.template_id]
        return paginate(ctx.session, stmt, keys, args["limit"], args.get("cursor"), to_item=CouponTemplateOut().dump)


@blp.route("/coupon-templates/<template_id>/claims", methods=["POST"])
@requires("buyer")
@idempotent()
@blp.response(201, CouponClaimOut)
def claim_coupon(template_id):
    """Claim one coupon of the template for yourself. 422 `sold_out` when every coupon is claimed,
    `limit_reached` past the per-buyer limit, `expired` after the offer's end; 404 for a template
    that is unknown or stopped."""
    with use_case(Settings) as ctx:
        return CouponClaimOut().dump(operations.claim_coupon(ctx, template_id, ctx.actor.id))


@blp.route("/coupon-claims", methods=["GET"])
@requires(*CLAIM_READERS)
@blp.arguments(CouponClaimArgs, location="query")
@blp.response(200, CouponClaimPage)
def list_claims(args):
    """A buyer's own claims; staff their shop's (platform roles every one), newest first."""
    with current_db().Session() as session:
        c = CouponClaim
        stmt = sa.select(c).where(list_filter(c.shop_id, c.buyer_id, shop_id=args.get("shop_id")))
        for name in ("status", "template_id", "order_id"):
            if args.get(name):
                stmt = stmt.where(getattr(c, name) == args[name])
        keys = [c.claimed_at, c.claim_id]
        return paginate(session, stmt, keys, args["limit"], args.get("cursor"), to_item=CouponClaimOut().dump)


@blp.route("/coupon-claims/<claim_id>", methods=["GET"])
@requires(*CLAIM_READERS)
@blp.response(200, CouponClaimOut)
def get_claim(claim_id):
    with use_case(Settings) as ctx:
        return CouponClaimOut().dump(operations.get_claim(ctx, claim_id))
