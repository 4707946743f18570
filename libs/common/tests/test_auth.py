from datetime import datetime, timedelta, timezone

import jwt
import pytest

from ecom_common.auth import Principal, decode_token, issue_token
from ecom_common.errors import Unauthorized

SECRET = "s" * 40


def test_round_trip_claims():
    tok = issue_token(SECRET, "alice", ["ops"], shop_id="S1")
    p = decode_token(SECRET, tok)
    assert p == Principal("alice", frozenset({"ops"}), "S1")


@pytest.mark.parametrize("bad", [
    issue_token("another-secret-that-is-long-enough-xx", "alice", ["ops"]),
    issue_token(SECRET, "alice", ["ops"], ttl=timedelta(seconds=-1)),
    jwt.encode({"sub": "alice", "roles": ["admin"], "iss": "ecom",
                "exp": datetime.now(timezone.utc) + timedelta(hours=1)}, None, algorithm="none"),
    jwt.encode({"sub": "alice", "roles": ["admin"], "iss": "other",
                "exp": datetime.now(timezone.utc) + timedelta(hours=1)}, SECRET, algorithm="HS256"),
    jwt.encode({"sub": "alice", "roles": ["admin"], "iss": "ecom"}, SECRET, algorithm="HS256"),  # no exp
    jwt.encode({"sub": "alice", "roles": "admin", "iss": "ecom",
                "exp": datetime.now(timezone.utc) + timedelta(hours=1)}, SECRET, algorithm="HS256"),
    "not-a-token",
])
def test_invalid_tokens_are_401(bad):
    with pytest.raises(Unauthorized):
        decode_token(SECRET, bad)


def test_shop_scope_confines_merchant_staff_not_platform_roles():
    assert Principal("a", frozenset({"ops"}), "S1").shop_scope() == "S1"
    assert Principal("a", frozenset({"admin"})).shop_scope() is None
    assert Principal("a", frozenset({"finance"})).shop_scope() is None
    assert Principal("a", frozenset({"finance"}), "S2").shop_scope() == "S2"
    assert not Principal("a", frozenset({"ops"}), "S1").can_see_shop("S2")
