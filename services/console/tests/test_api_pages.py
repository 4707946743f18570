"""The pages over a fake of the services: buttons by role, a forged POST refused by the service and
shown in words, autoescape, CSV export of the current filter, bulk actions."""

from __future__ import annotations

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


def test_csv_export_streams_orders_own_csv_of_the_current_filter(client, signed_in, fake):
    signed_in("olivia", ["ops"], "S1")
    exported = "\ufefforder_id,status,buyer_id,note\r\nO1,awaiting_shipment,bob,'=HYPERLINK(1)\r\n".encode()
    fake.on("GET", "/api/v1/orders", body=exported)
    resp = client.get("/orders/export.csv?tab=to_ship&buyer_id=bob&created_from=2026-12-01&q=5678&by=auto")
    assert resp.mimetype == "text/csv" and resp.get_data() == exported  # passed on byte for byte
    params = fake.calls[-1][4]
    assert params["format"] == "csv" and params["tab"] == "to_ship" and params["buyer_id"] == "bob"
    assert params["created_from"].startswith("2026-12-01T00:00:00") and params["phone"] == "5678"
    assert "limit" not in params and "cursor" not in params


def test_csv_export_of_a_search_that_is_no_filter_exports_nothing(client, signed_in, fake):
    signed_in("olivia", ["ops"], "S1")
    for query in ("q=12345", "q=O019a7c3e4f109b2e41c7"):  # not a phone; one order, not a list
        resp = client.get(f"/orders/export.csv?tab=to_ship&{query}")
        assert resp.status_code == 302 and "/orders?tab=to_ship" in resp.headers["Location"]
    assert not [c for c in fake.calls if c[3] == "/api/v1/orders"]


def test_csv_export_refused_by_orders_is_said_in_words(client, signed_in, fake):
    signed_in("fiona", ["finance"])
    fake.on("GET", "/api/v1/orders", status=403, body={"detail": "staff without a shop"})
    resp = client.get("/orders/export.csv?tab=to_ship", follow_redirects=True)
    assert resp.mimetype == "text/html" and "无权操作" in resp.get_data(as_text=True)


def test_the_search_box_finds_orders_by_phone_receiver_buyer_and_sku(client, signed_in, fake):
    signed_in("cathy", ["cs"], "S1")
    fake.on("GET", "/api/v1/orders", body={"items": [ORDER], "next_cursor": None})
    for query, expected in (
        ("q=5678", {"phone": "5678"}),
        ("q=%2B86+138-1234-5678", {"phone": "+86 138-1234-5678"}),
        ("q=%E5%BC%A0%E4%B8%89", {"receiver_name": "张三"}),
        ("q=bob&by=buyer_id", {"buyer_id": "bob"}),
        ("q=SKU-1&by=sku_code&tab=to_ship", {"sku_code": "SKU-1", "tab": "to_ship"}),
    ):
        html = client.get(f"/orders?{query}").get_data(as_text=True)
        assert 'data-order-id="O1"' in html
        params = fake.calls[-1][4]
        assert {k: params[k] for k in expected} == expected, query
    # the export link carries the search
    assert "export.csv?tab=to_ship&amp;q=SKU-1&amp;by=sku_code" in html
    calls = len(fake.calls)
    html = client.get("/orders?q=12345").get_data(as_text=True)  # five digits: neither a phone nor its tail
    assert "尾号" in html and len(fake.calls) == calls + 1  # only the tab counts were read


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


def test_bulk_review_answers_per_order(client, signed_in, fake):
    csrf = signed_in("olivia", ["ops"], "S1")
    fake.on(
        "POST",
        "/api/v1/orders/review/bulk",
        body={
            "succeeded": 1,
            "failed": 1,
            "results": [
                {"order_id": "O1", "ok": True, "already": False, "status": "awaiting_shipment", "error": None},
                {
                    "order_id": "O2",
                    "ok": False,
                    "already": False,
                    "status": None,
                    "error": {"status": 409, "title": "Conflict", "detail": "order is awaiting_shipment"},
                },
            ],
        },
    )
    fake.on("GET", "/api/v1/orders", body={"items": [], "next_cursor": None})
    resp = client.post("/order-review/decide", data={"order_id": ["O1", "O2", "O1"], "csrf_token": csrf})
    html = resp.get_data(as_text=True)
    post = next(c for c in fake.calls if c[2] == "POST")
    assert post[3] == "/api/v1/orders/review/bulk" and post[5] == {
        "decision": "approve",
        "reason": None,
        "order_ids": ["O1", "O2"],
    }
    assert "已通过 1 / 2 个订单" in html
    assert 'data-order-id="O2"' in html and "未执行" in html and "order is awaiting_shipment" in html
    # a rejection needs its reason: nothing is sent without one
    calls = len(fake.calls)
    client.post("/order-review/decide", data={"order_id": "O1", "decision": "reject", "csrf_token": csrf})
    assert not [c for c in fake.calls[calls:] if c[2] == "POST"]
    client.post(
        "/order-review/decide", data={"order_id": "O1", "decision": "reject", "reason": "地址不详", "csrf_token": csrf}
    )
    assert fake.calls[-2][5] == {"decision": "reject", "reason": "地址不详", "order_ids": ["O1"]}


