"""Streamed CSV exports, the same for every service (issue 19, "Export"): UTF-8 with a BOM (Excel
opens Chinese text right), CRLF lines, no cell a spreadsheet would run as a formula (OWASP "CSV
injection": text starting with = + - @, a tab or a CR gets a leading apostrophe), phone columns
masked unless the caller may see phones, and the rows written as they are read: a generator over
the query (`yield_per`), so 100,000 rows never sit in memory.

A view builds its query and its tenancy filter *before* it answers (a 403/404 stays problem+json),
then hands `csv_response` a generator that opens its own unit of work; `stream_with_context` keeps
the request (and its token) alive while the body is written:

    def rows():
        with use_case(Settings) as ctx:
            yield from ctx.session.execute(stmt.execution_options(yield_per=500)).scalars()

    return csv_response("shipments.csv", COLUMNS, rows())
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import Response, stream_with_context

from .clock import iso
from .privacy import mask_phone

BOM = "\ufeff"
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def cell(value: object) -> str:
    """One cell: text starting a formula gets a leading apostrophe; numbers as they are (a negative
    number is a number, not a formula); booleans true/false; times ISO-8601 UTC; None empty."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, datetime):
        return iso(value) or ""
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


@dataclass(frozen=True)
class Column:
    """A column: its header and how to read it from a row; `phone` columns are masked unless the
    export may show phones."""

    header: str
    value: Callable[[Any], object]
    phone: bool = False


def lines(columns: list[Column], rows: Iterable[Any], *, show_phones: bool = False, chunk: int = 500) -> Iterator[str]:
    """The BOM and the header, then the rows, `chunk` at a time: a generator, never the whole file."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([cell(c.header) for c in columns])
    yield BOM + buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    pending = 0
    for row in rows:
        values = []
        for c in columns:
            v = c.value(row)
            if c.phone and not show_phones and isinstance(v, str):
                v = mask_phone(v)
            values.append(cell(v))
        writer.writerow(values)
        pending += 1
        if pending >= chunk:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
            pending = 0
    if pending:
        yield buffer.getvalue()


def csv_response(filename: str, columns: list[Column], rows: Iterable[Any], *, show_phones: bool = False) -> Response:
    """A streamed `text/csv` attachment (UTF-8 with a BOM); `rows` is read while the body is sent."""
    body = (text.encode("utf-8") for text in lines(columns, rows, show_phones=show_phones))
    return Response(
        stream_with_context(body),
        mimetype="text/csv",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
        },
    )
