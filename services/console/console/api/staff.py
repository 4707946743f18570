"""管理: staff accounts and their roles (admin only; the operations refuse anyone else)."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from ecom_common.errors import Problem

from .. import domain, operations
from .base import blp, can, console_case


@blp.get("/staff")
def staff():
    if not can("staff.manage"):
        abort(403)
    with console_case() as ctx:
        accounts = operations.list_staff(ctx)
        return render_template("staff.html", accounts=accounts, roles=domain.ROLES, created=None)


@blp.post("/staff")
def staff_create():
    form = request.form
    try:
        with console_case() as ctx:
            account, password = operations.create_staff(
                ctx,
                form.get("name", "").strip(),
                roles=form.getlist("roles"),
                shop_id=form.get("shop_id"),
                password=form.get("password") or None,
            )
            accounts = operations.list_staff(ctx)
            created = {"name": account.name, "password": None if form.get("password") else password}
            return render_template("staff.html", accounts=accounts, roles=domain.ROLES, created=created), 201
    except Problem as exc:
        errors = "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.errors.items()) or exc.detail
        flash(_("The account was not created: %(errors)s", errors=errors), "error")
        return redirect(url_for("console.staff"))


@blp.post("/staff/<staff_id>/disable")
def staff_disable(staff_id: str):
    return _set_disabled(staff_id, True)


@blp.post("/staff/<staff_id>/enable")
def staff_enable(staff_id: str):
    return _set_disabled(staff_id, False)


def _set_disabled(staff_id: str, disabled: bool):
    try:
        with console_case() as ctx:
            account = operations.set_disabled(ctx, staff_id, disabled=disabled)
            name = account.name
    except Problem as exc:
        flash(_("Not changed: %(detail)s", detail=exc.detail), "error")
        return redirect(url_for("console.staff"))
    flash(_("%(name)s is disabled.", name=name) if disabled else _("%(name)s is enabled.", name=name), "success")
    return redirect(url_for("console.staff"))
