"""GET /orders?format=csv: every order matching the filters, streamed page by page; UTF-8 with a BOM;
no cell starts a formula; phones, names and house numbers masked unless the role may see them."""

from __future__ import annotations

import csv
import dataclasses
import io

import sqlalchemy as sa

from ecom_testkit import auth
from ecom_testkit.orders_support import ADDRESS, SHOP

OPS = auth("ops", sub="olga", shop_id=SHOP)
FINANCE = auth("finance", sub="fay", shop_id=SHOP)


def export(client, headers=OPS, **query):
    resp = client.get("/api/v1/orders", headers=headers, query_string={"format": "csv", **query})
    assert resp.status_code == 200, resp.data[:300]
    return resp


def rows_of(resp):
    text = resp.data.decode("utf-8")
    assert text.startswith("\ufeff")
    return list(csv.DictReader(io.StringIO(text[1:])))


def test_utf8_bom_header_and_one_row_per_order(client, place):
    a = place(note="请尽快发货")
    b = place(lines=[{"sku_code": "RED-M", "quantity": 1}, {"sku_code": "BLUE-L", "quantity": 2}])
    resp = export(client)
    assert resp.mimetype == "text/csv" and resp.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert resp.headers["Content-Disposition"] == 'attachment; filename="orders.csv"'
    assert resp.is_streamed
    rows = rows_of(resp)
    assert [r["order_id"] for r in rows] == [b["order_id"], a["order_id"]]  # newest first, like the list
    assert rows[0]["items"] == "RED-M x1; BLUE-L x2" and rows[0]["payable_fen"] == str(b["payable_fen"])
    assert rows[1]["note"] == "请尽快发货" and rows[1]["placed_at"].endswith("Z")


def test_the_lists_filters_apply(client, place):
    place(address={**ADDRESS, "phone": "13700001111"})
    wanted = place(lines=[{"sku_code": "BLUE-L", "quantity": 1}])
    rows = rows_of(export(client, phone="5678", sku_code="BLUE-L"))
    assert [r["order_id"] for r in rows] == [wanted["order_id"]]
    assert rows_of(export(client, status="paid")) == []


def test_phones_are_masked_unless_the_role_may_see_them(client, place):
    place(note="联系 13912345678")
    (ops_row,) = rows_of(export(client))
    assert (ops_row["receiver_phone"], ops_row["receiver_name"], ops_row["detail"]) == (
        "13812345678",
        "张三",
        "100号3幢501",
    )
    resp = export(client, headers=FINANCE)
    (fin_row,) = rows_of(resp)
    assert (fin_row["receiver_phone"], fin_row["receiver_name"], fin_row["detail"]) == ("138****5678", "张*", "****")
    assert "13912345678" not in resp.data.decode() and "139****5678" in fin_row["note"]


def test_cells_that_would_start_a_formula_are_neutralised(client, place):
    place(note='=HYPERLINK("http://x")', address={**ADDRESS, "name": "@SUM(A1)", "street": "-文三路", "detail": "+1号"})
    (row,) = rows_of(export(client))
    assert row["note"] == '\'=HYPERLINK("http://x")'
    assert (row["receiver_name"], row["street"], row["detail"]) == ("'@SUM(A1)", "'-文三路", "'+1号")
    assert row["goods_fen"].isdigit()  # numbers stay numbers


def test_tenancy(client, place):
    place()
    assert rows_of(export(client, headers=auth("ops", sub="o2", shop_id="S2"))) == []
    assert len(rows_of(export(client, headers=auth("buyer", sub="bob")))) == 1
    assert rows_of(export(client, headers=auth("buyer", sub="eve"))) == []
    assert client.get("/api/v1/orders", query_string={"format": "csv"}, headers=auth("ops", sub="x")).status_code == 403
    resp = client.get("/api/v1/orders", query_string={"format": "csv", "shop_id": "S2"}, headers=OPS)
    assert resp.status_code == 404 and resp.mimetype == "application/problem+json"
    assert client.get("/api/v1/orders", query_string={"format": "xls"}, headers=OPS).status_code == 422


def test_read_a_page_at_a_time_while_streaming(client, db, place, app, monkeypatch):
    """The export reads ORDERS_EXPORT_PAGE_SIZE orders per query as the body is sent: the first
    chunk is out after one page, not after every order was loaded."""
    from ecom_common import csvexport
    from ecom_common import settings as ecom_settings
    from orders import settings as orders_settings

    for _ in range(7):
        place(address={**ADDRESS, "phone": f"1370000{_:04d}"})
    read = orders_settings.Settings.from_config.__func__
    monkeypatch.setattr(
        orders_settings.Settings,
        "from_config",
        classmethod(lambda cls, config: dataclasses.replace(read(cls, config), export_page_size=3)),
    )
    monkeypatch.setattr(ecom_settings, "_cache", {})
    monkeypatch.setattr(csvexport, "CHUNK_ROWS", 3)
    selects = []

    def count(conn, cursor, statement, *args):
        if statement.lstrip().upper().startswith("SELECT") and "FROM orders" in statement:
            selects.append(statement)

    sa.event.listen(db.engine, "before_cursor_execute", count)
    try:
        resp = client.get("/api/v1/orders", query_string={"format": "csv"}, headers=OPS)
        assert resp.is_streamed
        chunks = iter(resp.response)
        first = next(chunks)
        assert len(selects) == 1  # the first rows are out after one page
        body = first + b"".join(chunks)
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", count)
    assert len(selects) == 3  # pages of 3, 3, 1
    assert body.decode("utf-8").count("\r\n") == 1 + 7
