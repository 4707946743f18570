"""Bulk review of held orders (a promotion day's queue): each order in its own transaction, each
answered on its own (done, or refused with the reason); one bad item never blocks the rest."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from ecom_common.auth import requires
from ecom_common.errors import DomainError, Problem
from ecom_common.http import Blueprint
from ecom_common.idempotency import idempotent
from ecom_common.usecase import use_case

from .. import operations
from ..settings import Settings
from .schemas import BULK_MAX, ReviewIn

blp = Blueprint("orders_bulk", __name__)


class BulkReviewIn(ReviewIn):
    order_ids = fields.List(
        fields.Str(validate=validate.Length(min=1, max=40)),
        required=True,
        validate=validate.Length(min=1, max=BULK_MAX),
        metadata={"description": f"the held orders to decide on, at most {BULK_MAX}; repeats are decided once"},
    )


class BulkItemOut(Schema):
    order_id = fields.Str()
    ok = fields.Bool(metadata={"description": "true: done (now or by an earlier identical request)"})
    already = fields.Bool(metadata={"description": "it had already been decided this way; nothing was sent again"})
    status = fields.Str(allow_none=True, metadata={"description": "the order's status afterwards"})
    error = fields.Dict(allow_none=True, metadata={"description": "refused: {status, title, detail, errors}"})


class BulkReviewOut(Schema):
    succeeded = fields.Int()
    failed = fields.Int()
    results = fields.List(fields.Nested(BulkItemOut))


@blp.route("/orders/review/bulk", methods=["POST"])
@requires("ops", "admin")
@idempotent()
@blp.arguments(BulkReviewIn)
@blp.response(200, BulkReviewOut)
def bulk_review(body):
    """Approve or reject many held orders at once; per order: done, or refused with the reason (404
    not found or another shop's, 409 no longer held). Asking again answers the same. A rejection
    needs a reason (422, nothing decided)."""
    results = [
        _review_item(order_id, body["decision"], body.get("reason")) for order_id in dict.fromkeys(body["order_ids"])
    ]
    ok = sum(1 for r in results if r["ok"])
    return {"succeeded": ok, "failed": len(results) - ok, "results": results}


def _review_item(order_id: str, decision: str, reason: str | None) -> dict:
    try:
        with use_case(Settings) as ctx:
            order, already = operations.review_one(ctx, order_id, decision=decision, reason=reason)
            status = order.status
        return {"order_id": order_id, "ok": True, "already": already, "status": status, "error": None}
    except Problem as exc:
        error = {"status": exc.status, "title": exc.title, "detail": exc.detail, "errors": exc.errors}
    except DomainError as exc:
        problem = exc.problem(exc.detail, exc.errors)
        error = {"status": problem.status, "title": problem.title, "detail": problem.detail, "errors": exc.errors}
    return {"order_id": order_id, "ok": False, "already": False, "status": None, "error": error}
