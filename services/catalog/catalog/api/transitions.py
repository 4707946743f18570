"""A product's lifecycle: submit, withdraw, approve, reject, delist, relist, delete and restore, each
one transition of domain.py's state machine (the `do_*` steps are shared with bulk.py), and the
timeline that records every transition and edit."""

from __future__ import annotations

import sqlalchemy as sa
from marshmallow import Schema, fields, validate

from ecom_common.auth import not_found_unless, requires
from ecom_common.http import Blueprint, BodySchema, PageArgs, UtcTime, current_db, paginate
from ecom_common.idempotency import idempotent

from .. import domain, operations
from ..models import Product, TimelineEntry
from .context import Ctx, load_own, load_visible, make_ctx, scan_or_422, sees_review_history, view_for
from .schemas import DelistIn, ProductOut

blp = Blueprint("transitions", __name__)


class ReasonIn(BodySchema):
    reason = fields.Str(required=True, validate=validate.Length(min=1, max=500))


class OptionalReasonIn(BodySchema):
    reason = fields.Str(validate=validate.Length(max=500))


class TimelineOut(Schema):
    """The timeline entry every service returns, plus catalog's `entry_id` (its order) and `by_roles`."""

    entry_id = fields.Int(attribute="id")
    at = UtcTime()
    by = fields.Str(attribute="actor")
    by_roles = fields.Str(attribute="actor_roles", metadata={"description": "the roles `by` acted with"})
    action = fields.Str()
    from_status = fields.Str(allow_none=True)
    status = fields.Str(attribute="to_status", metadata={"description": "the status after the entry"})
    reason = fields.Str(allow_none=True)
    details = fields.Dict(allow_none=True, metadata={"description": "what changed (edits), findings etc."})


class TimelinePage(Schema):
    items = fields.List(fields.Nested(TimelineOut))
    next_cursor = fields.Str(allow_none=True)


def do_submit(ctx: Ctx, uow, product: Product) -> None:
    t = domain.submit(operations.state_of(product))
    scan_or_422(ctx, operations.product_draft(product))
    operations.apply(
        ctx.session,
        product,
        t,
        ctx.now,
        ctx.actor,
        ctx.principal.roles,
        {
            "submitted_at": ctx.now,
            "review_due_at": domain.review_due(ctx.now, ctx.rules),
            "reviewed_at": None,
            "reviewed_by": None,
        },
    )
    uow.record(operations.ev_submitted(product))


def do_withdraw(ctx: Ctx, uow, product: Product) -> None:
    t = domain.withdraw(operations.state_of(product))
    operations.apply(
        ctx.session, product, t, ctx.now, ctx.actor, ctx.principal.roles, {"submitted_at": None, "review_due_at": None}
    )


def do_approve(ctx: Ctx, uow, product: Product, reason: str | None) -> None:
    t = domain.approve(operations.state_of(product), reason)
    # The word list may have grown since submission: nothing that breaks the law goes on sale.
    scan_or_422(ctx, operations.product_draft(product))
    operations.apply(
        ctx.session,
        product,
        t,
        ctx.now,
        ctx.actor,
        ctx.principal.roles,
        {
            "reviewed_at": ctx.now,
            "reviewed_by": ctx.actor,
            "listed_at": ctx.now,
            "reject_reason": None,
        },
    )
    uow.record(operations.ev_approved(product, ctx.actor))
    uow.record(operations.ev_listed(product))


def do_reject(ctx: Ctx, uow, product: Product, reason: str) -> None:
    t = domain.reject(operations.state_of(product), reason)
    operations.apply(
        ctx.session,
        product,
        t,
        ctx.now,
        ctx.actor,
        ctx.principal.roles,
        {
            "reviewed_at": ctx.now,
            "reviewed_by": ctx.actor,
            "reject_reason": reason,
        },
    )
    uow.record(operations.ev_rejected(product, reason))


def do_delist(ctx: Ctx, uow, product: Product, reason: str, note: str | None) -> None:
    t = domain.delist(operations.state_of(product), reason, note)
    codes = [s.sku_code for s in product.skus]
    operations.apply(ctx.session, product, t, ctx.now, ctx.actor, ctx.principal.roles)
    uow.record(operations.ev_delisted(product, reason, codes))


def do_relist(ctx: Ctx, uow, product: Product) -> None:
    t = domain.relist(operations.state_of(product))
    operations.apply(ctx.session, product, t, ctx.now, ctx.actor, ctx.principal.roles, {"listed_at": ctx.now})
    uow.record(operations.ev_listed(product))


def do_delete(ctx: Ctx, uow, product: Product, reason: str | None) -> None:
    t = domain.delete(operations.state_of(product), ctx.now, reason)
    operations.apply(ctx.session, product, t, ctx.now, ctx.actor, ctx.principal.roles)
    uow.record(operations.ev_deleted(product))


