"""Tenancy matrix over the six real services (issue 14, items 1-2; CONTRACTS.md, Auth): every GET
route of every service (the table in ecom_testkit/tenancy_table.py, checked against each app's url_map so a new
route cannot be forgotten) x every kind of principal (each role alone, the owning shop's staff, the
other shop's, staff without a shop, the owning buyer and another, several roles at once), each
reaching for shop S2's / buyer eve's resources in the two-shop world of conftest's
`two_shop_world`. A test id names the route, the principal and the expected answer.

Then a smaller write matrix: staff without a shop, the other shop's staff, and a buyer who is also
shop-less staff try to change S2's stock, shortage policy, audit rules, shipment, refund case and
draft product: 403/404 problem+json, and S2 unchanged afterwards. The writes come after the reads
in this file (pytest keeps the order): a write the services wrongly let through changes S2, which
must not move the reads' expectations.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pytest
import requests

from ecom_common.auth import issue_token
from ecom_testkit import TEST_SECRET, eventually
from ecom_testkit import tenancy_table as T
from ecom_testkit.saga import Saga

pytestmark = [pytest.mark.integration, pytest.mark.reliability, pytest.mark.timeout(300)]

PUBLIC = {"/healthz", "/readyz", "/metrics", "/openapi.json"}
PROBLEM_KEYS = {"type", "title", "status", "detail", "errors", "instance"}
# fields of a report that move with the clock, not with the shop
VOLATILE = {"generated_at", "as_of", "at", "seconds_left"}


@pytest.fixture(scope="module")
def world(two_shop_world):
    """The two shops, plus what the matrix needs beyond them: a refund of S2's (eve pays a third
    order and cancels it), which also makes S2's figures differ from S1's."""
    platform, ids, _ = two_shop_world
    saga = Saga(platform, "S2")
    order_id = saga.placed_and_paid("S2-PHONE", buyer="eve", shop="S2")
    saga.wait_status(order_id, "awaiting_shipment")
    saga.ok(
        platform["orders"].post(
            f"/api/v1/orders/{order_id}/cancel",
            role="buyer",
            sub="eve",
            json={"reason": "不要了"},
            headers={"Idempotency-Key": uuid.uuid4().hex},
        )
    )
    refund = eventually(
        lambda: (
            platform["billing"]
            .get("/api/v1/refunds", role="admin", sub="root", params={"shop_id": "S2", "order_id": order_id})
            .json()["items"]
        ),
        timeout=60,
        message="the refund of S2's cancelled order",
    )[0]
    s2 = {**ids["S2"], "refund_id": refund["refund_id"], "draft_sku": "S2-DRAFT"}
    with requests.Session() as http:
        yield platform, {**ids, "S2": s2}, http


def call(platform, http, svc: str, method: str, path: str, who, params=None, body=None):
    token = issue_token(TEST_SECRET, who.sub, list(who.roles), shop_id=who.shop)
    return http.request(
        method,
        platform[svc].url + path,
        params=params,
        timeout=30,
        json=body if method != "GET" else None,
        headers={"Authorization": f"Bearer {token}", "Idempotency-Key": uuid.uuid4().hex},
    )


def concrete(rule: str, route, s2: dict) -> tuple[str, dict]:
    path = rule
    for name, key in route.path.items():
        path = path.replace(f"<{name}>", key.strip("'") if key.startswith("'") else s2[key])
    params = {k: (datetime.now(UTC).date().isoformat() if v == "today" else v) for k, v in route.params.items()}
    return path, params


def steady(value):
    """A report without the fields that move with the clock."""
    if isinstance(value, dict):
        return {k: steady(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [steady(v) for v in value]
    return value


def secrets_of(s2: dict) -> set[str]:
    return {
        s2[k]
        for k in (
            "order_id",
            "payment_id",
            "shipment_id",
            "case_id",
            "case_order_id",
            "complaint_id",
            "draft_id",
            "refund_id",
        )
    }


def is_problem(resp, *statuses) -> str | None:
    """None if `resp` is a problem+json answer with one of `statuses` and nothing else in it."""
    if resp.status_code not in statuses:
        return f"answered {resp.status_code}, wanted {'/'.join(map(str, statuses))}: {resp.text[:240]}"
    if not resp.headers.get("Content-Type", "").startswith("application/problem+json"):
        return f"{resp.status_code} is not problem+json: {resp.headers.get('Content-Type')}"
    extra = set(resp.json()) - PROBLEM_KEYS
    return f"the problem carries data: {sorted(extra)}" if extra else None


def leaked(resp, s2: dict) -> list[str]:
    sent = resp.request.url
    return [x for x in secrets_of(s2) if x in resp.text and x not in sent]


# Routes ------------------------------------------------------------------------------------------------
def test_every_get_route_is_in_the_matrix(world):
    """The table is the url_maps' GET routes, no more and no less: a new route needs its row."""
    platform, _, _ = world
    served = {
        (name, rule.rule)
        for name, rs in platform.running.items()
        for rule in rs.app.url_map.iter_rules()
        if "GET" in rule.methods and rule.endpoint != "static" and rule.rule not in PUBLIC
    }
    assert not served - set(T.ROUTES), (
        f"GET routes with no row in tenancy_table.ROUTES: {sorted(served - set(T.ROUTES))}"
    )
    assert not set(T.ROUTES) - served, f"rows for routes no service serves: {sorted(set(T.ROUTES) - served)}"


