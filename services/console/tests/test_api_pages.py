"""The pages over a fake of the services: buttons by role, a forged POST refused by the service and
shown in words, autoescape, CSV export of the current filter, bulk actions."""

from __future__ import annotations

import csv
import io

ORDER = {
    "order_id": "O1",
    "shop_id": "S1",
    "buyer_id": "bob",
    "status": "on_hold",
    "held_reasons": ["note_request"],
    "address": {"name": "张*", "phone": "138****5678", "province": "浙江", "city": "杭州"},
    "goods_fen": 9900,
    "discount_fen": 0,
    "shipping_fen": 0,
    "payable_fen": 9900,
    "note": "",
    "lines": [{"sku_code": "SKU-1", "title": "手机", "quantity": 1, "unit_price_fen": 9900, "total_fen": 9900}],
    "timeline": [{"status": "on_hold", "at": "2026-12-03T10:00:00Z", "by": "orders", "reason": "audit"}],
    "created_at": "2026-12-03T10:00:00Z",
}


def test_ops_sees_the_approve_button_and_approving_calls_orders_as_them(client, signed_in, fake):
    csrf = signed_in("olivia", ["ops"], "S1")
    fake.on("GET", "/api/v1/orders/O1", body=ORDER)
    html = client.get("/orders/O1").get_data(as_text=True)
    assert 'data-testid="order-approve"' in html and "时间线" in html
    fake.on("POST", "/api/v1/orders/O1/review", body={**ORDER, "status": "awaiting_shipment"})
    resp = client.post("/orders/O1/review", data={"decision": "approve", "csrf_token": csrf}, follow_redirects=True)
    assert "订单 O1 已审核通过" in resp.get_data(as_text=True)
    principal, peer, method, path, _, body = fake.calls[-2]
    assert (principal.sub, peer, method, path, body["decision"]) == (
        "olivia",
        "orders",
        "POST",
        "/api/v1/orders/O1/review",
        "approve",
    )


def test_finance_sees_no_action_buttons_and_a_forged_post_is_refused_by_the_service(client, signed_in, fake):
    csrf = signed_in("fiona", ["finance"], "S1")
    fake.on("GET", "/api/v1/orders/O1", body=ORDER)
    html = client.get("/orders/O1").get_data(as_text=True)
    assert 'data-testid="order-approve"' not in html and 'data-testid="order-cancel"' not in html
    assert 'data-testid="nav-staff"' not in html and 'data-testid="nav-shipping"' not in html
    fake.on("POST", "/api/v1/orders/O1/review", status=403, body={"detail": "requires one of the roles: ops, admin"})
    resp = client.post("/orders/O1/review", data={"decision": "approve", "csrf_token": csrf}, follow_redirects=True)
    text = resp.get_data(as_text=True)
    assert "无权操作" in text and "403" in text
    # the service decided: the forged POST was forwarded with finance's own token
    assert any(c[2] == "POST" and c[0].roles == frozenset({"finance"}) for c in fake.calls)


def test_a_script_title_is_shown_as_text(client, signed_in, fake):
    signed_in("rita", ["reviewer"])
    title = "<script>alert(1)</script>"
    fake.on("GET", "/api/v1/review-queue", body={"items": [{"product_id": "P1", "title": title, "shop_id": "S1"}]})
    html = client.get("/product-review").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert 'data-testid="review-approve"' in html


def test_csv_export_of_the_current_filter(client, signed_in, fake):
    signed_in("olivia", ["ops"], "S1")
    rows = [
        {**ORDER, "order_id": "O1", "status": "awaiting_shipment", "note": "=HYPERLINK(1)"},
        {**ORDER, "order_id": "O2", "status": "awaiting_shipment", "address": {"name": "+李*"}},
    ]
    fake.on("GET", "/api/v1/orders", body={"items": rows, "next_cursor": None})
    resp = client.get("/orders/export.csv?tab=to_ship&buyer_id=bob&created_from=2026-12-01")
    assert resp.mimetype == "text/csv"
    raw = resp.get_data()
    assert raw.startswith("\ufeff".encode())
    table = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert table[0][0] == "order_id" and [r[0] for r in table[1:]] == ["O1", "O2"]
    assert table[1][-1] == "'=HYPERLINK(1)" and table[2][6] == "'+李*"
    params = fake.calls[-1][4]
    assert params["tab"] == "to_ship" and params["buyer_id"] == "bob"
    assert params["created_from"].startswith("2026-12-01T00:00:00")


