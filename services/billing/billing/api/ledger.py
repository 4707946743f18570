"""The merchant ledger: immutable entries, the balance and what the next payout would pay."""

from __future__ import annotations

import sqlalchemy as sa
from marshmallow import Schema, fields, validate

from ecom_common.auth import requires
from ecom_common.http import Blueprint, current_db
from ecom_common.pagination import PageArgs, paginate
from ecom_common.schemas import UtcTime, page_of

from .. import domain, reports
from ..models import LedgerEntry
from .context import MONEY_READERS, csv_documented, csv_download, format_field, money_scope

blp = Blueprint("ledger", __name__)


class LedgerEntryOut(Schema):
    entry_id = fields.Int(attribute="id")
    shop_id = fields.Str()
    kind = fields.Str()
    amount_fen = fields.Int()
    order_id = fields.Str(allow_none=True)
    ref_id = fields.Str()
    memo = fields.Str(allow_none=True)
    created_at = UtcTime()


class LedgerArgs(PageArgs):
    shop_id = fields.Str()
    order_id = fields.Str()
    kind = fields.Str(validate=validate.OneOf(domain.EntryKind.ALL))
    format = format_field()


LEDGER_CSV = ("entry_id", "shop_id", "kind", "amount_fen", "order_id", "ref_id", "memo", "created_at")


class LedgerPage(page_of(LedgerEntryOut)):
    """One page of ledger entries, with the balance of the whole scope."""

    shop_id = fields.Str(allow_none=True)
    balance_fen = fields.Int(metadata={"description": "sum of every entry in scope (all kinds, all dates)"})
    unpaid_released_fen = fields.Int(
        allow_none=True,
        metadata={"description": "settled but not yet paid out (negative: refunds to take from the next payout)"},
    )


@blp.route("/ledger", methods=["GET"])
@requires(*MONEY_READERS)
@blp.arguments(LedgerArgs, location="query")
@blp.response(200, LedgerPage)
@blp.doc(**csv_documented(LedgerPage, "every entry the filters select"))
def ledger(args):
    """The merchant ledger: immutable entries newest first, and the balance (their sum);
    `format=csv` streams every entry the filters select (no balance)."""
    shop = money_scope(args.get("shop_id"))
    where = [LedgerEntry.shop_id == shop] if shop else []
    where += [getattr(LedgerEntry, key) == args[key] for key in ("order_id", "kind") if args.get(key)]
    if args["format"] == "csv":
        columns = [LedgerEntry.id if c == "entry_id" else getattr(LedgerEntry, c) for c in LEDGER_CSV]
        stmt = sa.select(*columns).where(*where).order_by(LedgerEntry.id.desc())
        return csv_download(stmt, LEDGER_CSV, "ledger", shop)
    stmt = sa.select(LedgerEntry).where(*where)
    with current_db().Session() as session:
        page = paginate(session, stmt, [LedgerEntry.id], args["limit"], args.get("cursor"))
        page["shop_id"] = shop
        page["balance_fen"] = reports.ledger_balance(session, shop)
        page["unpaid_released_fen"] = reports.unpaid_released_fen(session, shop) if shop else None
        return page
