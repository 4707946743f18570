"""CSV for spreadsheets, streamed: UTF-8 with a BOM (Excel then reads Chinese text right), CRLF rows,
and no cell that a spreadsheet would run as a formula. Pure, `mypy --strict`.

A local helper until the platform has a shared one (issue 19 mentions `ecom_common.csvexport`);
it behaves as analytics' CSV does (`analytics.domain.csv_cell`): text starting with = + - @ (or a
tab or CR) gets a leading apostrophe (OWASP "CSV injection"); numbers are written as they are, so a
negative amount stays a number; None is an empty cell; times are ISO-8601 UTC with a Z.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime

from ecom_common.clock import iso

BOM = "\ufeff"
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
CHUNK_CHARS = 64 * 1024  # how much text is gathered before it is handed to the client


def cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, datetime):
        return iso(value)  # UTC with a Z, as on the wire (a time read without its zone is UTC)
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def stream(header: Sequence[str], rows: Iterable[Sequence[object]]) -> Iterator[bytes]:
    """The CSV as UTF-8 chunks of about CHUNK_CHARS: the BOM and the header first, then the rows as
    `rows` yields them (a lazy iterable keeps memory flat however many rows there are)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    buffer.write(BOM)
    writer.writerow([cell(h) for h in header])
    for row in rows:
        writer.writerow([cell(v) for v in row])
        if buffer.tell() >= CHUNK_CHARS:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode("utf-8")
