"""The daily reconciliation (reports.py): the money flow against the order flow."""

from __future__ import annotations

from datetime import date

from marshmallow import Schema, fields

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
