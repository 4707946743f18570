"""The console: `create_app()` for gunicorn. Server-rendered pages (Flask + Jinja2 with autoescape +
htmx) over the services' public APIs, called with the signed-in person's token.

`ecom migrate` (and so the first `make run`) creates the first admin and prints its one-time
password once (ConsoleServiceDef.migrate)."""

from __future__ import annotations

import hashlib
import hmac
import logging
from pathlib import Path
from typing import Any

from flask import Flask, g, render_template, request
from flask_babel import Babel, get_locale
from flask_babel import gettext as _
from werkzeug.exceptions import HTTPException

from ecom_common.config import Config
from ecom_common.db import Database
from ecom_common.errors import Problem, problem_for_status
from ecom_common.http import problem_response
from ecom_common.service import ServiceDef
from ecom_common.settings import settings_of
from ecom_common.usecase import for_job

from . import domain, handlers, operations, translations
from .api import blp
from .settings import Settings

PACKAGE = Path(__file__).parent
log = logging.getLogger("ecom.console")

# What a page may load: only this site's own files; no page may be framed (clickjacking).
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


class ConsoleServiceDef(ServiceDef):
    def migrate(self, config: Config | None = None) -> None:
        """Migrate, then create the first admin if there is no account yet and print its password
        (once: it is stored only as an argon2 hash)."""
        config = self.config(config)
        super().migrate(config)
        db = Database(config)
        try:
            with for_job(db, Settings) as ctx:
                password = operations.bootstrap_admin(ctx)
                name = ctx.settings.admin_name
        finally:
            db.dispose()
        if password:
            print(f"console: created the admin account {name!r}; its one-time password is: {password}")
            print("console: sign in at http://127.0.0.1:8000 and create your staff accounts (shown only this once)")

    def create_app(self, config: Config | None = None, db: Database | None = None) -> Flask:
        return _console_app(super().create_app(config, db))


SERVICE = ConsoleServiceDef(
    name="console",
    package_dir=PACKAGE,
    blueprints=[],
    subscriptions=handlers.SUBSCRIPTIONS,
    jobs=handlers.JOBS,
    description="The merchant back office in a browser: staff accounts, sign-in, pages over the services' APIs.",
)


def create_app(config: Config | None = None, db: Database | None = None) -> Flask:
    return SERVICE.create_app(config, db)


def _console_app(app: Flask) -> Flask:
    """The HTTP kit's app (health, metrics, problem+json under /api) made a server-rendered console."""
    config = app.config["ECOM"]
    settings = settings_of(config, Settings)
    # Flask("console") (make_app) finds templates/ and static/ in this package.
    app.config.update(
        # Flask's own signed cookie carries only flash messages; the sign-in is console_session.
        SECRET_KEY=hmac.new(config.jwt_secret.encode(), b"console-flash", hashlib.sha256).hexdigest(),
        SESSION_COOKIE_NAME="console_flash",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.secure_cookies,
        BABEL_DEFAULT_LOCALE=settings.default_locale,
        BABEL_TRANSLATION_DIRECTORIES=str(translations.compiled(PACKAGE / "translations")),
    )
    app.jinja_env.autoescape = True  # every template, whatever its name
    Babel(app, locale_selector=lambda: _locale(settings))
    app.register_blueprint(blp)
    app.jinja_env.globals.update(
        nav=_nav,
        get_locale=get_locale,
        can=lambda action: domain.can(_roles(), action),
        yuan=domain.yuan,
        percent=domain.percent,
        status_label=_label,
    )
    app.jinja_env.filters["left"] = _left
    app.jinja_env.filters["span"] = _span
    app.after_request(_headers)
    app.register_error_handler(Problem, _problem_page)
    app.register_error_handler(HTTPException, _http_page)
    app.register_error_handler(Exception, _unexpected_page)
    return app


def _locale(settings: Settings) -> str:
    chosen = request.cookies.get("console_lang")
    return chosen if chosen in ("zh_CN", "en") else settings.default_locale


def _roles() -> tuple[str, ...]:
    staff = g.get("staff")
    return staff.role_list if staff is not None else ()


def _nav() -> list[domain.NavItem]:
    return domain.navigation(_roles())


def _label(code: str) -> str:
    return _(domain.label(code))


def _left(seconds: float | None) -> str:
    """Time left (or overdue) in words, e.g. 剩余 2小时5分 / 超时 10分."""
    if seconds is None:
        return ""
    overdue, hours, minutes = domain.duration_parts(seconds)
    if overdue:
        return _("overdue by %(h)dh %(m)dm", h=hours, m=minutes)
    return _("%(h)dh %(m)dm left", h=hours, m=minutes)


def _span(seconds: float | None) -> str:
    """A duration in words, e.g. 50小时3分."""
    if seconds is None:
        return ""
    _overdue, hours, minutes = domain.duration_parts(seconds)
    return _("%(h)dh %(m)dm", h=hours, m=minutes)


def _headers(resp: Any) -> Any:
    resp.headers["Content-Security-Policy"] = CSP
    resp.headers["X-Frame-Options"] = "DENY"
    resp.headers["Referrer-Policy"] = "same-origin"
    if resp.mimetype in ("text/html", "text/csv"):
        resp.headers["Cache-Control"] = "no-store"
    return resp


def _wants_page() -> bool:
    return not request.path.startswith(("/api/", "/healthz", "/readyz", "/metrics", "/openapi.json"))


def _problem_page(exc: Problem) -> Any:
    if not _wants_page():
        return problem_response(exc)
    return render_template("error.html", status=exc.status, detail=exc.detail), exc.status


def _http_page(exc: HTTPException) -> Any:
    if not _wants_page():
        return problem_response(problem_for_status(exc.code or 500, exc.name, exc.description))
    return render_template("error.html", status=exc.code, detail=exc.description), exc.code or 500


def _unexpected_page(exc: Exception) -> Any:
    log.exception("unhandled error")
    if not _wants_page():
        return problem_response(Problem("an unexpected error occurred; it has been logged"))
    return render_template("error.html", status=500, detail=_("Something went wrong; it has been logged.")), 500


def create_worker(config: Config | None = None, db: Database | None = None):
    return SERVICE.create_worker(config, db)
