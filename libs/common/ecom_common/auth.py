"""JWT bearer auth (HS256, iss="ecom"), roles, and tenant scoping.

Roles (CONTRACTS.md): admin, reviewer, ops, cs, warehouse, finance, buyer, service.
Merchant staff (ops, cs, warehouse, finance with a shop_id) see only their shop's data; a buyer only
their own. Another tenant's resource answers 404, never its data: use `not_found_unless`.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import jwt
from flask import current_app, g, request

from .errors import Forbidden, NotFound, Unauthorized

ISSUER = "ecom"
ALGORITHM = "HS256"
ROLES = ("admin", "reviewer", "ops", "cs", "warehouse", "finance", "buyer", "service")
# Roles that belong to the platform, not to a shop: they are not confined to one shop_id.
PLATFORM_ROLES = {"admin", "reviewer", "service"}


@dataclass(frozen=True)
class Principal:
    sub: str
    roles: frozenset[str] = field(default_factory=frozenset)
    shop_id: str | None = None

    def has(self, *roles: str) -> bool:
        return bool(self.roles.intersection(roles))

    @property
    def is_platform(self) -> bool:
        return bool(self.roles & PLATFORM_ROLES) or (self.shop_id is None and "finance" in self.roles)

    @property
    def is_buyer_only(self) -> bool:
        return self.roles == {"buyer"}

    def shop_scope(self) -> str | None:
        """The shop this caller is confined to, or None for platform roles (all shops)."""
        if self.is_platform:
            return None
        return self.shop_id

    def can_see_shop(self, shop_id: str | None) -> bool:
        scope = self.shop_scope()
        return scope is None or scope == shop_id

    def owns(self, buyer_id: str | None) -> bool:
        return buyer_id is not None and buyer_id == self.sub


def issue_token(secret: str, sub: str, roles: list[str] | tuple[str, ...], shop_id: str | None = None,
                ttl: timedelta = timedelta(hours=12), now: datetime | None = None, **extra) -> str:
    now = now or datetime.now(timezone.utc)
    claims = {"sub": sub, "roles": list(roles), "iss": ISSUER, "iat": now, "exp": now + ttl, **extra}
    if shop_id is not None:
        claims["shop_id"] = shop_id
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def decode_token(secret: str, token: str) -> Principal:
    try:
        # `algorithms` pinned: alg=none and other algorithms are refused.
        claims = jwt.decode(token, secret, algorithms=[ALGORITHM], issuer=ISSUER,
                            options={"require": ["exp", "sub", "iss"]})
    except jwt.ExpiredSignatureError:
        raise Unauthorized("token expired")
    except jwt.PyJWTError as exc:
        raise Unauthorized(f"invalid token: {exc}")
    roles = claims.get("roles") or []
    if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
        raise Unauthorized("invalid token: roles must be a list of strings")
    shop_id = claims.get("shop_id")
    return Principal(sub=str(claims["sub"]), roles=frozenset(roles), shop_id=str(shop_id) if shop_id else None)


def current_principal() -> Principal:
    principal = getattr(g, "principal", None)
    if principal is not None:
        return principal
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("missing bearer token")
    g.principal = decode_token(current_app.config["ECOM"].jwt_secret, token.strip())
    return g.principal


def requires(*roles: str):
    """Let the request in only with a valid token carrying one of `roles` (any role if none given)."""
    unknown = set(roles) - set(ROLES)
    if unknown:
        raise ValueError(f"unknown roles {unknown}")

    def decorate(view):
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            principal = current_principal()
            if roles and not principal.has(*roles):
                raise Forbidden(f"requires one of the roles: {', '.join(roles)}")
            return view(*args, **kwargs)

        return wrapper

    return decorate


def not_found_unless(visible: bool, what: str = "resource") -> None:
    """Another tenant's resource is indistinguishable from a missing one."""
    if not visible:
        raise NotFound(f"{what} not found")


def shop_for_read(requested: str | None) -> str:
    """The shop a read applies to: merchant staff their own (another shop answers 404, never its
    data); platform roles must name one."""
    from .errors import UnprocessableEntity

    scope = current_principal().shop_scope()
    if scope is not None:
        not_found_unless(not requested or requested == scope, "shop")
        return scope
    if not requested:
        raise UnprocessableEntity("shop_id is required", {"shop_id": ["Missing data for required field."]})
    return requested


def shop_for_write(requested: str | None) -> str:
    """The shop a merchant-staff write applies to: their own; platform roles must name one."""
    principal = current_principal()
    scope = principal.shop_scope()
    if scope is not None:
        if requested and requested != scope:
            raise Forbidden("you can only act for your own shop")
        return scope
    if not requested:
        from .errors import UnprocessableEntity

        raise UnprocessableEntity("shop_id is required", errors={"shop_id": ["Missing data for required field."]})
    return requested
