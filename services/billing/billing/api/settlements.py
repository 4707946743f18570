"""Settlements per order (scheduled -> settled) and the payouts that paid them."""

from __future__ import annotations

import sqlalchemy as sa
from marshmallow import Schema, fields, validate

from ecom_common.auth import requires
from ecom_common.http import Blueprint, current_db
from ecom_common.pagination import PageArgs, paginate
from ecom_common.schemas import UtcTime, page_of

from ..models import Payout, Settlement
from .context import MONEY_READERS, money_scope

blp = Blueprint("settlements", __name__)


class SettlementOut(Schema):
    settlement_id = fields.Str()
    order_id = fields.Str()
    shop_id = fields.Str()
    status = fields.Str()
    completed_at = UtcTime()
    due_at = UtcTime()
    settled_at = UtcTime(allow_none=True)
    gross_fen = fields.Int(allow_none=True)
    refunded_fen = fields.Int(allow_none=True)
    commission_fen = fields.Int(allow_none=True)
    payout_id = fields.Str(allow_none=True)


class SettlementArgs(PageArgs):
    shop_id = fields.Str()
    order_id = fields.Str()
    status = fields.Str(validate=validate.OneOf(["scheduled", "settled"]))


class PayoutOut(Schema):
    payout_id = fields.Str()
    shop_id = fields.Str()
    amount_fen = fields.Int()
    entry_count = fields.Int()
    created_at = UtcTime()


class PayoutArgs(PageArgs):
    shop_id = fields.Str()


SettlementPage = page_of(SettlementOut)
PayoutPage = page_of(PayoutOut)


@blp.route("/settlements", methods=["GET"])
@requires(*MONEY_READERS)
@blp.arguments(SettlementArgs, location="query")
@blp.response(200, SettlementPage)
def list_settlements(args):
    shop = money_scope(args.get("shop_id"))
    stmt = sa.select(Settlement)
    if shop:
        stmt = stmt.where(Settlement.shop_id == shop)
    for key in ("order_id", "status"):
        if args.get(key):
            stmt = stmt.where(getattr(Settlement, key) == args[key])
    with current_db().Session() as session:
        return paginate(session, stmt, [Settlement.due_at, Settlement.settlement_id], args["limit"], args.get("cursor"))


@blp.route("/payouts", methods=["GET"])
@requires(*MONEY_READERS)
@blp.arguments(PayoutArgs, location="query")
@blp.response(200, PayoutPage)
def list_payouts(args):
    shop = money_scope(args.get("shop_id"))
    stmt = sa.select(Payout)
    if shop:
        stmt = stmt.where(Payout.shop_id == shop)
    with current_db().Session() as session:
        return paginate(session, stmt, [Payout.created_at, Payout.payout_id], args["limit"], args.get("cursor"))
