"""JWT bearer auth (HS256, iss="ecom"), roles, and tenancy: one rule for every service.

Roles (CONTRACTS.md): admin, reviewer, ops, cs, warehouse, finance, buyer, service.

Tenancy is a `Scope`, the union of what each role of the caller grants:
- platform roles (admin, reviewer, service; finance without a shop) grant every shop;
- merchant staff (ops, cs, warehouse; finance with a shop) grant their shop_id, and nothing at all
  when their token carries no shop_id (never "every shop": that reading was issue 14's hole);
- buyer grants what the caller owns (buyer_id == sub).
Only the roles an endpoint admits (`requires`) count, so a read-only role cannot widen what a
write endpoint lets another role of the same token touch.

Services use only the helpers at the bottom: `visible` / `not_found_unless` for one resource
(another tenant's resource answers 404, never its data), `list_filter` for lists (403 for a caller
who may see nothing), `shop_for_read` / `shop_for_write` for a shop-wide read or write.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, ParamSpec, TypeVar

import jwt
import sqlalchemy as sa
from flask import current_app, g, request
from sqlalchemy.sql.elements import SQLCoreOperations

from .errors import Forbidden, NotFound, Unauthorized, UnprocessableEntity

ISSUER = "ecom"
ALGORITHM = "HS256"
ROLES = ("admin", "reviewer", "ops", "cs", "warehouse", "finance", "buyer", "service")
# Roles that belong to the platform, not to a shop: they are not confined to one shop_id.
PLATFORM_ROLES = frozenset({"admin", "reviewer", "service"})
# Roles of a merchant's staff: confined to the token's shop_id (finance without one is platform).
STAFF_ROLES = frozenset({"ops", "cs", "warehouse", "finance"})

# A shop or buyer column, of a Table (`table.c.shop_id`) or a mapped class (`Order.shop_id`).
TenantColumn = SQLCoreOperations[str | None]
_P = ParamSpec("_P")
_R = TypeVar("_R")


@dataclass(frozen=True)
class Scope:
    """What a caller may see and change: every shop, one shop, their own buyer id, or a union."""

    all_shops: bool = False
    shop_id: str | None = None
    buyer_id: str | None = None

    @property
    def nothing(self) -> bool:
        return not (self.all_shops or self.shop_id or self.buyer_id)

    def allows(self, shop_id: str | None = None, buyer_id: str | None = None) -> bool:
        """Whether a resource of `shop_id`, owned by `buyer_id`, is within this scope."""
        if self.all_shops:
            return True
        if self.shop_id is not None and shop_id == self.shop_id:
            return True
        return self.buyer_id is not None and buyer_id == self.buyer_id

    def where(
        self, shop_column: TenantColumn | None = None, buyer_column: TenantColumn | None = None
    ) -> sa.ColumnElement[bool]:
        """The same rule as a SQL condition over a table's shop and buyer columns."""
        if self.all_shops:
            return sa.true()
        terms: list[sa.ColumnElement[bool]] = []
        if self.shop_id is not None and shop_column is not None:
            terms.append(shop_column == self.shop_id)
        if self.buyer_id is not None and buyer_column is not None:
            terms.append(buyer_column == self.buyer_id)
        return sa.or_(*terms) if terms else sa.false()


NOTHING = Scope()


@dataclass(frozen=True)
class Principal:
    sub: str
    roles: frozenset[str] = field(default_factory=frozenset)
    shop_id: str | None = None

    def has(self, *roles: str) -> bool:
        return bool(self.roles.intersection(roles))

    def scope(self, admitted: frozenset[str] | None = None) -> Scope:
        """The union of what each role (of those `admitted`, if given) grants; see the module doc."""
        roles = self.roles if admitted is None else self.roles & admitted
        all_shops = bool(roles & PLATFORM_ROLES) or ("finance" in roles and not self.shop_id)
        shop_id = self.shop_id if (roles & STAFF_ROLES and self.shop_id) else None
        buyer_id = self.sub if "buyer" in roles else None
        return Scope(all_shops=all_shops, shop_id=shop_id, buyer_id=buyer_id)

    def owns(self, buyer_id: str | None) -> bool:
        return buyer_id is not None and buyer_id == self.sub


def staff_without_shop(roles: Iterable[str], shop_id: str | None) -> list[str]:
    """Merchant-staff roles that a token without a shop would carry to no use (`ecom token` refuses)."""
    return [] if shop_id else sorted(set(roles) & (STAFF_ROLES - {"finance"}))


def issue_token(
    secret: str,
    sub: str,
    roles: list[str] | tuple[str, ...],
    shop_id: str | None = None,
    ttl: timedelta = timedelta(hours=12),
    now: datetime | None = None,
    **extra: Any,
) -> str:
    now = now or datetime.now(UTC)
    claims: dict[str, Any] = {"sub": sub, "roles": list(roles), "iss": ISSUER, "iat": now, "exp": now + ttl, **extra}
    if shop_id is not None:
        claims["shop_id"] = shop_id
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def decode_token(secret: str, token: str) -> Principal:
    try:
        # `algorithms` pinned: alg=none and other algorithms are refused.
        claims = jwt.decode(
            token, secret, algorithms=[ALGORITHM], issuer=ISSUER, options={"require": ["exp", "sub", "iss"]}
        )
    except jwt.ExpiredSignatureError:
        raise Unauthorized("token expired") from None
    except jwt.PyJWTError as exc:
        raise Unauthorized(f"invalid token: {exc}") from exc
    roles = claims.get("roles") or []
    if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
        raise Unauthorized("invalid token: roles must be a list of strings")
    shop_id = claims.get("shop_id")
    return Principal(sub=str(claims["sub"]), roles=frozenset(roles), shop_id=str(shop_id) if shop_id else None)


