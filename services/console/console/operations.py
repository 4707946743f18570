"""The console's use cases: `verb(ctx, ...)` over its own tables (staff accounts, sign-in sessions).
Operations never commit: the view (or the migration step) that opened the unit of work does."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from ecom_common.auth import issue_token
from ecom_common.clock import aware
from ecom_common.errors import Conflict, Forbidden, NotFound, Problem, Unauthorized, UnprocessableEntity
from ecom_common.ids import new_id
from ecom_common.usecase import Ctx

from . import domain
from .models import SavedFilter, SignInFailure, StaffAccount, StaffSession
from .settings import Settings

HASHER = PasswordHasher()
# Verified against when the name is unknown, so an unknown name takes as long as a wrong password.
_DUMMY_HASH = HASHER.hash(secrets.token_urlsafe(16))


class TooManySignInsProblem(Problem):
    status, title, type_slug = 429, "Too Many Requests", "too-many-requests"


@dataclass(frozen=True)
class SignedIn:
    """A sign-in: the cookie's token (only ever in the cookie) and the account."""

    token: str
    staff: StaffAccount
    csrf_token: str


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_password() -> str:
    return secrets.token_urlsafe(12)


def bootstrap_admin(ctx: Ctx[Settings]) -> str | None:
    """The first admin, when there is no account at all: its one-time password (else None)."""
    if ctx.session.execute(sa.select(sa.func.count()).select_from(StaffAccount)).scalar_one():
        return None
    password = new_password()
    ctx.session.add(
        StaffAccount(
            id=new_id("U", ctx.now),
            name=ctx.settings.admin_name,
            display_name=ctx.settings.admin_name,
            password_hash=HASHER.hash(password),
            roles="admin",
            shop_id=None,
            disabled=False,
            created_at=ctx.now,
            created_by="bootstrap",
        )
    )
    return password


def create_staff(
    ctx: Ctx[Settings], name: str, *, roles: Sequence[str], shop_id: str | None, password: str | None = None
) -> tuple[StaffAccount, str]:
    """A new account (admin only): the account and its first password (given, or generated)."""
    if not ctx.actor.has("admin"):
        raise Forbidden("only an admin manages staff accounts")
    shop_id = (shop_id or "").strip() or None
    errors = domain.staff_errors(name, roles, shop_id, password)
    if errors:
        raise UnprocessableEntity("the account is not valid", errors)
    if ctx.session.execute(sa.select(StaffAccount.id).where(StaffAccount.name == name)).first():
        raise Conflict("that name is taken", {"name": ["Already taken."]})
    password = password or new_password()
    staff = StaffAccount(
        id=new_id("U", ctx.now),
        name=name,
        display_name=name,
        password_hash=HASHER.hash(password),
        roles=",".join(r for r in domain.ROLES if r in roles),
        shop_id=shop_id,
        disabled=False,
        created_at=ctx.now,
        created_by=ctx.actor.id,
    )
    ctx.session.add(staff)
    return staff, password


def set_disabled(ctx: Ctx[Settings], staff_id: str, *, disabled: bool) -> StaffAccount:
    """Disable (ending every session of the account) or enable an account; admin only, not oneself."""
    if not ctx.actor.has("admin"):
        raise Forbidden("only an admin manages staff accounts")
    staff = ctx.session.get(StaffAccount, staff_id)
    if staff is None:
        raise NotFound("staff account not found")
    if staff.name == ctx.actor.id and disabled:
        raise Conflict("you cannot disable your own account")
    staff.disabled = disabled
    if disabled:
        ctx.session.execute(sa.delete(StaffSession).where(StaffSession.staff_id == staff.id))
    return staff


def list_staff(ctx: Ctx[Settings]) -> list[StaffAccount]:
    return list(ctx.session.execute(sa.select(StaffAccount).order_by(StaffAccount.created_at)).scalars())


def sign_in(ctx: Ctx[Settings], name: str, password: str, *, address: str) -> SignedIn:
    """Check a name and password: a session, or 401 (wrong) / 429 (too many failures lately).
    Unknown name, wrong password and disabled account answer alike."""
    since = ctx.now - timedelta(minutes=ctx.settings.signin_window_minutes)
    by_name = _failures(ctx, SignInFailure.name == name[:64], since)
    by_address = _failures(ctx, SignInFailure.address == address[:64], since)
    if domain.throttled(by_name, by_address, ctx.settings.signin_max_failures):
        raise TooManySignInsProblem("too many failed sign-ins: wait and try again")
    staff = ctx.session.execute(sa.select(StaffAccount).where(StaffAccount.name == name)).scalar_one_or_none()
    if not _verify(staff.password_hash if staff else _DUMMY_HASH, password) or staff is None or staff.disabled:
        raise Unauthorized("wrong name or password")  # the caller records the failure (record_failure)
    if HASHER.check_needs_rehash(staff.password_hash):
        staff.password_hash = HASHER.hash(password)
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    ctx.session.add(
        StaffSession(
            token_hash=_hash_token(token),
            staff_id=staff.id,
            csrf_token=csrf,
            created_at=ctx.now,
            expires_at=ctx.now + timedelta(hours=ctx.settings.session_hours),
        )
    )
    return SignedIn(token, staff, csrf)


