"""Saved filters: a person names the filter of a list page, applies it later with one click, deletes
it. Kept in the console's own table, per person (nobody else sees them); the filter is the page's
query string, so applying one is opening the page with it."""

from __future__ import annotations

from flask import abort, flash, g, redirect, request, url_for
from flask_babel import gettext as _

from ecom_common.errors import Problem

from .. import domain, operations
from .base import blp, console_case

# page -> (its endpoint, the fields its filter is made of)
PAGES = {"orders": ("console.orders", (*domain.ORDER_FILTERS, "q", "by"))}


def my_filters(page: str) -> list[dict]:
    """The signed-in person's saved filters of `page`: id, name and the link that applies it."""
    endpoint, fields = PAGES[page]
    with console_case() as ctx:
        rows = operations.saved_filters(ctx, g.staff.id, page)
        return [
            {"id": f.id, "name": f.name, "url": url_for(endpoint, **domain.filter_params(f.query, fields))}
            for f in rows
        ]


@blp.post("/saved-filters/<page>")
def saved_filter_save(page: str):
    if page not in PAGES:
        abort(404)
    endpoint, fields = PAGES[page]
    query = domain.filter_query(request.form, fields)
    name = request.form.get("name", "")
    try:
        with console_case() as ctx:
            operations.save_filter(ctx, g.staff.id, page, name, query)
    except Problem as exc:
        # the domain's messages are English msgids (translations/zh: "Saved filters")
        errors = "; ".join(_(m) for v in exc.errors.values() for m in v) or exc.detail
        flash(_("The filter was not saved: %(errors)s", errors=errors), "error")
    else:
        flash(_("Filter “%(name)s” saved.", name=name.strip()), "success")
    return redirect(url_for(endpoint, **domain.filter_params(query, fields)))


@blp.post("/saved-filters/<page>/<filter_id>/delete")
def saved_filter_delete(page: str, filter_id: str):
    if page not in PAGES:
        abort(404)
    try:
        with console_case() as ctx:
            name = operations.delete_filter(ctx, g.staff.id, filter_id)
    except Problem as exc:
        flash(_("Not changed: %(detail)s", detail=exc.detail), "error")
    else:
        flash(_("Filter “%(name)s” deleted.", name=name), "success")
    return redirect(url_for(PAGES[page][0]))