_admin_answers: dict = {}


def admin_answer(platform, http, svc, path, params):
    key = (svc, path, json.dumps(params, sort_keys=True))
    if key not in _admin_answers:
        resp = call(platform, http, svc, "GET", path, T.PRINCIPALS[0], params)
        assert resp.status_code == 200, f"admin {svc} {path}: {resp.status_code} {resp.text[:200]}"
        _admin_answers[key] = steady(resp.json())
    return _admin_answers[key]


@pytest.mark.parametrize(
    "svc, rule, who, expected", [pytest.param(*c, id=f"{c[0]} GET {c[1]} | {c[2].name} | {c[3]}") for c in T.cases()]
)
def test_read(world, svc, rule, who, expected):
    platform, ids, http = world
    s2 = ids["S2"]
    route = T.ROUTES[(svc, rule)]
    path, params = concrete(rule, route, s2)
    resp = call(platform, http, svc, "GET", path, who, params)
    if expected == T.REFUSED:
        assert not (why := is_problem(resp, 403)), why
    elif expected == T.HIDDEN:
        assert not (why := is_problem(resp, 404)), why
        assert not leaked(resp, s2), f"the 404 names S2's {leaked(resp, s2)}"
    elif expected in (T.NOTHING_LIST, T.NOTHING_SHOP):
        assert not (why := is_problem(resp, *((403,) if expected == T.NOTHING_LIST else (403, 404)))), why
    elif expected in (T.OPEN, T.OPEN_OR_REFUSED):
        if expected == T.OPEN_OR_REFUSED and resp.status_code == 403:
            assert not (why := is_problem(resp, 403)), why
        else:
            assert resp.status_code == 200, f"{resp.status_code} {resp.text[:240]}"
    elif route.kind == "one":  # SEES
        assert resp.status_code == 200, f"{resp.status_code} {resp.text[:240]}"
        assert s2[route.marker] in resp.text, f"the answer is not S2's {route.marker}: {resp.text[:240]}"
    elif route.kind == "shop":
        theirs = admin_answer(platform, http, svc, path, params)
        if expected == T.SEES:
            assert resp.status_code == 200, f"{resp.status_code} {resp.text[:240]}"
            assert steady(resp.json()) == theirs, f"not S2's figures: {resp.text[:240]}"
        elif resp.status_code != 200:
            assert not (why := is_problem(resp, 403, 404)), why
        else:
            assert '"S2"' not in resp.text and steady(resp.json()) != theirs, f"S2's figures: {resp.text[:240]}"
    elif expected == T.NOTHING_OR_PUBLIC and resp.status_code != 200:
        assert not (why := is_problem(resp, 403)), why
    else:  # a list: only rows the caller may see, S2's among them when the caller may see S2
        assert resp.status_code == 200, f"{resp.status_code} {resp.text[:240]}"
        rows = resp.json()["items"]
        hidden = [row for row in rows if not T.row_visible(route, who, row)]
        assert not hidden, f"{len(hidden)} rows the caller may not see, e.g. {json.dumps(hidden[0])[:240]}"
        if expected == T.SEES and route.holds_s2:
            assert any(row.get("shop_id") == "S2" for row in rows), "none of S2's rows in the list"
        # asked for S2 by name: a 404, or still only what the caller may see
        named = call(platform, http, svc, "GET", path, who, {**params, "shop_id": "S2"})
        if named.status_code == 200:
            hidden = [row for row in named.json()["items"] if not T.row_visible(route, who, row)]
            assert not hidden, f"?shop_id=S2: rows the caller may not see, e.g. {json.dumps(hidden[0])[:240]}"
        else:
            refusals = (403, 404) if expected == T.NOTHING_OR_PUBLIC else (404,)
            assert expected != T.SEES, f"?shop_id=S2 -> {named.status_code} {named.text[:240]}"
            assert not (why := is_problem(named, *refusals)), f"?shop_id=S2: {why}"