def record_failure(ctx: Ctx[Settings], name: str, *, address: str) -> None:
    """A failed sign-in, counted by `sign_in`'s throttle (in a unit of work of its own: the failed
    sign-in's was rolled back)."""
    ctx.session.add(SignInFailure(name=name[:64], address=address[:64], at=ctx.now))


def purge_expired(ctx: Ctx[Settings]) -> int:
    """Forget what no longer counts: expired sessions, and failed sign-ins older than the throttle
    window. Returns how many rows went."""
    sessions = ctx.session.execute(sa.delete(StaffSession).where(StaffSession.expires_at <= ctx.now))
    since = ctx.now - timedelta(minutes=ctx.settings.signin_window_minutes)
    failures = ctx.session.execute(sa.delete(SignInFailure).where(SignInFailure.at < since))
    return int(sessions.rowcount or 0) + int(failures.rowcount or 0)  # type: ignore[attr-defined]


def _failures(ctx: Ctx[Settings], who: sa.ColumnElement[bool], since: object) -> int:
    stmt = sa.select(sa.func.count()).select_from(SignInFailure).where(who, SignInFailure.at >= since)
    return int(ctx.session.execute(stmt).scalar_one())


def _verify(password_hash: str, password: str) -> bool:
    try:
        return HASHER.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def session_of(ctx: Ctx[Settings], token: str | None) -> tuple[StaffSession, StaffAccount] | None:
    """The live session of a cookie's token and its (enabled) account, or None."""
    if not token:
        return None
    row = ctx.session.get(StaffSession, _hash_token(token))
    if row is None or aware(row.expires_at) <= ctx.now:
        return None
    staff = ctx.session.get(StaffAccount, row.staff_id)
    if staff is None or staff.disabled:
        return None
    return row, staff


def sign_out(ctx: Ctx[Settings], token: str | None) -> None:
    if token:
        ctx.session.execute(sa.delete(StaffSession).where(StaffSession.token_hash == _hash_token(token)))


def platform_token(ctx: Ctx[Settings], staff: StaffAccount, *, secret: str) -> str:
    """The short-lived platform JWT the console calls the services with, for this person."""
    return issue_token(
        secret,
        staff.name,
        list(staff.role_list),
        shop_id=staff.shop_id,
        ttl=timedelta(minutes=ctx.settings.token_ttl_minutes),
        now=ctx.now,
    )


def saved_filters(ctx: Ctx[Settings], staff_id: str, page: str) -> list[SavedFilter]:
    """The person's saved filters of `page`, by name."""
    stmt = sa.select(SavedFilter).where(SavedFilter.staff_id == staff_id, SavedFilter.page == page)
    return list(ctx.session.execute(stmt.order_by(SavedFilter.name)).scalars())


def save_filter(ctx: Ctx[Settings], staff_id: str, page: str, name: str, query: str) -> SavedFilter:
    """Save `query` under `name` for the person; the same name again replaces its filter."""
    name = name.strip()
    mine = {f.name: f for f in saved_filters(ctx, staff_id, page)}
    errors = domain.saved_filter_errors(name, query, len(mine) - (1 if name in mine else 0))
    if errors:
        raise UnprocessableEntity("the filter is not valid", errors)
    if name in mine:
        mine[name].query = query
        return mine[name]
    saved = SavedFilter(
        id=new_id("F", ctx.now), staff_id=staff_id, page=page, name=name, query=query, created_at=ctx.now
    )
    ctx.session.add(saved)
    return saved


def delete_filter(ctx: Ctx[Settings], staff_id: str, filter_id: str) -> str:
    """Delete one of the person's own saved filters (anyone else's: not found); its name."""
    saved = ctx.session.get(SavedFilter, filter_id)
    if saved is None or saved.staff_id != staff_id:
        raise NotFound("no such saved filter")
    ctx.session.delete(saved)
    return saved.name
