"""Streamed CSV exports, one way for every service's "export the current filters" (issue 19, "Export").

    rows = (order_row(o) for o in keyset_pages(...))      # a generator: one page of rows at a time
    return csv_response("orders.csv", HEADER, rows)       # Flask streams it as it is produced

- UTF-8 with a BOM, so that Excel opens Chinese text right; CRLF line ends.
- No cell starts a formula (OWASP "CSV injection"): text starting with = + - @ (or a tab or CR) gets
  a leading apostrophe; numbers are written as they are (a refund of -100 fen stays a number); times
  are ISO-8601 UTC with a Z, as on the wire.
- Streaming: the body is produced from the iterable as it is sent, CHUNK_ROWS rows at a time; nothing
  holds the whole file. `keyset_pages` reads a query page by page (keyset, not OFFSET), or a view
  reads with `execution_options(yield_per=...)`, so that 100,000 rows never sit in memory.
- Personal data: a `Column(phone=True)` is masked by `column_rows` unless the export may show phones;
  a caller building its rows itself decides per row what the role may see.

A view builds its query and checks the caller *before* it answers (a 403/404 stays problem+json),
then hands `csv_response` a generator that may open its own unit of work: `stream_with_context`
keeps the request (and its token) alive while the body is written.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask import Response, stream_with_context
from sqlalchemy.orm import Session

from .clock import iso
from .pagination import PageKey
from .privacy import mask_phone

BOM = "\ufeff"
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# Rows written into one chunk of the response body.
CHUNK_ROWS = 500


def cell(value: object) -> str:
    """A CSV cell a spreadsheet will not run; None is empty, booleans true/false, times ISO UTC."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, datetime):
        return iso(value)
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


@dataclass(frozen=True)
class Column:
    """A column: its header and how to read it from a row; `phone` columns are masked unless the
    export may show phones."""

    header: str
    value: Callable[[Any], object]
    phone: bool = False


def headers(columns: Sequence[Column]) -> list[str]:
    return [c.header for c in columns]


def column_rows(
    columns: Sequence[Column], things: Iterable[Any], *, show_phones: bool = False
) -> Iterator[list[object]]:
    """Each thing as the columns' values, phone columns masked unless `show_phones`."""
    for thing in things:
        values: list[object] = []
        for c in columns:
            v = c.value(thing)
            if c.phone and not show_phones and isinstance(v, str):
                v = mask_phone(v)
            values.append(v)
        yield values


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
        headers={"Content-Disposition": f'attachment; filename="{cell(filename)}"', "Cache-Control": "no-store"},
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