def test_order_detail_shows_notes_and_the_contact_log_and_cs_adds_them(client, signed_in, fake):
    csrf = signed_in("cathy", ["cs"], "S1")
    notes = [
        {"id": "N1", "kind": "note", "text": "买家要求周末送", "at": "2026-12-03T10:05:00Z", "by": "olivia"},
        {
            "id": "N2",
            "kind": "contact",
            "channel": "phone",
            "outcome": "verified",
            "text": "地址已核实",
            "at": "2026-12-03T10:06:00Z",
            "by": "cathy",
        },
    ]
    fake.on("GET", "/api/v1/orders/O1", body={**ORDER, "staff_notes": notes})
    html = client.get("/orders/O1").get_data(as_text=True)
    assert "买家要求周末送" in html and "电话 · 已核实" in html
    assert 'data-testid="note-add"' in html and 'data-testid="contact-add"' in html
    fake.on("POST", "/api/v1/orders/O1/notes", status=201, body=notes[0])
    resp = client.post("/orders/O1/notes", data={"text": "已联系", "csrf_token": csrf}, follow_redirects=True)
    assert "备注已添加" in resp.get_data(as_text=True)
    fake.on("POST", "/api/v1/orders/O1/contacts", status=201, body=notes[1])
    client.post(
        "/orders/O1/contacts",
        data={"channel": "phone", "outcome": "no_answer", "note": "", "csrf_token": csrf},
    )
    posts = [c for c in fake.calls if c[2] == "POST"]
    assert [(c[3], c[5]) for c in posts] == [
        ("/api/v1/orders/O1/notes", {"text": "已联系"}),
        ("/api/v1/orders/O1/contacts", {"channel": "phone", "outcome": "no_answer", "note": None}),
    ]


def test_finance_gets_no_note_forms(client, signed_in, fake):
    signed_in("fiona", ["finance"], "S1")
    fake.on("GET", "/api/v1/orders/O1", body={**ORDER, "staff_notes": []})
    html = client.get("/orders/O1").get_data(as_text=True)
    assert 'data-testid="note-add"' not in html and 'data-testid="contact-add"' not in html


def test_warehouse_dispatches_in_bulk_and_prints_waybills(client, signed_in, fake):
    csrf = signed_in("wang", ["warehouse"], "S1")
    done = {"outcome": "done", "already": False, "status": "dispatched", "carrier": "sf", "error": None}
    fake.on(
        "POST",
        "/api/v1/shipments/bulk/dispatch",
        body={
            "done": 2,
            "refused": 1,
            "results": [
                {**done, "shipment_id": "H1", "tracking_no": "SF0001"},
                {**done, "shipment_id": "H2", "tracking_no": "CN1"},
                {
                    "shipment_id": "H3",
                    "outcome": "refused",
                    "error": {"status": 409, "title": "Conflict", "detail": "tracking number already used"},
                },
            ],
        },
    )
    fake.on("GET", "/api/v1/shipments", body={"items": [], "next_cursor": None})
    resp = client.post(
        "/shipping/dispatch",
        data={"shipment_id": ["H1", "H2", "H3", "H2"], "tracking_H1": "SF0001", "csrf_token": csrf},
    )
    html = resp.get_data(as_text=True)
    assert "已发货 2 / 3 个" in html and "tracking number already used" in html
    assert 'data-testid="dispatch-result" data-shipment-id="H3" class="breach"' in html
    posts = [c for c in fake.calls if c[2] == "POST"]
    assert [c[3] for c in posts] == ["/api/v1/shipments/bulk/dispatch"]  # one call for the batch
    items = posts[0][5]["items"]
    assert [i["shipment_id"] for i in items] == ["H1", "H2", "H3"] and items[0]["tracking_no"] == "SF0001"
    assert len(items[1]["tracking_no"]) >= 4
    bill = {"order_id": "OH1", "tracking_no": "TH1", "lines": [], "total_quantity": 1}
    fake.on(
        "POST",
        "/api/v1/waybills/print",
        body={
            "done": 2,
            "refused": 1,
            "results": [
                {
                    "shipment_id": "H1",
                    "outcome": "done",
                    "printed_at": "2026-12-03T10:00:00Z",
                    "reprint": False,
                    "waybill": bill,
                },
                {
                    "shipment_id": "H2",
                    "outcome": "done",
                    "printed_at": "2026-12-03T09:00:00Z",
                    "reprint": True,
                    "waybill": {**bill, "tracking_no": "TH2"},
                },
                {"shipment_id": "H9", "outcome": "refused", "error": {"status": 404, "detail": "no such shipment"}},
            ],
        },
    )
    html = client.post("/shipping/waybills", data={"shipment_id": ["H1", "H2", "H9"], "csrf_token": csrf}).get_data(
        as_text=True
    )
    assert html.count('data-testid="waybill"') == 2 and "TH2" in html and "no such shipment" in html
    assert "打印时间 2026-12-03T10:00:00Z" in html and "补打" in html
    assert fake.calls[-1][5] == {"shipment_ids": ["H1", "H2", "H9"]}


