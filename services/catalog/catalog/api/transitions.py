"""A product's lifecycle: submit, withdraw, approve, reject, delist, relist, delete and restore, each
one use case of operations.py (one transition of domain.py's state machine), and the timeline that
records every transition and edit."""

from __future__ import annotations

import sqlalchemy as sa
from marshmallow import fields, validate

from ecom_common import schemas
from ecom_common.auth import not_found_unless, requires
from ecom_common.http import Blueprint
from ecom_common.idempotency import idempotent
from ecom_common.pagination import PageArgs, paginate
from ecom_common.schemas import BodySchema
from ecom_common.usecase import use_case

from .. import operations
from ..models import TimelineEntry
from ..settings import Settings
from .context import sees_review_history, view_for
from .schemas import DelistIn, ProductOut

blp = Blueprint("transitions", __name__)


class ReasonIn(BodySchema):
    reason = fields.Str(required=True, validate=validate.Length(min=1, max=500))


class OptionalReasonIn(BodySchema):
    reason = fields.Str(validate=validate.Length(max=500))


class ProductTimelineEntry(schemas.TimelineOut):
    """The timeline entry every service returns, plus catalog's `entry_id` (its order) and `by_roles`."""

    entry_id = fields.Int(attribute="id")
    by = fields.Str(attribute="actor")
    by_roles = fields.Str(attribute="actor_roles", metadata={"description": "the roles `by` acted with"})
    status = fields.Str(attribute="to_status", metadata={"description": "the status after the entry"})
    details = fields.Dict(allow_none=True, metadata={"description": "what changed (edits), findings etc."})


ProductTimelinePage = schemas.page_of(ProductTimelineEntry)


@blp.route("/products/<product_id>/submit", methods=["POST"])
@requires("ops")
@idempotent()
@blp.response(200, ProductOut)
def submit_product(product_id):
    """draft | rejected | delisted -> pending_review (the scan runs again; due in 24 h)."""
    with use_case(Settings) as ctx:
        return view_for(ctx, operations.submit(ctx, product_id))


@blp.route("/products/<product_id>/withdraw", methods=["POST"])
@requires("ops")
@idempotent()
@blp.response(200, ProductOut)
def withdraw_product(product_id):
    """pending_review -> draft, to change it before a reviewer looks."""
    with use_case(Settings) as ctx:
        return view_for(ctx, operations.withdraw(ctx, product_id))


@blp.route("/products/<product_id>/approve", methods=["POST"])
@requires("reviewer")
@idempotent()
@blp.arguments(OptionalReasonIn, required=False)
@blp.response(200, ProductOut)
def approve_product(body, product_id):
    """Approve: pending_review -> listed.

    Publishes catalog.ProductApproved and catalog.ProductListed (with SKUs and prices; inventory
    creates stock items from it). The scan runs again with today's word list (422)."""
    with use_case(Settings) as ctx:
        return view_for(ctx, operations.approve(ctx, product_id, reason=(body or {}).get("reason")))


@blp.route("/products/<product_id>/reject", methods=["POST"])
@requires("reviewer")
@idempotent()
@blp.arguments(ReasonIn)
@blp.response(200, ProductOut)
def reject_product(body, product_id):
    """pending_review -> rejected, with the reason the merchant must fix."""
    with use_case(Settings) as ctx:
        return view_for(ctx, operations.reject(ctx, product_id, reason=body["reason"]))


@blp.route("/products/<product_id>/delist", methods=["POST"])
@requires("ops", "reviewer", "admin")
@idempotent()
@blp.arguments(DelistIn)
@blp.response(200, ProductOut)
def delist_product(body, product_id):
    """Delist: listed -> delisted.

    reason seasonal / out_of_stock (relist directly) or violation (must be reviewed again).
    Reviewers and admins may take down any shop's product."""
    with use_case(Settings) as ctx:
        return view_for(ctx, operations.delist(ctx, product_id, reason=body["reason"], note=body.get("note")))


@blp.route("/products/<product_id>/relist", methods=["POST"])
@requires("ops")
@idempotent()
@blp.response(200, ProductOut)
def relist_product(product_id):
    """delisted -> listed, unless delisted for a violation or edited since (then: submit)."""
    with use_case(Settings) as ctx:
        return view_for(ctx, operations.relist(ctx, product_id))


@blp.route("/products/<product_id>", methods=["DELETE"])
@requires("ops")
@blp.arguments(OptionalReasonIn, required=False)
@blp.response(200, ProductOut)
def delete_product(body, product_id):
    """any -> deleted; restorable for 30 days (CATALOG_RESTORE_DAYS), then purged by a job."""
    with use_case(Settings) as ctx:
        return view_for(ctx, operations.delete(ctx, product_id, reason=(body or {}).get("reason")))


@blp.route("/products/<product_id>/restore", methods=["POST"])
@requires("ops")
@idempotent()
@blp.response(200, ProductOut)
def restore_product(product_id):
    """deleted -> back where it was (a product that was on sale comes back delisted)."""
    with use_case(Settings) as ctx:
        return view_for(ctx, operations.restore(ctx, product_id))


@blp.route("/products/<product_id>/timeline", methods=["GET"])
@requires()
@blp.arguments(PageArgs, location="query")
@blp.response(200, ProductTimelinePage)
def product_timeline(args, product_id):
    """Every transition and edit, oldest first: who, when, why. Only the product's shop staff and
    platform roles (admin, reviewer, service); anyone else gets 404."""
    with use_case(Settings) as ctx:
        not_found_unless(sees_review_history(operations.get_product(ctx, product_id)), "product")
        stmt = sa.select(TimelineEntry).where(TimelineEntry.product_id == product_id)
        return paginate(ctx.session, stmt, [TimelineEntry.id], args["limit"], args.get("cursor"), descending=False)
