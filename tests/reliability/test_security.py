"""Security over the six real services (one platform: real HTTP, RabbitMQ, PostgreSQL), populated
through the public API with two shops: S1 (buyer bob) and S2 (buyer eve), each with a listed
product, a draft, an order awaiting shipment (payment, shipment, reservation, stock), an order with a
refund-only case, and a complaint.

- Authentication: every route of every app (enumerated from its url_map, not listed by hand) refuses
  a missing token, an expired one, one signed with another secret, one with another issuer, and an
  unsigned alg=none token: 401 problem+json with WWW-Authenticate. The only routes that answer
  without a token are the deliberately public ones (health, readiness, metrics, OpenAPI) and the two
  signed webhooks, which refuse a missing or wrong signature instead; /openapi.json agrees (security
  [] exactly on the webhooks).
- Tenancy: shop S1's staff (ops, cs, warehouse, finance) and buyer bob cannot read or change S2's /
  eve's orders, products (drafts), SKUs, stock, movements, reservations, cases, complaints,
  shipments, payments or ledger: 404 problem+json, never the data; lists scoped to the caller; S2's
  resources are unchanged afterwards.
- Lists: every paginated list refuses limit > 200 (and < 1) with 422; a page of 200 over more rows
  holds exactly 200 items and a cursor.
- Privacy: the receiver's phone (and name) is never written unmasked in the log output of the whole
  flow, in any event any service wrote (outboxes), in any stored row outside the orders table (which
  keeps the full address for the roles that ship), or in the order, shipment and case lists; a single
  order shows it only to the roles that ship or serve it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import requests
import sqlalchemy as sa

from ecom_common.auth import issue_token
from ecom_common.outbox import outbox
from ecom_testkit import TEST_SECRET

pytestmark = [pytest.mark.integration, pytest.mark.reliability, pytest.mark.timeout(300)]

PHONE, NAME = "13812345678", "张三"  # the receiver of every seeded order (tests/integration ADDRESS)
PUBLIC = {"/healthz", "/readyz", "/metrics", "/openapi.json"}
WEBHOOKS = {"/api/v1/payments/webhook", "/api/v1/tracking/webhook"}
PROBLEM_KEYS = {"type", "title", "status", "detail", "errors"}


def problem(resp, status) -> dict:
    assert resp.status_code == status, f"{resp.request.method} {resp.url}: {resp.status_code} {resp.text[:300]}"
    assert resp.headers["Content-Type"].startswith("application/problem+json"), resp.headers["Content-Type"]
    body = resp.json()
    assert set(body) >= PROBLEM_KEYS and body["status"] == status
    return body


# Authentication ------------------------------------------------------------------------------------
def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def bad_tokens() -> dict:
    now = datetime.now(UTC)
    claims = {
        "sub": "root",
        "roles": ["admin"],
        "iss": "ecom",
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(hours=1)).timestamp()),
    }
    return {
        "missing": None,
        "expired": issue_token(TEST_SECRET, "root", ["admin"], ttl=timedelta(minutes=5), now=now - timedelta(hours=1)),
        "wrong_secret": issue_token("another-secret-of-at-least-32-bytes!", "root", ["admin"]),
        "wrong_issuer": issue_token(TEST_SECRET, "root", ["admin"], iss="someone-else"),
        "alg_none": f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}.",
        "garbage": "not-a-jwt",
    }


def concrete(rule: str, ids: dict) -> str:
    values = {
        "product_id": ids["product_id"],
        "order_id": ids["order_id"],
        "payment_id": ids["payment_id"],
        "shipment_id": ids["shipment_id"],
        "case_id": ids["case_id"],
        "complaint_id": ids["complaint_id"],
        "sku_code": ids["sku_code"],
        "category_id": "digital-phones",
        "word": "最",
    }
    return re.sub(r"<(?:\w+:)?(\w+)>", lambda m: values.get(m.group(1), "x"), rule)


def test_every_route_refuses_bad_tokens_except_the_public_ones(two_shop_world, reliability_report):
    platform, ids, _ = two_shop_world
    tokens = bad_tokens()
    routes = refused = 0
    open_routes, wrong = set(), []
    for name, rs in platform.running.items():
        spec = requests.get(rs.url + "/openapi.json", timeout=10).json()
        for rule in rs.app.url_map.iter_rules():
            if rule.endpoint == "static":
                continue
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                routes += 1
                if rule.rule in PUBLIC or rule.rule in WEBHOOKS:
                    open_routes.add(f"{name} {method} {rule.rule}")
                    continue
                url = rs.url + concrete(rule.rule, ids["S1"])
                for kind, bearer in tokens.items():
                    headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
                    resp = requests.request(
                        method,
                        url,
                        headers=headers,
                        timeout=10,
                        json={} if method in ("POST", "PUT", "PATCH") else None,
                    )
                    if (
                        resp.status_code != 401
                        or not resp.headers.get("Content-Type", "").startswith("application/problem+json")
                        or "Bearer" not in resp.headers.get("WWW-Authenticate", "")
                    ):
                        wrong.append(f"{name} {method} {rule.rule} [{kind}] -> {resp.status_code} {resp.text[:120]}")
                    else:
                        refused += 1
        # the published contract says the same: bearer auth everywhere but on the webhooks
        for path, operations in spec["paths"].items():
            for method, op in operations.items():
                if method not in ("get", "post", "put", "patch", "delete"):
                    continue
                unauthenticated = op.get("security") == []
                assert unauthenticated == (path in WEBHOOKS), f"{name} {method} {path}: security {op.get('security')}"
    # the public routes answer without a token (and the webhooks are tested below)
    for name, rs in platform.running.items():
        for path in ("/healthz", "/readyz", "/openapi.json", "/metrics"):
            assert requests.get(rs.url + path, timeout=10).status_code == 200, (name, path)
    reliability_report(
        {
            "routes": routes,
            "bad_tokens_per_route": len(tokens),
            "refusals_401": refused,
            "routes_without_token_by_design": len(open_routes),
            "wrong_answers": len(wrong),
        },
        scenario="security: bad tokens on every route",
    )
    assert not wrong, "\n".join(wrong[:40])
    # the four public routes of every service, and the two webhooks (billing's provider, logistics' carriers)
    assert len(open_routes) == len(platform.running) * 4 + 2, sorted(open_routes)


def test_webhooks_refuse_missing_and_wrong_signatures(two_shop_world):
    platform, ids, _ = two_shop_world
    before = platform["orders"].get(f"/api/v1/orders/{ids['S1']['order_id']}", role="admin").json()["status"]
    # billing: the sandbox provider's event for S1's payment, signed with the wrong key, or not at all
    event = json.dumps(
        {
            "id": f"evt_{uuid.uuid4().hex}",
            "type": "payment_intent.succeeded",
            "data": {
                "object": {"id": "pi_x", "reference": ids["S1"]["payment_id"], "amount_fen": 1, "status": "succeeded"}
            },
        }
    ).encode()
    ts = int(time.time())
    wrong = hmac.new(b"wrong-key", f"{ts}.".encode() + event, hashlib.sha256).hexdigest()
    url = platform["billing"].url + "/api/v1/payments/webhook"
    for headers in ({}, {"X-Sandbox-Signature": f"t={ts},v1={wrong}"}):
        resp = requests.post(url, data=event, headers={"Content-Type": "application/json", **headers}, timeout=10)
        assert resp.status_code in (400, 401) and resp.headers["Content-Type"].startswith("application/problem+json")
    assert (
        requests.post(
            url,
            data=event,
            timeout=10,
            headers={"Content-Type": "application/json", "X-Sandbox-Signature": f"t={ts},v1={wrong}"},
        ).status_code
        == 401
    )
    # logistics: a carrier's "delivered" for S1's shipment, wrongly signed or unsigned
    shipment = platform["logistics"].get(f"/api/v1/shipments/{ids['S1']['shipment_id']}", role="admin").json()
    body = json.dumps(
        {
            "event_id": uuid.uuid4().hex,
            "carrier": shipment["carrier"] or "SF",
            "tracking_no": "SF1",
            "status": "delivered",
            "location": "杭州",
        }
    ).encode()
    url = platform["logistics"].url + "/api/v1/tracking/webhook"
    for headers in ({}, {"X-Carrier-Signature": "sha256=" + hmac.new(b"wrong", body, hashlib.sha256).hexdigest()}):
        problem(requests.post(url, data=body, headers={"Content-Type": "application/json", **headers}, timeout=10), 401)
    assert platform["orders"].get(f"/api/v1/orders/{ids['S1']['order_id']}", role="admin").json()["status"] == before


# Tenancy -------------------------------------------------------------------------------------------
def cross_tenant_attempts(mine: dict, theirs: dict) -> list[tuple]:
    """(service, method, path, role, sub, params/json) of S1's people reaching for S2's things."""
    o, d, p, c, k, s, pay, sku = (
        theirs[x]
        for x in (
            "order_id",
            "draft_id",
            "product_id",
            "case_id",
            "complaint_id",
            "shipment_id",
            "payment_id",
            "sku_code",
        )
    )
    me, shop = mine["buyer"], mine["shop_id"]
    staff = [("ops", "olga"), ("cs", "cathy"), ("warehouse", "wang"), ("finance", "fay")]
    out = []
    # orders
    out += [("orders", "GET", f"/api/v1/orders/{o}", role, sub, None) for role, sub in staff]
    out += [
        ("orders", "GET", f"/api/v1/orders/{o}", "buyer", me, None),
        ("orders", "POST", f"/api/v1/orders/{o}/cancel", "buyer", me, {"reason": "mine now"}),
        ("orders", "POST", f"/api/v1/orders/{o}/cancel", "ops", "olga", {"reason": "mine now"}),
        ("orders", "POST", f"/api/v1/orders/{o}/review", "ops", "olga", {"decision": "reject", "reason": "x"}),
        ("orders", "POST", f"/api/v1/orders/{o}/confirm-receipt", "buyer", me, None),
    ]
    # catalog: the other shop's draft and listed product
    out += [
        ("catalog", "GET", f"/api/v1/products/{d}", "ops", "olga", None),
        ("catalog", "GET", f"/api/v1/products/{d}", "buyer", me, None),
        ("catalog", "GET", f"/api/v1/products/{d}/timeline", "ops", "olga", None),
        ("catalog", "PATCH", f"/api/v1/products/{d}", "ops", "olga", {"title": "被改了的标题手机"}),
        ("catalog", "POST", f"/api/v1/products/{d}/submit", "ops", "olga", None),
        ("catalog", "DELETE", f"/api/v1/products/{d}", "ops", "olga", None),
        ("catalog", "GET", f"/api/v1/skus/{theirs['shop_id']}-DRAFT", "ops", "olga", {"shop_id": theirs["shop_id"]}),
    ]
    # inventory
    out += [
        ("inventory", "GET", f"/api/v1/stock/{sku}", "warehouse", "wang", {"shop_id": theirs["shop_id"]}),
        ("inventory", "GET", f"/api/v1/stock/{sku}/movements", "warehouse", "wang", {"shop_id": theirs["shop_id"]}),
        (
            "inventory",
            "POST",
            f"/api/v1/stock/{sku}/adjustments",
            "warehouse",
            "wang",
            {"kind": "loss", "quantity": 1, "reason": "盘亏"},
        ),
        ("inventory", "GET", f"/api/v1/reservations/{o}", "warehouse", "wang", None),
    ]
    # aftersales
    out += [
        ("aftersales", "GET", f"/api/v1/cases/{c}", "buyer", me, None),
        ("aftersales", "GET", f"/api/v1/cases/{c}", "cs", "cathy", None),
        ("aftersales", "POST", f"/api/v1/cases/{c}/approve", "cs", "cathy", {}),
        ("aftersales", "POST", f"/api/v1/cases/{c}/reject", "cs", "cathy", {"reason": "no"}),
        (
            "aftersales",
            "POST",
            "/api/v1/cases",
            "buyer",
            me,
            {"order_id": o, "type": "refund_only", "reason": "no_reason"},
        ),
        ("aftersales", "GET", f"/api/v1/complaints/{k}", "buyer", me, None),
        ("aftersales", "GET", f"/api/v1/complaints/{k}", "cs", "cathy", None),
        ("aftersales", "POST", f"/api/v1/complaints/{k}/respond", "cs", "cathy", {"text": "已处理"}),
        ("aftersales", "POST", "/api/v1/complaints", "buyer", me, {"order_id": o, "tier": "general", "text": "x"}),
    ]
    # logistics
    out += [
        ("logistics", "GET", f"/api/v1/shipments/{s}", "warehouse", "wang", None),
        ("logistics", "GET", f"/api/v1/shipments/{s}/waybill", "warehouse", "wang", None),
        ("logistics", "POST", f"/api/v1/shipments/{s}/dispatch", "warehouse", "wang", {"tracking_no": "SF99999999"}),
        ("logistics", "POST", f"/api/v1/shipments/{s}/carrier", "warehouse", "wang", {"carrier": "SF"}),
    ]
    # billing
    out += [
        ("billing", "GET", f"/api/v1/payments/{pay}", "buyer", me, None),
        ("billing", "GET", f"/api/v1/payments/{pay}", "finance", "fay", None),
        ("billing", "POST", "/api/v1/payments", "buyer", me, {"order_id": o, "method": "alipay"}),
    ]
    return [
        (svc, method, path, role, sub, shop if role != "buyer" else None, data)
        for svc, method, path, role, sub, data in out
    ]


# Lists a caller may name another shop in: 404, or a page without a single row of that shop
SCOPED_LISTS = [
    ("orders", "/api/v1/orders", "ops"),
    ("orders", "/api/v1/orders", "finance"),
    ("catalog", "/api/v1/products", "ops"),
    ("inventory", "/api/v1/stock", "warehouse"),
    ("inventory", "/api/v1/reservations", "warehouse"),
    ("aftersales", "/api/v1/cases", "cs"),
    ("aftersales", "/api/v1/complaints", "cs"),
    ("logistics", "/api/v1/shipments", "warehouse"),
    ("billing", "/api/v1/payments", "finance"),
    ("billing", "/api/v1/ledger", "finance"),
    ("billing", "/api/v1/refunds", "finance"),
    ("billing", "/api/v1/settlements", "finance"),
]


def state_of(platform, ids: dict) -> dict:
    admin = {"role": "admin", "sub": "root"}
    get = lambda svc, path, **kw: platform[svc].get(path, **admin, **kw).json()  # noqa: E731
    draft = get("catalog", f"/api/v1/products/{ids['draft_id']}")
    return {
        "order": get("orders", f"/api/v1/orders/{ids['order_id']}")["status"],
        "draft": (draft["status"], draft["title"], draft.get("version")),
        "product": get("catalog", f"/api/v1/products/{ids['product_id']}")["status"],
        "stock": {
            k: v
            for k, v in get("inventory", f"/api/v1/stock/{ids['sku_code']}", params={"shop_id": ids["shop_id"]}).items()
            if k != "updated_at"
        },
        "case": get("aftersales", f"/api/v1/cases/{ids['case_id']}")["status"],
        "complaint": get("aftersales", f"/api/v1/complaints/{ids['complaint_id']}")["status"],
        "shipment": get("logistics", f"/api/v1/shipments/{ids['shipment_id']}")["status"],
        "payments": len(get("billing", "/api/v1/payments", params={"order_id": ids["order_id"]})["items"]),
        "cases": len(get("aftersales", "/api/v1/cases", params={"shop_id": ids["shop_id"]})["items"]),
    }


def test_one_tenant_cannot_read_or_change_anothers_resources(two_shop_world, reliability_report):
    platform, ids, _ = two_shop_world
    mine, theirs = ids["S1"], ids["S2"]
    p = theirs["product_id"]
    before = state_of(platform, theirs)
    wrong, attempts = [], cross_tenant_attempts(mine, theirs)
    # ids of theirs a refusal must not reveal (unless the caller sent them)
    secrets_of_theirs = {
        theirs[k]
        for k in (
            "order_id",
            "payment_id",
            "shipment_id",
            "case_id",
            "case_order_id",
            "complaint_id",
            "draft_id",
            "product_id",
        )
    }
    for svc, method, path, role, sub, shop, data in attempts:
        rs = platform[svc]
        kwargs = {"params": data} if method == "GET" else {"json": data if data is not None else {}}
        resp = requests.request(
            method,
            rs.url + path,
            timeout=10,
            **kwargs,
            headers=rs.headers(role, sub, shop, **{"Idempotency-Key": uuid.uuid4().hex}),
        )
        sent = path + json.dumps(data or {})
        leaked = [x for x in secrets_of_theirs if x in resp.text and x not in sent]
        if (
            resp.status_code != 404
            or not resp.headers.get("Content-Type", "").startswith("application/problem+json")
            or leaked
        ):
            wrong.append(f"{role}({shop or sub}) {method} {svc}{path} -> {resp.status_code} {resp.text[:160]}")
    # their listed product is public (buyers see it): acting on it is refused as not theirs (403)
    resp = platform["catalog"].post(
        f"/api/v1/products/{p}/delist", shop_id=mine["shop_id"], json={"reason": "seasonal"}
    )
    if resp.status_code not in (403, 404):
        wrong.append(f"ops delist of their listed product -> {resp.status_code} {resp.text[:160]}")
    # the lists, asked for the other shop by name
    for svc, path, role in SCOPED_LISTS:
        resp = platform[svc].get(
            path, role=role, sub="s1-staff", shop_id=mine["shop_id"], params={"shop_id": theirs["shop_id"]}
        )
        if resp.status_code == 200:
            rows = [row for row in resp.json()["items"] if row.get("shop_id") == theirs["shop_id"]]
            # only what is public anyway: their listed products (never a draft)
            if (
                any(not (svc == "catalog" and row.get("status") == "listed") for row in rows)
                or resp.json().get("shop_id") == theirs["shop_id"]
            ):
                wrong.append(f"{role} list {svc}{path}?shop_id=S2 -> rows of S2: {json.dumps(rows)[:200]}")
        elif resp.status_code != 404:
            wrong.append(f"{role} list {svc}{path}?shop_id=S2 -> {resp.status_code} {resp.text[:160]}")
    # reports a shop's staff may ask for another shop by name: 404, or their own shop's figures
    for svc, path, role, extra in (
        ("orders", "/api/v1/orders/counts", "ops", {}),
        ("inventory", "/api/v1/stock/replenishment", "warehouse", {}),
        ("aftersales", "/api/v1/complaints/dashboard", "cs", {}),
        ("aftersales", "/api/v1/feedback/report", "cs", {}),
        ("logistics", "/api/v1/shipments/stats", "warehouse", {}),
        ("billing", "/api/v1/reconciliation", "finance", {"date": time.strftime("%Y-%m-%d")}),
    ):
        resp = platform[svc].get(
            path, role=role, sub="s1-staff", shop_id=mine["shop_id"], params={"shop_id": theirs["shop_id"], **extra}
        )
        if resp.status_code == 200 and theirs["shop_id"] in resp.text:
            wrong.append(f"{role} report {svc}{path}?shop_id=S2 -> {resp.text[:160]}")
        elif resp.status_code not in (200, 404):
            wrong.append(f"{role} report {svc}{path}?shop_id=S2 -> {resp.status_code} {resp.text[:160]}")
    # a buyer's lists hold only their own orders and cases, whatever they filter on
    for svc, path in (
        ("orders", "/api/v1/orders"),
        ("aftersales", "/api/v1/cases"),
        ("billing", "/api/v1/payments"),
        ("aftersales", "/api/v1/complaints"),
    ):
        for params in ({}, {"buyer_id": theirs["buyer"]}, {"shop_id": theirs["shop_id"]}):
            resp = platform[svc].get(path, role="buyer", sub=mine["buyer"], params=params)
            if resp.status_code == 200:
                if any(
                    row.get("buyer_id") not in (None, mine["buyer"]) or row.get("shop_id") == theirs["shop_id"]
                    for row in resp.json()["items"]
                ):
                    wrong.append(f"buyer list {svc}{path}?{params} -> another buyer's rows")
            elif resp.status_code not in (404, 422):
                wrong.append(f"buyer list {svc}{path}?{params} -> {resp.status_code}")
    after = state_of(platform, theirs)
    reliability_report(
        {
            "cross_tenant_requests": len(attempts),
            "lists_checked": len(SCOPED_LISTS) + 12,
            "reports_checked": 6,
            "answers_other_than_404_or_leaking": len(wrong),
            "their_state_unchanged": after == before,
        },
        scenario="security: one tenant against another",
    )
    assert not wrong, "\n".join(wrong)
    assert after == before


# Lists -------------------------------------------------------------------------------------------------
def test_every_list_is_capped_at_200(two_shop_world, reliability_report):
    platform, ids, _ = two_shop_world
    lists, wrong = 0, []
    for name, rs in platform.running.items():
        spec = requests.get(rs.url + "/openapi.json", timeout=10).json()
        for path, operations in spec["paths"].items():
            op = operations.get("get")
            if not op or not any(p["name"] == "limit" and p["in"] == "query" for p in op.get("parameters", [])):
                continue
            lists += 1
            limit = next(p for p in op["parameters"] if p["name"] == "limit")["schema"]
            if limit.get("maximum") != 200:
                wrong.append(f"{name} {path}: documented maximum {limit.get('maximum')}")
            url = concrete(re.sub(r"\{(\w+)\}", r"<\1>", path), ids["S1"])
            for bad in (201, 1000, 0):
                resp = rs.get(url, role="admin", sub="root", params={"limit": bad, "shop_id": "S1"})
                if resp.status_code != 422 or "limit" not in resp.json().get("errors", {}):
                    wrong.append(f"{name} GET {url}?limit={bad} -> {resp.status_code} {resp.text[:120]}")
            resp = rs.get(url, role="admin", sub="root", params={"limit": 200, "shop_id": "S1"})
            if resp.status_code != 200 or len(resp.json()["items"]) > 200:
                wrong.append(f"{name} GET {url}?limit=200 -> {resp.status_code} {resp.text[:120]}")
    # a list with more than 200 rows: banned words (admin), 210 more than the seeded ones
    catalog = platform["catalog"]
    for i in range(210):
        assert catalog.post(
            "/api/v1/banned-words", role="admin", sub="root", json={"word": f"禁词{i:03d}", "kind": "banned"}
        ).status_code in (200, 201)
    first = catalog.get("/api/v1/banned-words", role="admin", sub="root", params={"limit": 200}).json()
    default = catalog.get("/api/v1/banned-words", role="admin", sub="root").json()
    rest = catalog.get(
        "/api/v1/banned-words", role="admin", sub="root", params={"limit": 200, "cursor": first["next_cursor"]}
    ).json()
    total = len(first["items"]) + len(rest["items"])
    reliability_report(
        {
            "paginated_lists": lists,
            "wrong_answers": len(wrong),
            "rows_in_the_long_list": total,
            "first_page": len(first["items"]),
            "default_page": len(default["items"]),
        },
        scenario="security: list pages capped at 200",
    )
    assert not wrong, "\n".join(wrong)
    assert len(first["items"]) == 200 and first["next_cursor"] and len(default["items"]) == 50
    assert total > 210 and not {w["word"] for w in first["items"]} & {w["word"] for w in rest["items"]}


# Privacy -----------------------------------------------------------------------------------------------
def stored_text(platform, service: str, skip_tables=()) -> dict[str, str]:
    """Every row of every table of a service's schema, as text, by table."""
    rs = platform[service]
    out = {}
    with rs.db.engine.connect() as conn:
        for table in sa.inspect(conn).get_table_names():
            if table in skip_tables:
                continue
            rows = conn.execute(sa.text(f'SELECT * FROM "{table}"')).all()
            out[table] = json.dumps([[str(v) for v in row] for row in rows], ensure_ascii=False)
    return out


