"""ecom_common.csvexport: cells that would start a formula are neutralised, numbers stay numbers,
the text starts with a BOM and comes in chunks; keyset_pages reads a page at a time."""

from __future__ import annotations

import csv
import io

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from ecom_common import csvexport
from ecom_common.csvexport import cell, keyset_pages, stream_csv


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
