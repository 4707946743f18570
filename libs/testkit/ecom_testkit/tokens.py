"""Tokens of the test JWT secret: every service under test (unit config, Platform) trusts it."""

from __future__ import annotations

from ecom_common.auth import issue_token

TEST_SECRET = "test-secret-not-for-production-0123456789"


def token(
    secret: str = TEST_SECRET, role: str | list[str] = "ops", sub: str = "alice", shop_id: str | None = None, **kwargs
) -> str:
    roles = [role] if isinstance(role, str) else list(role)
    return issue_token(secret, sub, roles, shop_id=shop_id, **kwargs)


def auth(
    role: str | list[str] = "ops", sub: str = "alice", shop_id: str | None = None, secret: str = TEST_SECRET
) -> dict:
    return {"Authorization": f"Bearer {token(secret, role, sub, shop_id)}"}