def test_no_unmasked_phone_in_logs_events_stored_rows_or_lists(two_shop_world, reliability_report):
    platform, ids, written = two_shop_world
    lines = written.splitlines()
    assert len(lines) > 20 and any(ids["S1"]["order_id"] in line for line in lines), "the log tap saw the flow"
    leaks = [f"log: {line[:200]}" for line in lines if PHONE in line]
    # every event every service wrote, published or not
    events = 0
    for name, rs in platform.running.items():
        with rs.db.engine.connect() as conn:
            for body in conn.execute(sa.select(outbox.c.body)).scalars():
                events += 1
                if PHONE in body or NAME in body:
                    leaks.append(f"event of {name}: {body[:200]}")
    assert events > 20
    # stored rows: only orders keeps the full address, for the roles that ship (its orders table, and
    # the stored answer to the buyer's own POST /orders that an Idempotency-Key replays)
    for name in platform.running:
        own = {"orders", "idempotency_keys"} if name == "orders" else ()
        for table, text in stored_text(platform, name, skip_tables=own).items():
            if PHONE in text:
                leaks.append(f"stored in {name}.{table}")
    # lists, for every role that can read them
    for svc, path, roles in (
        ("orders", "/api/v1/orders", ("ops", "cs", "warehouse", "finance", "admin", "service")),
        ("logistics", "/api/v1/shipments", ("warehouse", "ops", "cs", "admin")),
        ("logistics", "/api/v1/shipments/exceptions", ("warehouse", "admin")),
        ("aftersales", "/api/v1/cases", ("cs", "ops", "admin")),
        ("aftersales", "/api/v1/complaints", ("cs", "admin")),
    ):
        for role in roles:
            resp = platform[svc].get(
                path,
                role=role,
                sub="x",
                shop_id=None if role in ("admin", "service") else "S1",
                params={"shop_id": "S1"},
            )
            assert resp.status_code == 200, (svc, path, role, resp.text[:200])
            if PHONE in resp.text or NAME in resp.text:
                leaks.append(f"list {svc}{path} as {role}")
    orders_list = platform["orders"].get("/api/v1/orders", role="ops", shop_id="S1").json()["items"]
    assert orders_list and all(o["address"]["phone"] == "138****5678" for o in orders_list)
    # a single order: the full phone only to the roles that ship or serve it
    oid = ids["S1"]["order_id"]
    for role, full in (("warehouse", True), ("cs", True), ("ops", True), ("finance", False)):
        text = platform["orders"].get(f"/api/v1/orders/{oid}", role=role, shop_id="S1").text
        assert (PHONE in text) is full, (role, text[:300])
    # the shipment, its waybill and the case never carry it (logistics masks on arrival)
    for svc, path in (
        ("logistics", f"/api/v1/shipments/{ids['S1']['shipment_id']}"),
        ("logistics", f"/api/v1/shipments/{ids['S1']['shipment_id']}/waybill"),
        ("aftersales", f"/api/v1/cases/{ids['S1']['case_id']}"),
    ):
        if PHONE in platform[svc].get(path, role="admin").text:
            leaks.append(f"single {svc}{path}")
    reliability_report(
        {"log_lines": len(lines), "events_checked": events, "leaks": len(leaks)}, scenario="security: no unmasked phone"
    )
    assert not leaks, "\n".join(leaks[:20])
