"""Streamed CSV exports, for every service's "export the current filters" (issue 19, "Export").

    rows = (order_row(o) for o in pages_of(...))          # a generator: one page of rows at a time
    return csv_response("orders.csv", HEADER, rows)       # Flask streams it as it is produced

- UTF-8 with a BOM, so that Excel opens Chinese text right; CRLF line ends.
- No cell starts a formula (OWASP "CSV injection"): text starting with = + - @ (or a tab or CR) gets
  a leading apostrophe; numbers are written as they are (a refund of -100 fen stays a number).
- Streaming: the body is produced row by row from the iterable; nothing holds the whole file.
  `keyset_pages` reads a query page by page (keyset, not OFFSET) so that 100,000 rows never sit in
  the session at once.

Masking personal data is the caller's: it decides per row what the role may see.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import sqlalchemy as sa
from flask import Response, stream_with_context
from sqlalchemy.orm import Session

from .pagination import PageKey

BOM = "\ufeff"
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# Rows written into one chunk of the response body.
CHUNK_ROWS = 500


def cell(value: object) -> str:
    """A CSV cell a spreadsheet will not run; None is empty, booleans true/false."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def stream_csv(header: Sequence[str], rows: Iterable[Sequence[object]]) -> Iterator[str]:
    """The CSV text in chunks: the BOM and the header first, then CHUNK_ROWS rows at a time."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    out.write(BOM)
    writer.writerow([cell(h) for h in header])
    for count, row in enumerate(rows, start=1):
        writer.writerow([cell(v) for v in row])
        if count % CHUNK_ROWS == 0:
            yield out.getvalue()
            out.seek(0)
            out.truncate()
    yield out.getvalue()


def csv_response(filename: str, header: Sequence[str], rows: Iterable[Sequence[object]]) -> Response:
    """A streamed `text/csv` attachment. Call it inside the request: the rows' generator runs while
    the body is sent, with the request context kept (stream_with_context), so it may open its own
    unit of work (ecom_common.usecase.use_case) there."""
    body = stream_with_context(chunk.encode("utf-8") for chunk in stream_csv(header, rows))
    return Response(
        body,
        mimetype="text/csv",  # Flask adds "; charset=utf-8"
        headers={"Content-Disposition": f'attachment; filename="{cell(filename)}"'},
    )


def keyset_pages(
    session: Session,
    stmt: sa.Select[Any],
    keys: Sequence[PageKey],
    page_size: int = 1000,
    to_row: Callable[[Any], Sequence[object]] = lambda thing: thing,
) -> Iterator[Sequence[object]]:
    """Every row of `stmt` (ORM entities), newest first by `keys` (unique together, e.g.
    [created_at, id]), read `page_size` at a time; each page is turned into rows and let go
    (expunged) before the next is read, so memory holds one page whatever the total."""
    order = [k.desc() for k in keys]
    last: list[Any] | None = None
    while True:
        page_stmt = stmt.order_by(*order).limit(page_size)
        if last is not None:
            page_stmt = page_stmt.where(sa.tuple_(*keys) < sa.tuple_(*last))
        things = session.execute(page_stmt).scalars().all()
        if not things:
            return
        last = [getattr(things[-1], k.key) for k in keys]
        rows = [to_row(thing) for thing in things]
        session.expunge_all()
        yield from rows
        if len(things) < page_size:
            return
