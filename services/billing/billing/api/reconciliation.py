"""The daily reconciliations (reports.py): the money flow against the order flow, and 三流合一
(funds, invoices, goods) per order."""

from __future__ import annotations

from datetime import date

from marshmallow import Schema, fields, validate

from ecom_common.auth import requires
from ecom_common.http import Blueprint, current_db

from .. import reports
from .context import MONEY_READERS, money_scope

blp = Blueprint("reconciliation", __name__)


class ReconciliationArgs(Schema):
    date = fields.Date(required=True, metadata={"description": "YYYY-MM-DD (UTC day)"})
    shop_id = fields.Str()


@blp.route("/reconciliation", methods=["GET"])
@requires(*MONEY_READERS)
@blp.arguments(ReconciliationArgs, location="query")
@blp.response(200)
def reconciliation(args):
    """The daily reconciliation: orders completed, paid, refunded, commission, paid out, and every
    mismatch between the money flow and the order flow."""
    shop = money_scope(args.get("shop_id"))
    day: date = args["date"]
    with current_db().Session() as session:
        return reports.reconciliation(session, day, shop)


class ThreeWayArgs(Schema):
    day = fields.Date(required=True, metadata={"description": "YYYY-MM-DD (UTC day)"})
    shop_id = fields.Str(validate=validate.Length(max=64))


@blp.route("/reconciliation/three-way", methods=["GET"])
@requires(*MONEY_READERS)
@blp.arguments(ThreeWayArgs, location="query")
@blp.response(200)
def three_way(args):
    """三流合一: for each order with a fact that day, funds (payments, refunds, payouts), the invoice
    (issued amount against paid less refunds) and goods (dispatched and returned units), with every
    mismatch and its reason."""
    shop = money_scope(args.get("shop_id"))
    with current_db().Session() as session:
        return reports.three_way(session, args["day"], shop)
