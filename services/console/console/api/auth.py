"""Sign in and out, the language, and the vendored front-end files (htmx, installed by make install)."""

from __future__ import annotations

from pathlib import Path

from flask import abort, flash, g, make_response, redirect, render_template, request, send_from_directory, url_for
from flask_babel import gettext as _

from ecom_common.errors import Problem

from .. import operations
from ..assets import assets_dir
from .base import PRE_CSRF_COOKIE, SESSION_COOKIE, blp, console_case, settings

LOCALES = ("zh_CN", "en")


def _safe_next(target: str | None) -> str:
    # Only a path of this site: never an absolute URL (an open redirect).
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return url_for("console.dashboard")


@blp.get("/signin")
def signin():
    if g.staff is not None:
        return redirect(url_for("console.dashboard"))
    resp = make_response(render_template("signin.html", next=request.args.get("next", "")))
    if g.get("new_pre_csrf"):
        resp.set_cookie(
            PRE_CSRF_COOKIE, g.csrf_token, httponly=True, samesite="Strict", secure=settings().secure_cookies
        )
    return resp


@blp.post("/signin")
def signin_post():
    name = request.form.get("name", "").strip()
    password = request.form.get("password", "")
    try:
        with console_case() as ctx:
            signed = operations.sign_in(ctx, name, password, address=request.remote_addr or "?")
    except Problem as exc:
        if exc.status == 401:
            # the failure row is committed: console_case rolled back, so record it on its own
            with console_case() as ctx:
                operations.record_failure(ctx, name, address=request.remote_addr or "?")
            message = _("Wrong name or password.")
        elif exc.status == 429:
            message = _("Too many failed sign-ins. Wait a few minutes and try again.")
        else:
            raise
        return render_template("signin.html", next=request.form.get("next", ""), error=message), exc.status
    resp = redirect(_safe_next(request.form.get("next")))
    resp.set_cookie(
        SESSION_COOKIE,
        signed.token,
        max_age=int(settings().session_hours * 3600),
        httponly=True,
        samesite="Lax",
        secure=settings().secure_cookies,
    )
    resp.delete_cookie(PRE_CSRF_COOKIE)
    return resp


@blp.post("/signout")
def signout():
    with console_case() as ctx:
        operations.sign_out(ctx, request.cookies.get(SESSION_COOKIE))
    resp = redirect(url_for("console.signin"))
    resp.delete_cookie(SESSION_COOKIE)
    flash(_("Signed out."), "success")
    return resp


@blp.get("/locale/<code>")
def locale(code: str):
    if code not in LOCALES:
        abort(404)
    resp = redirect(_safe_next(request.args.get("next")))
    resp.set_cookie("console_lang", code, max_age=365 * 86400, httponly=True, samesite="Lax")
    return resp


@blp.get("/vendor/<path:name>")
def vendor(name: str):
    """htmx, from where `make install` put it (the npm registry's htmx.org, pinned in the Makefile)."""
    directory: Path = assets_dir(settings())
    if name != "htmx.min.js" or not (directory / name).is_file():
        abort(404)
    return send_from_directory(directory, name, max_age=3600)