def test_order_list_tabs_and_search(client, signed_in, fake):
    signed_in("olivia", ["ops"], "S1")
    fake.on(
        "GET",
        "/api/v1/orders/counts",
        body={"total": 3, "tabs": [{"tab": "to_ship", "count": 2}, {"tab": "to_pay", "count": 1}], "by_status": {}},
    )
    fake.on("GET", "/api/v1/orders", body={"items": [ORDER], "next_cursor": None})
    html = client.get("/orders").get_data(as_text=True)
    assert "待发货 (2)" in html and 'data-order-id="O1"' in html
    fake.on("GET", "/api/v1/orders/O1", body=ORDER)
    html = client.get("/orders?q=O1").get_data(as_text=True)
    assert 'data-order-id="O1"' in html


def test_warehouse_dispatches_in_bulk_and_prints_waybills(client, signed_in, fake):
    csrf = signed_in("wang", ["warehouse"], "S1")
    for sid in ("H1", "H2", "H3"):
        fake.on("POST", f"/api/v1/shipments/{sid}/dispatch", body={"shipment_id": sid})
        fake.on(
            "GET",
            f"/api/v1/shipments/{sid}/waybill",
            body={
                "shipment_id": sid,
                "order_id": "O" + sid,
                "tracking_no": "T" + sid,
                "lines": [],
                "total_quantity": 1,
            },
        )
    fake.on("GET", "/api/v1/shipments", body={"items": [], "next_cursor": None})
    resp = client.post(
        "/shipping/dispatch",
        data={"shipment_id": ["H1", "H2", "H3"], "tracking_H1": "SF0001", "csrf_token": csrf},
        follow_redirects=True,
    )
    assert "已发货 3 / 3 个" in resp.get_data(as_text=True)
    posts = [c for c in fake.calls if c[2] == "POST"]
    assert [c[3] for c in posts] == [f"/api/v1/shipments/{s}/dispatch" for s in ("H1", "H2", "H3")]
    assert posts[0][5]["tracking_no"] == "SF0001" and len(posts[1][5]["tracking_no"]) >= 4
    html = client.get("/shipping/waybills?shipment_id=H1&shipment_id=H2&shipment_id=H3").get_data(as_text=True)
    assert html.count('data-testid="waybill"') == 3 and "TH2" in html


def test_cs_approves_a_case(client, signed_in, fake):
    csrf = signed_in("cathy", ["cs"], "S1")
    fake.on(
        "GET",
        "/api/v1/cases",
        body={
            "items": [
                {
                    "case_id": "C1",
                    "order_id": "O1",
                    "status": "requested",
                    "type": "refund_only",
                    "reason": "x",
                    "amount_fen": 100,
                    "sla": {"seconds_left": 3600, "overdue": False},
                }
            ]
        },
    )
    html = client.get("/cases").get_data(as_text=True)
    assert 'data-testid="case-approve"' in html and "剩余 1小时0分" in html
    fake.on("POST", "/api/v1/cases/C1/approve", body={"case_id": "C1"})
    resp = client.post("/cases/C1/approve", data={"csrf_token": csrf}, follow_redirects=True)
    assert "售后单 C1 已通过" in resp.get_data(as_text=True)


