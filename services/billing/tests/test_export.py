"""CSV export of the ledger and the settlements (`?format=csv`): BOM, no formulas, the list's
filters and scoping, and 100,000 rows streamed without holding them in memory."""

from __future__ import annotations

import csv
import io
import tracemalloc

import pytest
import sqlalchemy as sa

from billing.handlers import settle_due
from billing.models import LedgerEntry
from ecom_common import csvexport


def settled(billing):
    """S1: O1 paid, completed and settled (payment, commission, payout); S2: O2 paid."""
    billing.paid("O1", shop_id="S1")
    billing.paid("O2", shop_id="S2", buyer_id="carol")
    at = billing.config.clock.now().isoformat()
    billing.event(
        "orders.OrderCompleted", {"order_id": "O1", "shop_id": "S1", "payable_fen": 10_000, "completed_at": at}
    )
    billing.config.clock.advance(days=7, minutes=1)
    assert settle_due(billing.db) == 1


def rows_of(resp) -> list[list[str]]:
    assert resp.status_code == 200, resp.get_data(as_text=True)[:300]
    assert resp.content_type == "text/csv; charset=utf-8"
    assert "attachment" in resp.headers["Content-Disposition"]
    body = resp.get_data()
    assert body.startswith("\ufeff".encode())
    return list(csv.reader(io.StringIO(body.decode("utf-8")[1:])))


# The cells ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "value, out",
    [
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("+8613800000000", "'+8613800000000"),
        ("-1+2", "'-1+2"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tcmd", "'\tcmd"),
        ("退款 refund", "退款 refund"),
        (-500, "-500"),
        (None, ""),
        (True, "true"),
    ],
)
def test_a_cell_never_starts_a_formula_and_numbers_stay_numbers(value, out):
    assert csvexport.cell(value) == out


def test_the_stream_is_bom_header_then_crlf_rows_in_chunks():
    chunks = list(csvexport.stream_csv(["a", "b"], ([i, "x" * 100] for i in range(2_000))))
    assert len(chunks) > 1  # handed over piece by piece, not as one body
    text = "".join(chunks)
    assert text.startswith("\ufeffa,b\r\n0,") and text.count("\r\n") == 2_001


# The ledger and settlements -----------------------------------------------------------------------
def test_the_ledger_csv_follows_the_filters_and_the_shop(billing):
    settled(billing)
    rows = rows_of(billing.get("/api/v1/ledger?format=csv", shop_id="S1"))
    assert rows[0] == ["entry_id", "shop_id", "kind", "amount_fen", "order_id", "ref_id", "memo", "created_at"]
    assert {r[1] for r in rows[1:]} == {"S1"}
    assert sorted(r[2] for r in rows[1:]) == ["commission", "payment", "payout"]
    assert [int(r[0]) for r in rows[1:]] == sorted((int(r[0]) for r in rows[1:]), reverse=True)  # newest first
    payment = rows_of(billing.get("/api/v1/ledger?format=csv&kind=payment", role="admin", sub="root"))
    assert sorted((r[1], r[3]) for r in payment[1:]) == [("S1", "10000"), ("S2", "10000")]
    assert rows_of(billing.get("/api/v1/ledger?format=csv&order_id=O2", role="admin", sub="root"))[1][4] == "O2"
    payout = [r for r in rows if r[2] == "payout"][0]
    assert payout[3].startswith("-") and not payout[3].startswith("'")  # a negative amount is a number


def test_text_in_the_books_is_neutralised(billing):
    billing.paid("O1", shop_id="S1")
    with billing.db.Session() as s:
        s.add(
            LedgerEntry(
                shop_id="S1",
                kind="payment",
                amount_fen=1,
                order_id="O9",
                ref_id="X1",
                memo='=HYPERLINK("http://evil")',
                created_at=billing.config.clock.now(),
            )
        )
        s.commit()
    rows = rows_of(billing.get("/api/v1/ledger?format=csv", shop_id="S1"))
    assert [r[6] for r in rows[1:] if r[5] == "X1"] == ['\'=HYPERLINK("http://evil")']


def test_the_settlements_csv(billing):
    settled(billing)
    rows = rows_of(billing.get("/api/v1/settlements?format=csv&status=settled", role="admin", sub="root"))
    assert rows[0][:4] == ["settlement_id", "order_id", "shop_id", "status"]
    assert [(r[1], r[2], r[3]) for r in rows[1:]] == [("O1", "S1", "settled")]
    assert rows[1][5].endswith("Z") and rows[1][9]  # due_at in UTC, commission booked
    assert rows_of(billing.get("/api/v1/settlements?format=csv", shop_id="S2"))[1:] == []


@pytest.mark.parametrize("path", ["/api/v1/ledger", "/api/v1/settlements"])
def test_the_csv_is_scoped_and_checked_like_the_list(billing, path):
    settled(billing)
    assert billing.get(f"{path}?format=csv&shop_id=S2", role="ops", sub="o", shop_id="S1").status_code == 404
    assert billing.get(f"{path}?format=csv", role="ops", sub="o").status_code == 403  # staff without a shop
    assert billing.get(f"{path}?format=csv", role="cs", sub="c", shop_id="S1").status_code == 403
    bad = billing.get(f"{path}?format=xlsx", role="admin", sub="root")
    assert bad.status_code == 422 and "format" in bad.get_json()["errors"]


def test_a_hundred_thousand_rows_stream_without_being_held_in_memory(billing):
    now = billing.config.clock.now()
    row = {"shop_id": "S1", "kind": "payment", "amount_fen": 100, "memo": "订单付款", "created_at": now}
    with billing.db.engine.begin() as conn:
        for start in range(0, 100_000, 10_000):
            conn.execute(
                sa.insert(LedgerEntry),
                [{**row, "order_id": f"O{i}", "ref_id": f"P{i}"} for i in range(start, start + 10_000)],
            )
    lines = size = chunks = 0
    # Memory is traced over the first chunks only (tracing all of it would take half a minute):
    # a view that read every row first would hold them all before its first chunk.
    tracemalloc.start()
    try:
        resp = billing.get("/api/v1/ledger?format=csv", shop_id="S1", buffered=False)
        assert resp.status_code == 200 and resp.is_streamed
        for chunk in resp.response:
            chunks += 1
            size += len(chunk)
            lines += chunk.count(b"\r\n")
            if chunks == 10:
                _, peak = tracemalloc.get_traced_memory()
                tracemalloc.stop()
    finally:
        tracemalloc.stop()
        resp.close()
    assert lines == 100_001 and chunks > 50
    # Reading every row first holds ~65 MB here; streamed, the first chunks need ~3 MB.
    assert size > 5_000_000 and peak < 16_000_000, (size, peak)
