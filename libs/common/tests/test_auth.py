from datetime import UTC, datetime, timedelta

import jwt
import pytest
import sqlalchemy as sa

from ecom_common.auth import NOTHING, Principal, Scope, decode_token, issue_token, staff_without_shop
from ecom_common.errors import Unauthorized

SECRET = "s" * 40


def test_round_trip_claims():
    tok = issue_token(SECRET, "alice", ["ops"], shop_id="S1")
    p = decode_token(SECRET, tok)
    assert p == Principal("alice", frozenset({"ops"}), "S1")


@pytest.mark.parametrize(
    "bad",
    [
        issue_token("another-secret-that-is-long-enough-xx", "alice", ["ops"]),
        issue_token(SECRET, "alice", ["ops"], ttl=timedelta(seconds=-1)),
        jwt.encode(
            {"sub": "alice", "roles": ["admin"], "iss": "ecom", "exp": datetime.now(UTC) + timedelta(hours=1)},
            None,
            algorithm="none",
        ),
        jwt.encode(
            {
                "sub": "alice",
                "roles": ["admin"],
                "iss": "other",
                "exp": datetime.now(UTC) + timedelta(hours=1),
            },
            SECRET,
            algorithm="HS256",
        ),
        jwt.encode({"sub": "alice", "roles": ["admin"], "iss": "ecom"}, SECRET, algorithm="HS256"),  # no exp
        jwt.encode(
            {"sub": "alice", "roles": "admin", "iss": "ecom", "exp": datetime.now(UTC) + timedelta(hours=1)},
            SECRET,
            algorithm="HS256",
        ),
        "not-a-token",
    ],
)
def test_invalid_tokens_are_401(bad):
    with pytest.raises(Unauthorized):
        decode_token(SECRET, bad)


P = Principal


@pytest.mark.parametrize(
    "principal, expected",
    [
        (P("a", frozenset({"admin"})), Scope(all_shops=True)),
        (P("a", frozenset({"reviewer"})), Scope(all_shops=True)),
        (P("a", frozenset({"service"})), Scope(all_shops=True)),
        (P("a", frozenset({"finance"})), Scope(all_shops=True)),  # platform finance
        (P("a", frozenset({"finance"}), "S2"), Scope(shop_id="S2")),  # a shop's finance
        (P("a", frozenset({"ops"}), "S1"), Scope(shop_id="S1")),
        (P("a", frozenset({"cs"})), NOTHING),  # issue 14: was every shop
        (P("a", frozenset({"warehouse"})), NOTHING),
        (P("a", frozenset({"ops"})), NOTHING),
        (P("bob", frozenset({"buyer"})), Scope(buyer_id="bob")),
        (P("bob", frozenset({"buyer", "ops"})), Scope(buyer_id="bob")),  # issue 14: was "no check"
        (P("bob", frozenset({"buyer", "ops"}), "S1"), Scope(shop_id="S1", buyer_id="bob")),
        (P("a", frozenset()), NOTHING),
    ],
)
def test_scope_is_the_union_of_what_each_role_grants(principal, expected):
    assert principal.scope() == expected


def test_only_the_roles_an_endpoint_admits_count():
    # Platform finance reads every shop; its token's ops role writes nothing without a shop.
    p = P("a", frozenset({"finance", "ops"}))
    assert p.scope() == Scope(all_shops=True)
    assert p.scope(frozenset({"ops", "admin"})) == NOTHING
    assert P("bob", frozenset({"buyer", "ops"}), "S1").scope(frozenset({"ops"})) == Scope(shop_id="S1")


@pytest.mark.parametrize(
    "scope, shop, buyer, allowed",
    [
        (Scope(all_shops=True), "S2", "eve", True),
        (Scope(shop_id="S1"), "S1", "eve", True),
        (Scope(shop_id="S1"), "S2", "eve", False),
        (Scope(shop_id="S1"), None, None, False),
        (Scope(buyer_id="bob"), "S2", "bob", True),
        (Scope(buyer_id="bob"), "S2", "eve", False),
        (Scope(buyer_id="bob"), "S2", None, False),
        (Scope(shop_id="S1", buyer_id="bob"), "S2", "bob", True),
        (Scope(shop_id="S1", buyer_id="bob"), "S2", "eve", False),
        (NOTHING, "S1", "bob", False),
        (NOTHING, None, None, False),
    ],
)
def test_allows(scope, shop, buyer, allowed):
    assert scope.allows(shop, buyer) is allowed


