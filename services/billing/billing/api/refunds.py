"""Refunds (succeeded and refused), as finance, admin and a shop's staff read them."""

from __future__ import annotations

import sqlalchemy as sa
from marshmallow import Schema, fields, validate

from ecom_common.auth import requires
from ecom_common.http import Blueprint, current_db
from ecom_common.pagination import PageArgs, paginate
from ecom_common.schemas import UtcTime, page_of
from ecom_common.usecase import use_case

from .. import operations
from ..models import Refund
from ..settings import Settings
from .context import money_scope

blp = Blueprint("refunds", __name__)
READERS = ("finance", "admin", "ops", "cs", "service")


class RefundOut(Schema):
    refund_id = fields.Str()
    order_id = fields.Str()
    shop_id = fields.Str()
    payment_id = fields.Str(allow_none=True)
    case_id = fields.Str(allow_none=True)
    kind = fields.Str()
    status = fields.Str()
    amount_fen = fields.Int()
    requested_fen = fields.Int()
    reason = fields.Str(allow_none=True)
    route = fields.Str(allow_none=True)
    after_settlement = fields.Bool()
    lines = fields.Raw(allow_none=True)
    created_at = UtcTime()


class RefundArgs(PageArgs):
    order_id = fields.Str()
    case_id = fields.Str()
    shop_id = fields.Str()
    status = fields.Str(validate=validate.OneOf(["succeeded", "failed"]))


RefundPage = page_of(RefundOut)


@blp.route("/refunds", methods=["GET"])
@requires(*READERS)
@blp.arguments(RefundArgs, location="query")
@blp.response(200, RefundPage)
def list_refunds(args):
    """Refunds (succeeded and refused), newest first, for the caller's scope."""
    stmt = sa.select(Refund)
    shop = money_scope(args.get("shop_id"))
    if shop:
        stmt = stmt.where(Refund.shop_id == shop)
    for key in ("order_id", "case_id", "status"):
        if args.get(key):
            stmt = stmt.where(getattr(Refund, key) == args[key])
    with current_db().Session() as session:
        return paginate(session, stmt, [Refund.created_at, Refund.refund_id], args["limit"], args.get("cursor"))


@blp.route("/refunds/<refund_id>", methods=["GET"])
@requires(*READERS)
@blp.response(200, RefundOut)
def get_refund(refund_id):
    with use_case(Settings) as ctx:
        return operations.visible_refund(ctx, refund_id)