def test_dashboard_counts_by_role(client, signed_in, fake):
    signed_in("olivia", ["ops"], "S1")
    fake.on("GET", "/api/v1/orders/counts", body={"by_status": {"on_hold": 4}, "on_hold_overdue": 1, "tabs": []})
    fake.on("GET", "/api/v1/shipments/stats", body={"by_status": {"pending": 7}, "overdue": 0})
    html = client.get("/").get_data(as_text=True)
    assert 'data-testid="todo-on_hold-count">4<' in html and 'data-testid="todo-to_dispatch-count">7<' in html
    assert 'data-testid="todo-on_hold-overdue"' in html
    assert 'data-testid="todo-to_review"' not in html  # ops is no reviewer


def test_the_editor_shows_the_catalogs_findings_while_typing(client, signed_in, fake):
    csrf = signed_in("olivia", ["ops"], "S1")
    category = {
        "category_id": "digital-phones",
        "is_leaf": True,
        "name": "手机",
        "path": ["数码", "手机"],
        "attributes": [
            {"name": "网络类型", "type": "enum", "required": True, "options": ["5G", "4G"]},
            {"name": "存储容量", "type": "multi_enum", "required": True, "options": ["128GB", "256GB"]},
        ],
    }
    fake.on("GET", "/api/v1/categories", body={"items": [category]})
    fake.on("GET", "/api/v1/categories/digital-phones", body=category)
    html = client.get("/products/new").get_data(as_text=True)
    assert 'data-testid="attr-网络类型"' in html and 'data-testid="attr-存储容量-128GB"' in html
    finding = {"field": "title", "rule": "banned_word", "text": "全网第一", "message": "banned", "severity": "error"}
    fake.on("POST", "/api/v1/compliance/scan", body={"passed": False, "findings": [finding]})
    form = {"csrf_token": csrf, "category_id": "digital-phones", "title": "全网第一手机", "attr:存储容量": ["128GB"]}
    part = client.post("/products/scan", data=form, headers={"HX-Request": "true"}).get_data(as_text=True)
    assert 'data-rule="banned_word"' in part and "<html" not in part
    body = fake.calls[-1][5]
    assert body["title"] == "全网第一手机" and body["attributes"] == {"存储容量": ["128GB"]}


def test_stock_with_low_flags_and_a_warehouse_adjustment(client, signed_in, fake):
    csrf = signed_in("wang", ["warehouse"], "S1")
    item = {
        "sku_code": "SKU-1",
        "warehouse_code": "WH1",
        "on_hand": 3,
        "reserved": 2,
        "available": 1,
        "low_stock_threshold": 2,
        "low": True,
    }
    fake.on("GET", "/api/v1/stock", body={"items": [item], "next_cursor": None})
    html = client.get("/stock?low=1").get_data(as_text=True)
    assert 'data-sku="SKU-1"' in html and "低库存" in html and 'data-testid="stock-adjust"' in html
    assert fake.calls[-1][4]["low"] == "true"
    fake.on("POST", "/api/v1/stock/SKU-1/adjustments", status=201, body={})
    resp = client.post("/stock/SKU-1/adjust", data={"kind": "inbound", "quantity": "10", "csrf_token": csrf})
    assert resp.status_code == 302
    body = fake.calls[-1][5]
    assert body["kind"] == "inbound" and body["quantity"] == 10 and body["warehouse_code"] == "WH1"


def test_finance_reads_payments_and_the_ledger_without_buttons(client, signed_in, fake):
    signed_in("fiona", ["finance"], "S1")
    entry = {"entry_id": 1, "kind": "payment", "amount_fen": 9900}
    fake.on("GET", "/api/v1/ledger", body={"items": [entry], "balance_fen": 9900})
    html = client.get("/finance?tab=ledger").get_data(as_text=True)
    main = html.split("<main>")[1]
    assert 'data-testid="ledger-balance"' in main and "99.00" in main and 'method="post"' not in main
    fake.on("GET", "/api/v1/stock", body={"items": [{"sku_code": "SKU-1", "warehouse_code": "WH1", "available": 5}]})
    main = client.get("/stock").get_data(as_text=True).split("<main>")[1]
    assert 'data-sku="SKU-1"' in main and 'method="post"' not in main
