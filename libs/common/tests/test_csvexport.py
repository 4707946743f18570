"""ecom_common.csvexport: cells that would start a formula are neutralised, numbers stay numbers,
times are ISO UTC, phone columns masked; the text starts with a BOM, comes in chunks and is made
lazily; the response streams; keyset_pages reads a page at a time."""

from __future__ import annotations

import csv
import io
import itertools
from datetime import UTC, datetime

import sqlalchemy as sa
from flask import Flask
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from ecom_common import csvexport
from ecom_common.csvexport import Column, cell, column_rows, csv_response, headers, keyset_pages, stream_csv

COLUMNS = [
    Column("id", lambda r: r["id"]),
    Column("phone", lambda r: r["phone"], phone=True),
    Column("note", lambda r: r["note"]),
]


def test_cells():
    assert [cell(v) for v in ("=1+1", "+86 138", "-x", "@SUM(A1)", "\tx", "\rx", "ok", "中文")] == [
        "'=1+1",
        "'+86 138",
        "'-x",
        "'@SUM(A1)",
        "'\tx",
        "'\rx",
        "ok",
        "中文",
    ]
    assert (cell(-100), cell(2.5), cell(None), cell(True), cell(False)) == ("-100", "2.5", "", "true", "false")
    assert cell(datetime(2026, 11, 11, 8, tzinfo=UTC)) == "2026-11-11T08:00:00Z"
    assert cell(datetime(2026, 11, 11, 8)) == "2026-11-11T08:00:00Z"  # read back without its zone: UTC


def test_phone_columns_are_masked_unless_shown():
    rows = [{"id": 1, "phone": "13812345678", "note": '=HYPERLINK("x")'}]
    parsed = list(csv.reader(io.StringIO("".join(stream_csv(headers(COLUMNS), column_rows(COLUMNS, rows)))[1:])))
    assert parsed == [["id", "phone", "note"], ["1", "138****5678", '\'=HYPERLINK("x")']]
    shown = list(column_rows(COLUMNS, rows, show_phones=True))
    assert shown[0][1] == "13812345678"


def test_rows_are_made_lazily(monkeypatch):
    monkeypatch.setattr(csvexport, "CHUNK_ROWS", 10)
    consumed = []

    def endless():
        for i in itertools.count():
            consumed.append(i)
            yield {"id": i, "phone": None, "note": None}

    chunks = stream_csv(headers(COLUMNS), column_rows(COLUMNS, endless()))
    next(chunks)
    assert len(consumed) == 10  # only what the first chunk of rows needed


def test_the_response_is_a_streamed_attachment():
    app = Flask("t")
    with app.test_request_context():
        resp = csv_response("x.csv", ["id"], iter([[1]]))
        assert resp.is_streamed and resp.mimetype == "text/csv"
        assert resp.headers["Content-Type"] == "text/csv; charset=utf-8"
        assert resp.headers["Content-Disposition"] == 'attachment; filename="x.csv"'
        assert b"".join(resp.response).decode("utf-8") == "\ufeffid\r\n1\r\n"


def test_stream_starts_with_a_bom_and_comes_in_chunks(monkeypatch):
    monkeypatch.setattr(csvexport, "CHUNK_ROWS", 2)
    chunks = list(stream_csv(["a", "b"], ([i, f"=x{i}"] for i in range(5))))
    assert len(chunks) == 3 and chunks[0].startswith("\ufeffa,b\r\n")
    rows = list(csv.reader(io.StringIO("".join(chunks)[1:])))
    assert rows[0] == ["a", "b"] and rows[1:] == [[str(i), f"'=x{i}"] for i in range(5)]


class Base(DeclarativeBase):
    pass


class Thing(Base):
    __tablename__ = "things"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(10))


def test_keyset_pages_reads_page_by_page_and_lets_each_go():
    engine = sa.create_engine("sqlite://")
    Base.metadata.create_all(engine)
    selects = []
    sa.event.listen(engine, "before_cursor_execute", lambda *a: selects.append(a[2]))
    with Session(engine) as session:
        session.add_all([Thing(id=i, name=f"n{i}") for i in range(1, 8)])
        session.commit()
        selects.clear()
        pages = keyset_pages(session, sa.select(Thing), [Thing.id], page_size=3, to_row=lambda t: (t.id, t.name))
        first = next(pages)
        assert first == (7, "n7") and len(selects) == 1 and len(session.identity_map) == 0
        rest = list(pages)
    assert [r[0] for r in rest] == [6, 5, 4, 3, 2, 1] and len(selects) == 3
