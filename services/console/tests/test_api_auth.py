"""People and sign-in: the first admin, staff accounts, the session cookie, CSRF, throttling, the
headers every page carries, and the short-lived platform token the console calls services with."""

from __future__ import annotations

from datetime import UTC, datetime

import jwt
import pytest

from console.app import SERVICE
from ecom_testkit.console_support import PASSWORD, csrf_of, sign_in
from ecom_testkit.tokens import TEST_SECRET


def test_first_migration_prints_the_admin_password(tmp_path, capsys):
    from ecom_testkit.unit import unit_config

    config = unit_config("console", tmp_path / "fresh")
    (tmp_path / "fresh").mkdir()
    SERVICE.migrate(config)
    out = capsys.readouterr().out
    password = out.split("one-time password is: ")[1].split()[0]
    app = SERVICE.create_app(config)
    client = app.test_client()
    assert sign_in(client, "admin", password).status_code == 302
    SERVICE.migrate(config)
    assert "one-time password" not in capsys.readouterr().out


def test_sign_in_sets_an_httponly_samesite_session_cookie(client, make_staff):
    make_staff("olivia", ["ops"], "S1")
    resp = sign_in(client, "olivia")
    assert resp.status_code == 302
    cookie = next(h for h in resp.headers.getlist("Set-Cookie") if h.startswith("console_session="))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    page = client.get("/")
    assert page.status_code == 200
    assert "工作台" in page.get_data(as_text=True)  # zh-CN by default


def test_wrong_password_is_refused_and_repeated_failures_are_throttled(client, make_staff):
    make_staff("olivia", ["ops"], "S1")
    for _ in range(5):
        resp = sign_in(client, "olivia", "wrong password")
        assert resp.status_code == 401
        assert "账号或密码错误" in resp.get_data(as_text=True)
    resp = sign_in(client, "olivia")  # even the right password waits now
    assert resp.status_code == 429
    assert "console_session" not in resp.headers.get("Set-Cookie", "")


def test_unknown_name_and_disabled_account_answer_like_a_wrong_password(client, make_staff, signed_in):
    assert sign_in(client, "nobody").status_code == 401


def test_a_post_without_the_csrf_token_is_refused(client, signed_in, fake):
    signed_in("olivia", ["ops"], "S1")
    resp = client.post("/orders/O1/review", data={"decision": "approve"})
    assert resp.status_code == 400
    assert [c for c in fake.calls if c[2] == "POST"] == []  # nothing reached the service


def test_the_signin_form_has_a_csrf_token_too(client, make_staff):
    make_staff("olivia", ["ops"], "S1")
    client.get("/signin")
    resp = client.post("/signin", data={"name": "olivia", "password": PASSWORD})
    assert resp.status_code == 400


def test_every_page_forbids_framing_and_foreign_scripts(client):
    resp = client.get("/signin")
    csp = resp.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp
    assert resp.headers["X-Frame-Options"] == "DENY"


def test_pages_need_a_sign_in(client):
    resp = client.get("/orders")
    assert resp.status_code == 302 and resp.headers["Location"].startswith("/signin")


def test_the_console_calls_services_with_the_persons_short_lived_token(client, signed_in, fake):
    signed_in("wang", ["warehouse"], "S1")
    fake.on("GET", "/api/v1/shipments", body={"items": [], "next_cursor": None})
    client.get("/shipping")
    principal, peer, method, path, params, _ = fake.calls[-1]
    assert (principal.sub, principal.roles, principal.shop_id) == ("wang", frozenset({"warehouse"}), "S1")


def test_the_platform_token_lives_minutes(app, db, make_staff):
    from console import operations
    from console.models import StaffAccount
    from console.settings import Settings
    from ecom_common.usecase import for_job

    make_staff("olivia", ["ops"], "S1")
    with for_job(db, Settings) as ctx:
        staff = ctx.session.query(StaffAccount).filter_by(name="olivia").one()
        token = operations.platform_token(ctx, staff, secret=TEST_SECRET)
    claims = jwt.decode(token, TEST_SECRET, algorithms=["HS256"], issuer="ecom")
    assert claims["roles"] == ["ops"] and claims["shop_id"] == "S1" and claims["sub"] == "olivia"
    assert claims["exp"] - datetime.now(UTC).timestamp() <= 15 * 60 + 5


def test_admin_creates_and_disables_staff(client, signed_in, make_staff):
    csrf = signed_in("root", ["admin"])
    resp = client.post("/staff", data={"name": "cathy", "roles": ["cs"], "shop_id": "S1", "csrf_token": csrf})
    assert resp.status_code == 201
    html = resp.get_data(as_text=True)
    password = html.split('data-testid="staff-password">')[1].split("<")[0]
    other = client.application.test_client()
    assert sign_in(other, "cathy", password).status_code == 302
    assert other.get("/cases").status_code in (200,)
    import re

    cathy_id = re.search(r'data-name="cathy">.*?action="/staff/(U[0-9a-f]+)/disable"', html, re.S).group(1)
    assert client.post(f"/staff/{cathy_id}/disable", data={"csrf_token": csrf}).status_code == 302
    # her session ended and she cannot sign in again
    assert other.get("/cases").status_code == 302
    assert sign_in(other, "cathy", password).status_code == 401


def test_staff_needs_a_shop_for_merchant_roles(client, signed_in):
    csrf = signed_in("root", ["admin"])
    resp = client.post("/staff", data={"name": "x1", "roles": ["ops"], "csrf_token": csrf}, follow_redirects=True)
    assert "账号未创建" in resp.get_data(as_text=True)


@pytest.mark.parametrize("role", ["ops", "finance", "warehouse"])
def test_only_admin_manages_staff(client, signed_in, role):
    csrf = signed_in("someone", [role], "S1")
    assert client.get("/staff").status_code == 403
    resp = client.post("/staff", data={"name": "x2", "roles": ["admin"], "csrf_token": csrf}, follow_redirects=True)
    assert "账号未创建" in resp.get_data(as_text=True)


def test_english_is_selectable(client, signed_in):
    signed_in("olivia", ["ops"], "S1")
    client.get("/locale/en")
    assert "Dashboard" in client.get("/").get_data(as_text=True)


def test_signout_ends_the_session(client, signed_in):
    csrf = signed_in("olivia", ["ops"], "S1")
    assert client.post("/signout", data={"csrf_token": csrf}).status_code == 302
    assert client.get("/").status_code == 302


def test_next_never_leaves_the_site(client, make_staff):
    make_staff("olivia", ["ops"], "S1")
    page = client.get("/signin")
    resp = client.post(
        "/signin",
        data={
            "name": "olivia",
            "password": PASSWORD,
            "next": "//evil.example/",
            "csrf_token": csrf_of(page.get_data(as_text=True)),
        },
    )
    assert resp.headers["Location"] == "/"