def current_principal() -> Principal:
    principal: Principal | None = getattr(g, "principal", None)
    if principal is not None:
        return principal
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("missing bearer token")
    principal = decode_token(current_app.config["ECOM"].jwt_secret, token.strip())
    g.principal = principal
    return principal


def requires(*roles: str) -> Callable[[Callable[_P, _R]], Callable[_P, _R]]:
    """Let the request in only with a valid token carrying one of `roles` (any role if none given)."""
    unknown = set(roles) - set(ROLES)
    if unknown:
        raise ValueError(f"unknown roles {unknown}")
    admitted = frozenset(roles) if roles else None

    def decorate(view: Callable[_P, _R]) -> Callable[_P, _R]:
        @functools.wraps(view)
        def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
            principal = current_principal()
            if roles and not principal.has(*roles):
                raise Forbidden(f"requires one of the roles: {', '.join(roles)}")
            g.admitted_roles = admitted
            return view(*args, **kwargs)

        return wrapper

    return decorate


def current_scope() -> Scope:
    """The caller's scope through the roles this endpoint admits (all of them without `requires`)."""
    return current_principal().scope(getattr(g, "admitted_roles", None))


def visible(shop_id: str | None, buyer_id: str | None = None) -> bool:
    """Whether the caller may see one resource of `shop_id` owned by `buyer_id`."""
    return current_scope().allows(shop_id, buyer_id)


def not_found_unless(visible: bool, what: str = "resource") -> None:
    """Another tenant's resource is indistinguishable from a missing one."""
    if not visible:
        raise NotFound(f"{what} not found")


def list_filter(
    shop_column: TenantColumn | None = None, buyer_column: TenantColumn | None = None, shop_id: str | None = None
) -> sa.ColumnElement[bool]:
    """The WHERE condition that confines a list to the caller's scope; 403 for a caller who may see
    nothing (merchant staff whose token has no shop). `shop_id` is the list's optional `?shop_id=`
    filter: a shop outside the caller's scope answers 404 as a single resource would, except to a
    buyer, whose own rows in that shop it selects."""
    scope = current_scope()
    if scope.nothing:
        raise Forbidden("this token grants no shop: merchant staff tokens must carry a shop_id")
    condition = scope.where(shop_column, buyer_column)
    if shop_id:
        buyer_rows = scope.buyer_id is not None and buyer_column is not None
        not_found_unless(scope.all_shops or shop_id == scope.shop_id or buyer_rows, "shop")
        # Every list filtering by shop passes its shop column; without one nothing matches.
        condition = sa.and_(condition, shop_column == shop_id if shop_column is not None else sa.false())
    return condition


def _shop_of(scope: Scope, requested: str | None) -> str | None:
    """The shop a shop-wide request applies to, or None when a platform caller named none."""
    if scope.all_shops:
        return requested or None
    if scope.shop_id is None:
        raise Forbidden("this token grants no shop: merchant staff tokens must carry a shop_id")
    return scope.shop_id


def _named(shop: str | None) -> str:
    """A platform caller must name the shop a shop-wide request applies to."""
    if shop is None:
        raise UnprocessableEntity("shop_id is required", {"shop_id": ["Missing data for required field."]})
    return shop


def shop_or_all(requested: str | None) -> str | None:
    """The shop a shop-wide report or list covers: merchant staff their own (naming another shop
    answers 404, never its data); platform callers the one named, or None for every shop."""
    scope = current_scope()
    shop = _shop_of(scope, requested)
    if not scope.all_shops:
        not_found_unless(not requested or requested == shop, "shop")
    return shop


def shop_for_read(requested: str | None) -> str:
    """The shop a shop-wide read applies to: merchant staff their own (another shop answers 404,
    never its data); platform roles must name one."""
    return _named(shop_or_all(requested))


def shop_for_write(requested: str | None) -> str:
    """The shop a write applies to: merchant staff their own (another shop is 403); platform roles
    must name one."""
    scope = current_scope()
    shop = _shop_of(scope, requested)
    if not scope.all_shops and requested and requested != shop:
        raise Forbidden("you can only act for your own shop")
    return _named(shop)


def shop_of_resource(requested: str | None, what: str = "resource") -> str:
    """The shop of a single resource addressed by shop and key (a SKU's stock, its ledger): the
    caller's own shop unless one is named (platform callers must name one); outside the caller's
    scope, or with none at all, it answers 404 as any other tenant's resource does."""
    scope = current_scope()
    shop = requested or scope.shop_id
    if scope.all_shops:
        shop = _named(shop)
    not_found_unless(bool(shop) and scope.allows(shop), what)
    assert shop is not None  # not_found_unless raised otherwise
    return shop
