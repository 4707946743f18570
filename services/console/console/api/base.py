"""What every page shares: the signed-in person (session cookie -> account -> short-lived JWT),
CSRF on every POST, the unit of work of the console's own tables, and calls to the services with
the person's token whose refusals become a clear message on the page."""

from __future__ import annotations

import contextvars
import hmac
import secrets
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

from flask import Blueprint, abort, flash, g, request
from flask_babel import gettext as _

from ecom_common.errors import Problem
from ecom_common.http import current_config, current_db
from ecom_common.settings import settings_of
from ecom_common.usecase import SYSTEM, Actor, Ctx

from .. import domain, operations
from ..gateways import Answer, Call, services
from ..settings import Settings

blp = Blueprint("console", __name__)

SESSION_COOKIE = "console_session"
PRE_CSRF_COOKIE = "console_csrf"  # the sign-in form's CSRF token, before there is a session
PUBLIC = {"console.signin", "console.signin_post", "console.vendor", "console.locale"}


def settings() -> Settings:
    return settings_of(current_config(), Settings)


@contextmanager
def console_case(actor: Actor | None = None) -> Iterator[Ctx[Settings]]:
    """A unit of work over the console's own tables, committed when the block ends cleanly."""
    db = current_db()
    staff = g.get("staff")
    who = actor or (Actor(staff.name, staff.role_list) if staff is not None else SYSTEM)
    with db.uow() as uow:
        yield Ctx(uow=uow, actor=who, settings=settings_of(db.config, Settings))
        uow.commit()


@blp.before_app_request
def load_person() -> Any:
    from flask import redirect, url_for

    g.staff = None
    if request.endpoint in ("healthz", "readyz", "prometheus", "static") or request.path == "/openapi.json":
        return None
    with console_case() as ctx:
        found = operations.session_of(ctx, request.cookies.get(SESSION_COOKIE))
        if found is not None:
            row, staff = found
            ctx.session.expunge(staff)
            g.staff, g.csrf_token = staff, row.csrf_token
            g.token = operations.platform_token(ctx, staff, secret=current_config().jwt_secret)
    if g.staff is None:
        g.csrf_token = request.cookies.get(PRE_CSRF_COOKIE) or secrets.token_urlsafe(32)
        g.new_pre_csrf = PRE_CSRF_COOKIE not in request.cookies
        if request.endpoint not in PUBLIC:
            if request.headers.get("HX-Request"):
                return "", 401, {"HX-Redirect": url_for("console.signin")}
            return redirect(
                url_for("console.signin", next=request.full_path.rstrip("?") if request.method == "GET" else None)
            )
    if request.method == "POST":
        sent = request.form.get("csrf_token") or request.headers.get("X-CSRF-Token") or ""
        if not hmac.compare_digest(sent.encode(), g.csrf_token.encode()):
            abort(400, description=_("The form has expired; reload the page and try again."))
    return None


def roles() -> tuple[str, ...]:
    staff = g.get("staff")
    return staff.role_list if staff is not None else ()


def can(action: str) -> bool:
    return domain.can(roles(), action)


def api(peer: str, method: str, path: str, *, params: dict | None = None, json: Any = None) -> Answer:
    """Call a service as the signed-in person."""
    return services().call(g.token, peer, Call(method, path, params, json))


def get_or_none(peer: str, path: str, **params: Any) -> Any:
    """A read for a page part: its body, or None when the service refuses or is away."""
    try:
        answer = api(peer, "GET", path, params=params or None)
    except Problem:
        return None
    return answer.body if answer.ok else None


def get_many(reads: Mapping[str, tuple[str, str, dict]]) -> dict[str, Any]:
    """Several reads of one page at once, each `name: (peer, path, params)` -> its body, or None when
    the service refuses or is away: a page waits for its slowest service, not for their sum."""
    token, gateway = g.token, services()

    def one(peer: str, path: str, params: dict) -> Any:
        try:
            answer = gateway.call(token, peer, Call("GET", path, params or None))
        except Problem:
            return None
        return answer.body if answer.ok else None

    if not reads:
        return {}
    with ThreadPoolExecutor(max_workers=min(len(reads), 8)) as pool:
        # each call keeps the request's context (its correlation id travels to the service)
        futures = {name: pool.submit(contextvars.copy_context().run, one, *read) for name, read in reads.items()}
        return {name: future.result() for name, future in futures.items()}


def refusal(answer: Answer) -> str:
    """A service's refusal in words a person understands."""
    messages = {
        401: _("Your sign-in has expired; sign in again."),
        403: _("Not allowed: your role or shop may not do this."),
        404: _("Not found, or not in your shop."),
        409: _("Not possible in its current state."),
        422: _("The service did not accept this."),
        429: _("Too many requests; try again shortly."),
    }
    head = messages.get(answer.status, _("The service could not do this."))
    return f"{head} ({answer.status}: {answer.detail})"


def act(peer: str, path: str, body: Any = None, done: str | None = None) -> bool:
    """POST an action as the person; flash the outcome. True when the service accepted it."""
    try:
        answer = api(peer, "POST", path, json=body)
    except Problem as exc:
        flash(_("The service is unavailable: %(detail)s", detail=exc.detail), "error")
        return False
    if answer.ok:
        if done:
            flash(done, "success")
        return True
    flash(refusal(answer), "error")
    return False