# Writes ------------------------------------------------------------------------------------------------
def _writes() -> list[tuple]:
    """(what, service, method, path template, params, body, the staff role the route admits, the S2
    state it would change: (service, path template, params, fields))."""
    s2 = {"shop_id": "S2"}
    return [
        (
            "book stock into S2",
            "inventory",
            "POST",
            "/api/v1/stock/{sku_code}/adjustments",
            {},
            {"kind": "inbound", "quantity": 5, "reason": "采购入库", "shop_id": "S2"},
            "warehouse",
            ("inventory", "/api/v1/stock/{sku_code}", s2, ("on_hand", "reserved", "available")),
        ),
        (
            "change S2's shortage policy",
            "inventory",
            "PUT",
            "/api/v1/stock-policy",
            s2,
            {"shortage_policy": "cancel"},
            "ops",
            ("inventory", "/api/v1/stock-policy", s2, ("shortage_policy", "is_default", "updated_by")),
        ),
        (
            "change S2's shortage policy",
            "inventory",
            "PUT",
            "/api/v1/stock-policy",
            s2,
            {"shortage_policy": "cancel"},
            "warehouse",
            ("inventory", "/api/v1/stock-policy", s2, ("shortage_policy", "is_default", "updated_by")),
        ),
        (
            "change S2's audit rules",
            "orders",
            "PUT",
            "/api/v1/audit-rules",
            s2,
            {"auto_pass_max_fen": 1},
            "ops",
            ("orders", "/api/v1/audit-rules", s2, ("auto_pass_max_fen", "is_default", "updated_by")),
        ),
        (
            "dispatch S2's shipment",
            "logistics",
            "POST",
            "/api/v1/shipments/{shipment_id}/dispatch",
            {},
            {"tracking_no": "SF123456789012"},
            "warehouse",
            ("logistics", "/api/v1/shipments/{shipment_id}", {}, ("status", "tracking_no")),
        ),
        (
            "approve S2's refund case",
            "aftersales",
            "POST",
            "/api/v1/cases/{case_id}/approve",
            {},
            {},
            "cs",
            ("aftersales", "/api/v1/cases/{case_id}", {}, ("status",)),
        ),
        (
            "edit S2's draft product",
            "catalog",
            "PATCH",
            "/api/v1/products/{draft_id}",
            {},
            {"title": "被改了的标题手机"},
            "ops",
            ("catalog", "/api/v1/products/{draft_id}", {}, ("title", "version", "status")),
        ),
    ]


def _attackers(role: str) -> list:
    return [
        T.Who(f"{role}@no-shop", (role,), f"{role}-x"),
        T.Who(f"{role}@S1", (role,), f"{role}-s1", "S1"),
        T.Who(f"bob buyer+{role}@no-shop", ("buyer", role), "bob"),
    ]


WRITES = [
    pytest.param(w, who, id=f"{w[0]}: {w[1]} {w[2]} {w[3]} | {who.name} | 403/404, S2 unchanged")
    for w in _writes()
    for who in _attackers(w[6])
]


@pytest.mark.parametrize("write, who", WRITES)
def test_write(world, write, who):
    platform, ids, http = world
    s2 = ids["S2"]
    _, svc, method, template, params, body, _, (state_svc, state_template, state_params, keys) = write
    admin = T.PRINCIPALS[0]

    def state() -> dict:
        resp = call(platform, http, state_svc, "GET", state_template.format(**s2), admin, state_params)
        assert resp.status_code == 200, resp.text[:200]
        return {k: resp.json().get(k) for k in keys}

    before = state()
    resp = call(platform, http, svc, method, template.format(**s2), who, params, body)
    after = state()
    assert not (why := is_problem(resp, 403, 404)), why
    assert not leaked(resp, s2), f"the refusal names S2's {leaked(resp, s2)}"
    assert after == before, f"S2 changed: {before} -> {after}"