def test_where_is_the_same_rule_in_sql():
    table = sa.table("t", sa.column("shop_id"), sa.column("buyer_id"))
    rows = [("S1", "bob"), ("S1", "eve"), ("S2", "bob"), ("S2", "eve"), ("S3", None)]
    engine = sa.create_engine("sqlite://")
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE t (shop_id TEXT, buyer_id TEXT)"))
        conn.execute(sa.text("INSERT INTO t VALUES (:s, :b)"), [{"s": s, "b": b} for s, b in rows])
        for scope in (
            Scope(all_shops=True),
            Scope(shop_id="S1"),
            Scope(buyer_id="bob"),
            Scope(shop_id="S1", buyer_id="bob"),
            NOTHING,
        ):
            got = set(
                conn.execute(
                    sa.select(table.c.shop_id, table.c.buyer_id).where(scope.where(table.c.shop_id, table.c.buyer_id))
                ).all()
            )
            assert got == {r for r in rows if scope.allows(*r)}, scope
            # A table without a buyer column: the buyer grant matches nothing there.
            got = set(conn.execute(sa.select(table.c.shop_id).where(scope.where(table.c.shop_id))).scalars())
            assert got == {s for s, _ in rows if scope.allows(s, None)}, scope


def _call(principal, view, admitted=()):
    from flask import Flask, g

    from ecom_common.auth import requires

    app = Flask("t")
    with app.test_request_context():
        g.principal = principal
        return requires(*admitted)(view)()


def test_helpers_refuse_staff_without_a_shop():
    from ecom_common.auth import list_filter, shop_for_read, shop_for_write, shop_or_all
    from ecom_common.errors import Forbidden

    cs = P("a", frozenset({"cs"}))
    for helper in (
        lambda: list_filter(sa.column("shop_id")),
        lambda: shop_for_read("S2"),
        lambda: shop_for_write("S2"),
        lambda: shop_or_all(None),
        lambda: shop_or_all("S2"),
    ):
        with pytest.raises(Forbidden):
            _call(cs, helper)


def test_helpers_confine_staff_to_their_shop_and_let_platform_name_one():
    from ecom_common.auth import shop_for_read, shop_for_write, shop_or_all
    from ecom_common.errors import Forbidden, NotFound, UnprocessableEntity

    ops = P("a", frozenset({"ops"}), "S1")
    admin = P("root", frozenset({"admin"}))
    assert _call(ops, lambda: shop_for_write(None)) == "S1"
    assert _call(ops, lambda: shop_for_read("S1")) == "S1"
    with pytest.raises(Forbidden):
        _call(ops, lambda: shop_for_write("S2"))
    with pytest.raises(NotFound):
        _call(ops, lambda: shop_for_read("S2"))
    with pytest.raises(NotFound):
        _call(ops, lambda: shop_or_all("S2"))
    assert _call(admin, lambda: shop_for_write("S2")) == "S2"
    assert _call(admin, lambda: shop_or_all(None)) is None
    with pytest.raises(UnprocessableEntity):
        _call(admin, lambda: shop_for_read(None))
    # The ops role of a platform-finance token writes for no shop on an ops-only endpoint.
    with pytest.raises(Forbidden):
        _call(P("a", frozenset({"finance", "ops"})), lambda: shop_for_write("S2"), admitted=("ops", "admin"))


def test_staff_without_shop_is_named_for_the_token_command():
    assert staff_without_shop(["cs"], None) == ["cs"]
    assert staff_without_shop(["ops", "buyer", "warehouse"], None) == ["ops", "warehouse"]
    assert staff_without_shop(["finance"], None) == []  # platform finance
    assert staff_without_shop(["cs"], "S1") == []
    assert staff_without_shop(["admin", "buyer"], None) == []


def test_a_list_filter_naming_a_shop_outside_the_scope_is_404_except_for_a_buyers_own_rows():
    from ecom_common.auth import list_filter
    from ecom_common.errors import NotFound

    shop, buyer = sa.column("shop_id"), sa.column("buyer_id")
    with pytest.raises(NotFound):
        _call(P("a", frozenset({"ops"}), "S1"), lambda: list_filter(shop, buyer, "S2"))
    with pytest.raises(NotFound):  # no buyer column: the buyer grant selects nothing there
        _call(P("bob", frozenset({"buyer", "ops"}), "S1"), lambda: list_filter(shop, None, "S2"))
    assert _call(P("bob", frozenset({"buyer"})), lambda: list_filter(shop, buyer, "S2")) is not None
    assert _call(P("root", frozenset({"admin"})), lambda: list_filter(shop, buyer, "S2")) is not None


def test_a_single_resource_addressed_by_shop_is_404_outside_the_scope():
    from ecom_common.auth import shop_of_resource
    from ecom_common.errors import NotFound, UnprocessableEntity

    assert _call(P("a", frozenset({"ops"}), "S1"), lambda: shop_of_resource(None)) == "S1"
    assert _call(P("root", frozenset({"admin"})), lambda: shop_of_resource("S2")) == "S2"
    for principal, requested in (
        (P("a", frozenset({"cs"})), "S2"),
        (P("a", frozenset({"cs"})), None),
        (P("a", frozenset({"ops"}), "S1"), "S2"),
        (P("bob", frozenset({"buyer", "ops"})), "S2"),
    ):
        with pytest.raises(NotFound):
            _call(principal, lambda: shop_of_resource(requested))
    with pytest.raises(UnprocessableEntity):
        _call(P("root", frozenset({"admin"})), lambda: shop_of_resource(None))
