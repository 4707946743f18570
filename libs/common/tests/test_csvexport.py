"""ecom_common.csvexport: BOM, formula neutralising, phone masking, chunked generation."""

from __future__ import annotations

import csv
import io
import itertools
from datetime import UTC, datetime

from flask import Flask

from ecom_common.csvexport import Column, cell, csv_response, lines

COLUMNS = [
    Column("id", lambda r: r["id"]),
    Column("phone", lambda r: r["phone"], phone=True),
    Column("note", lambda r: r["note"]),
]


def test_cells():
    assert [cell(v) for v in ("=1+1", "+86", "-x", "@SUM(A1)", "\tx", "ok", "中文")] == [
        "'=1+1",
        "'+86",
        "'-x",
        "'@SUM(A1)",
        "'\tx",
        "ok",
        "中文",
    ]
    assert (cell(-5), cell(1.5), cell(True), cell(None)) == ("-5", "1.5", "true", "")
    assert cell(datetime(2026, 11, 11, 8, tzinfo=UTC)) == "2026-11-11T08:00:00Z"


def test_lines_bom_header_masking_and_chunks():
    rows = [{"id": i, "phone": "13812345678", "note": '=HYPERLINK("x")'} for i in range(5)]
    chunks = list(lines(COLUMNS, rows, chunk=2))
    assert len(chunks) == 1 + 3 and chunks[0].startswith("\ufeffid,phone,note\r\n")
    parsed = list(csv.reader(io.StringIO("".join(chunks)[1:])))
    assert parsed[1] == ["0", "138****5678", '\'=HYPERLINK("x")'] and len(parsed) == 6
    shown = list(csv.reader(io.StringIO("".join(lines(COLUMNS, rows[:1], show_phones=True))[1:])))
    assert shown[1][1] == "13812345678"


def test_lines_are_generated_lazily():
    consumed = []

    def endless():
        for i in itertools.count():
            consumed.append(i)
            yield {"id": i, "phone": None, "note": None}

    gen = lines(COLUMNS, endless(), chunk=10)
    next(gen), next(gen)
    assert len(consumed) == 10  # only what the first chunk of rows needed


def test_response_is_a_streamed_attachment():
    app = Flask("t")
    with app.test_request_context():
        resp = csv_response("x.csv", COLUMNS, iter([{"id": 1, "phone": "x", "note": "y"}]))
        assert resp.is_streamed and resp.mimetype == "text/csv"
        assert resp.headers["Content-Type"] == "text/csv; charset=utf-8"
        assert resp.headers["Content-Disposition"] == 'attachment; filename="x.csv"'
        assert b"".join(resp.response).decode("utf-8").startswith("\ufeffid,phone,note")
