"""What several billing views share: who reads money, which shop a money read covers, and the CSV
download of a list (`?format=csv`)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import sqlalchemy as sa
from flask import Response
from marshmallow import fields, validate

from ecom_common.auth import shop_or_all
from ecom_common.csvexport import csv_response
from ecom_common.http import current_db

# The roles that read a shop's money (ledger, settlements, payouts, reconciliation).
MONEY_READERS = ("finance", "admin", "ops")
# Rows fetched from the database at a time while a CSV streams.
CSV_BATCH = 1_000


def money_scope(requested: str | None) -> str | None:
    """The shop a money read covers (ecom_common.auth.shop_or_all): merchant staff their own,
    platform roles and finance without a shop the one asked for, or all."""
    return shop_or_all(requested)


def csv_documented(page: type, what: str) -> dict:
    """The OpenAPI answer of a list that also answers `format=csv`: its JSON page and the CSV, both
    under 200 (an alt_response of the same status would replace the JSON one instead)."""
    csv_body = {"schema": {"type": "string", "description": f"{what}, streamed (README)"}}
    content = {"application/json": {"schema": page}, "text/csv": csv_body}
    return {"responses": {"200": {"description": f"a page; `format=csv`: {what}", "content": content}}}


def format_field() -> fields.Str:
    """`?format=json` (a page) or `csv` (every row the filters select, streamed; limit and cursor
    are ignored)."""
    return fields.Str(load_default="json", validate=validate.OneOf(["json", "csv"]))


def csv_download(stmt: sa.Select, header: Sequence[str], name: str, shop: str | None) -> Response:
    """Every row of `stmt` (its columns in `header`'s order) as a streamed CSV attachment
    (ecom_common.csvexport: BOM, no formulas). The rows are read in batches of CSV_BATCH from a session the
    stream opens and closes itself, after the view has checked who asks and for which shop."""
    db = current_db()

    def rows() -> Iterator[Sequence[object]]:
        with db.Session() as session:
            yield from session.execute(stmt.execution_options(yield_per=CSV_BATCH))

    filename = f"{name}-{shop or 'all'}-{db.config.clock.now().date().isoformat()}.csv"
    return csv_response(filename, header, rows())
