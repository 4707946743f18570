"""Settlements per order (scheduled -> settled) and the payouts that paid them."""

from __future__ import annotations

import sqlalchemy as sa
from marshmallow import Schema, fields, validate

from ecom_common.auth import requires
from ecom_common.http import Blueprint, current_db
from ecom_common.pagination import PageArgs, paginate
from ecom_common.schemas import UtcTime, page_of

from ..models import Payout, Settlement
from .context import MONEY_READERS, csv_documented, csv_download, format_field, money_scope

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
    format = format_field()


class PayoutOut(Schema):
    payout_id = fields.Str()
    shop_id = fields.Str()
    amount_fen = fields.Int()
    entry_count = fields.Int()
    created_at = UtcTime()


class PayoutArgs(PageArgs):
    shop_id = fields.Str()


SettlementPage = page_of(SettlementOut)
SETTLEMENT_CSV = (
    "settlement_id",
    "order_id",
    "shop_id",
    "status",
    "completed_at",
    "due_at",
    "settled_at",
    "gross_fen",
    "refunded_fen",
    "commission_fen",
    "payout_id",
)
PayoutPage = page_of(PayoutOut)


@blp.route("/settlements", methods=["GET"])
@requires(*MONEY_READERS)
@blp.arguments(SettlementArgs, location="query")
@blp.response(200, SettlementPage)
@blp.doc(**csv_documented(SettlementPage, "every settlement the filters select"))
def list_settlements(args):
    """Settlements, latest due first; `format=csv` streams every one the filters select."""
    shop = money_scope(args.get("shop_id"))
    where = [Settlement.shop_id == shop] if shop else []
    where += [getattr(Settlement, key) == args[key] for key in ("order_id", "status") if args.get(key)]
    if args["format"] == "csv":
        columns = [getattr(Settlement, c) for c in SETTLEMENT_CSV]
        order = (Settlement.due_at.desc(), Settlement.settlement_id.desc())
        return csv_download(sa.select(*columns).where(*where).order_by(*order), SETTLEMENT_CSV, "settlements", shop)
    stmt = sa.select(Settlement).where(*where)
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