def do_restore(ctx: Ctx, uow, product: Product) -> None:
    t = domain.restore(operations.state_of(product), ctx.now, ctx.rules)
    operations.apply(ctx.session, product, t, ctx.now, ctx.actor, ctx.principal.roles)
    uow.record(operations.ev_restored(product))


def _transition(product_id: str, do, own: bool = True, **kwargs) -> dict:
    with current_db().uow() as uow:
        ctx = make_ctx(uow.session)
        product = load_own(ctx, product_id) if own else load_visible(ctx, product_id)
        do(ctx, uow, product, **kwargs)
        uow.commit()
        return view_for(ctx, product)


@blp.route("/products/<product_id>/submit", methods=["POST"])
@requires("ops")
@idempotent()
@blp.response(200, ProductOut)
def submit_product(product_id):
    """draft | rejected | delisted -> pending_review (the scan runs again; due in 24 h)."""
    return _transition(product_id, do_submit)


@blp.route("/products/<product_id>/withdraw", methods=["POST"])
@requires("ops")
@idempotent()
@blp.response(200, ProductOut)
def withdraw_product(product_id):
    """pending_review -> draft, to change it before a reviewer looks."""
    return _transition(product_id, do_withdraw)


@blp.route("/products/<product_id>/approve", methods=["POST"])
@requires("reviewer")
@idempotent()
@blp.arguments(OptionalReasonIn, required=False)
@blp.response(200, ProductOut)
def approve_product(body, product_id):
    """Approve: pending_review -> listed.

    Publishes catalog.ProductApproved and catalog.ProductListed (with SKUs and prices; inventory
    creates stock items from it). The scan runs again with today's word list (422)."""
    return _transition(product_id, do_approve, own=False, reason=(body or {}).get("reason"))


@blp.route("/products/<product_id>/reject", methods=["POST"])
@requires("reviewer")
@idempotent()
@blp.arguments(ReasonIn)
@blp.response(200, ProductOut)
def reject_product(body, product_id):
    """pending_review -> rejected, with the reason the merchant must fix."""
    return _transition(product_id, do_reject, own=False, reason=body["reason"])


def delist_target(ctx: Ctx, product_id: str) -> Product:
    """The product this caller may delist: platform staff take products down in any shop;
    merchant ops only their own."""
    # Platform staff take products down in any shop; merchant ops only their own.
    if ctx.principal.has("reviewer", "admin"):
        return load_visible(ctx, product_id)
    return load_own(ctx, product_id)


@blp.route("/products/<product_id>/delist", methods=["POST"])
@requires("ops", "reviewer", "admin")
@idempotent()
@blp.arguments(DelistIn)
@blp.response(200, ProductOut)
def delist_product(body, product_id):
    """Delist: listed -> delisted.

    reason seasonal / out_of_stock (relist directly) or violation (must be reviewed again).
    Reviewers and admins may take down any shop's product."""
    with current_db().uow() as uow:
        ctx = make_ctx(uow.session)
        product = delist_target(ctx, product_id)
        do_delist(ctx, uow, product, body["reason"], body.get("note"))
        uow.commit()
        return view_for(ctx, product)


@blp.route("/products/<product_id>/relist", methods=["POST"])
@requires("ops")
@idempotent()
@blp.response(200, ProductOut)
def relist_product(product_id):
    """delisted -> listed, unless delisted for a violation or edited since (then: submit)."""
    return _transition(product_id, do_relist)


@blp.route("/products/<product_id>", methods=["DELETE"])
@requires("ops")
@blp.arguments(OptionalReasonIn, required=False)
@blp.response(200, ProductOut)
def delete_product(body, product_id):
    """any -> deleted; restorable for 30 days (CATALOG_RESTORE_DAYS), then purged by a job."""
    return _transition(product_id, do_delete, reason=(body or {}).get("reason"))


@blp.route("/products/<product_id>/restore", methods=["POST"])
@requires("ops")
@idempotent()
@blp.response(200, ProductOut)
def restore_product(product_id):
    """deleted -> back where it was (a product that was on sale comes back delisted)."""
    return _transition(product_id, do_restore)


@blp.route("/products/<product_id>/timeline", methods=["GET"])
@requires()
@blp.arguments(PageArgs, location="query")
@blp.response(200, TimelinePage)
def product_timeline(args, product_id):
    """Every transition and edit, oldest first: who, when, why. Only the product's shop staff and
    platform roles (admin, reviewer, service); anyone else gets 404."""
    with current_db().Session() as session:
        ctx = make_ctx(session)
        not_found_unless(sees_review_history(ctx.principal, load_visible(ctx, product_id)), "product")
        stmt = sa.select(TimelineEntry).where(TimelineEntry.product_id == product_id)
        return paginate(session, stmt, [TimelineEntry.id], args["limit"], args.get("cursor"), descending=False)
