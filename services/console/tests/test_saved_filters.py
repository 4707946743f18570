"""Saved filters of the order list: per person in the console's own table; save the filter shown
with a name, apply it, delete it; nobody else sees or deletes them. And the keyboard's hooks."""

from __future__ import annotations

import re

from console import domain
from ecom_testkit.console_support import sign_in

FIELDS = (*domain.ORDER_FILTERS, "q")


def test_a_filter_is_its_set_fields_in_a_stable_order():
    query = domain.filter_query({"status": "on_hold", "buyer_id": " bob ", "cursor": "x", "tab": ""}, FIELDS)
    assert query == "status=on_hold&buyer_id=bob"
    assert domain.filter_params(query + "&csrf_token=t&gone=1", FIELDS) == {"status": "on_hold", "buyer_id": "bob"}
    assert domain.filter_params("buyer_id=%E5%BC%A0+%26", FIELDS) == {"buyer_id": "张 &"}
    assert domain.saved_filter_errors("今日待审", query, 0) == {}
    assert "query" in domain.saved_filter_errors("空", "", 0)
    assert "name" in domain.saved_filter_errors(" ", query, 0)
    assert "name" in domain.saved_filter_errors("x" * 41, query, 0)
    assert "name" in domain.saved_filter_errors("第21个", query, domain.MAX_SAVED_FILTERS)


def _saved(html: str) -> list[tuple[str, str]]:
    return re.findall(r'data-name="([^"]*)">\s*<a href="([^"]*)" data-testid="saved-filter-apply"', html)


def test_save_apply_and_delete_a_filter_per_person(client, signed_in, fake, make_staff):
    csrf = signed_in("olivia", ["ops"], "S1")
    fake.on("GET", "/api/v1/orders", body={"items": [], "next_cursor": None})
    html = client.get("/orders?status=on_hold&buyer_id=bob").get_data(as_text=True)
    assert 'data-testid="save-filter-form"' in html and 'name="buyer_id" value="bob"' in html
    resp = client.post(
        "/saved-filters/orders",
        data={"csrf_token": csrf, "name": "鲍勃待审", "status": "on_hold", "buyer_id": "bob", "cursor": "C9"},
    )
    assert resp.status_code == 302 and resp.headers["Location"] == "/orders?status=on_hold&buyer_id=bob"
    html = client.get("/orders").get_data(as_text=True)
    assert "已保存筛选“鲍勃待审”" in html
    assert _saved(html) == [("鲍勃待审", "/orders?status=on_hold&amp;buyer_id=bob")]
    # applying it is opening the list with it: orders gets the saved filter
    client.get("/orders?status=on_hold&buyer_id=bob")
    assert fake.calls[-1][4]["status"] == "on_hold" and fake.calls[-1][4]["buyer_id"] == "bob"
    # the same name again replaces it; an empty filter is not saved
    client.post("/saved-filters/orders", data={"csrf_token": csrf, "name": "鲍勃待审", "buyer_id": "bob"})
    assert _saved(client.get("/orders").get_data(as_text=True)) == [("鲍勃待审", "/orders?buyer_id=bob")]
    resp = client.post("/saved-filters/orders", data={"csrf_token": csrf, "name": "空"}, follow_redirects=True)
    assert "筛选未保存" in resp.get_data(as_text=True)
    filter_id = re.search(r"/saved-filters/orders/([^/]+)/delete", client.get("/orders").get_data(as_text=True))[1]
    # another person sees none of them and cannot delete them
    client.post("/signout", data={"csrf_token": csrf})
    make_staff("owen", ["ops"], "S1")
    sign_in(client, "owen")
    html = client.get("/orders").get_data(as_text=True)
    assert _saved(html) == [] and 'data-testid="saved-filters-none"' in html
    other_csrf = re.search(r'name="csrf_token" value="([^"]+)"', html)[1]
    resp = client.post(
        f"/saved-filters/orders/{filter_id}/delete", data={"csrf_token": other_csrf}, follow_redirects=True
    )
    assert "未修改" in resp.get_data(as_text=True)
    client.post("/signout", data={"csrf_token": other_csrf})
    sign_in(client, "olivia")
    html = client.get("/orders").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', html)[1]
    resp = client.post(f"/saved-filters/orders/{filter_id}/delete", data={"csrf_token": csrf}, follow_redirects=True)
    html = resp.get_data(as_text=True)
    assert "已删除筛选“鲍勃待审”" in html and _saved(html) == []


def test_keyboard_hooks_and_the_shortcuts_help(client, signed_in, fake):
    signed_in("olivia", ["ops"], "S1")
    fake.on("GET", "/api/v1/orders", body={"items": [], "next_cursor": None})
    html = client.get("/orders").get_data(as_text=True)
    assert 'data-shortcut="search" aria-keyshortcuts="/"' in html
    assert '<dialog id="shortcuts" aria-labelledby="shortcuts-title"' in html and "键盘快捷键" in html
    js = client.get("/static/console.js").get_data(as_text=True)
    assert all(k in js for k in ('"/"', '"j"', '"k"', '"?"'))