def test_change_carrier_and_exception_actions(client, signed_in, fake):
    csrf = signed_in("wang", ["warehouse"], "S1")
    shipment = {
        "shipment_id": "H1",
        "order_id": "O1",
        "status": "exception",
        "carrier": "sf",
        "tracking_no": "SF1",
        "exception_kind": "stalled",
        "exception_reason": "no progress for 48 h",
        "time_in_exception_s": 7200,
        "exception_notes": [{"at": "2026-12-03T10:00:00Z", "by": "wang", "text": "已催件"}],
        "timeline": [],
    }
    fake.on("GET", "/api/v1/shipments/H1", body=shipment)
    fake.on(
        "GET", "/api/v1/carriers", body={"items": [{"code": "sf", "name": "顺丰"}, {"code": "yto", "name": "圆通"}]}
    )
    html = client.get("/shipping/H1").get_data(as_text=True)
    assert 'data-testid="change-carrier"' in html and "圆通" in html and "已催件" in html
    assert 'data-testid="exception-resolve"' in html
    fake.on("POST", "/api/v1/shipments/H1/change-carrier", body=shipment)
    resp = client.post(
        "/shipping/H1/change-carrier",
        data={"carrier": "yto", "tracking_no": "YT1", "reason": "揽收失败", "csrf_token": csrf},
        follow_redirects=True,
    )
    assert "已更换快递公司" in resp.get_data(as_text=True)
    fake.on("GET", "/api/v1/shipments/exceptions", body={"items": [shipment], "next_cursor": None})
    html = client.get("/shipping/exceptions").get_data(as_text=True)
    assert 'data-testid="exception-row" data-shipment-id="H1"' in html and "2小时0分" in html
    for action, path, extra in (
        ("note", "exception/notes", {"text": "联系快递"}),
        ("estimate", "estimate", {"estimated_arrival_at": "2026-12-05T18:00"}),
        ("resolve", "exception/resolve", {"reason": "已送达"}),
    ):
        fake.on("POST", f"/api/v1/shipments/H1/{path}", body=shipment)
        resp = client.post("/shipping/H1/exception", data={"action": action, "csrf_token": csrf, **extra})
        assert resp.status_code == 302 and resp.headers["Location"].endswith("/shipping/exceptions")
    posts = [(c[3], c[5]) for c in fake.calls if c[2] == "POST"]
    assert posts[-3:] == [
        ("/api/v1/shipments/H1/exception/notes", {"text": "联系快递"}),
        ("/api/v1/shipments/H1/estimate", {"estimated_arrival_at": "2026-12-05T18:00:00+08:00", "reason": None}),
        ("/api/v1/shipments/H1/exception/resolve", {"reason": "已送达"}),
    ]
    assert posts[0] == (
        "/api/v1/shipments/H1/change-carrier",
        {"carrier": "yto", "tracking_no": "YT1", "reason": "揽收失败"},
    )


def test_ops_sees_exceptions_but_no_change_carrier(client, signed_in, fake):
    signed_in("olivia", ["ops"], "S1")
    fake.on(
        "GET",
        "/api/v1/shipments/H1",
        body={"shipment_id": "H1", "order_id": "O1", "status": "dispatched", "timeline": []},
    )
    fake.on("GET", "/api/v1/carriers", body={"items": []})
    html = client.get("/shipping/H1").get_data(as_text=True)
    assert 'data-testid="change-carrier"' not in html


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
