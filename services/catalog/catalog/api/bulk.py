"""Bulk delist and relist (e.g. the end of a season): each product in its own transaction, each
result reported."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from ecom_common.auth import requires
from ecom_common.errors import DomainError, Problem
from ecom_common.http import Blueprint, BodySchema, current_db
from ecom_common.idempotency import idempotent

from .. import domain
from .context import load_own, make_ctx
from .schemas import BULK_MAX, DelistIn
from .transitions import delist_target, do_delist, do_relist

blp = Blueprint("bulk", __name__)


class BulkIds(BodySchema):
    product_ids = fields.List(fields.Str(), required=True, validate=validate.Length(min=1, max=BULK_MAX))


class BulkDelistIn(BulkIds, DelistIn):
    pass


class BulkItem(Schema):
    product_id = fields.Str()
    ok = fields.Bool()
    status = fields.Str(allow_none=True, metadata={"description": "the product's status afterwards"})
    error = fields.Dict(allow_none=True, metadata={"description": "{status, title, detail} when not ok"})


class BulkOut(Schema):
    succeeded = fields.Int()
    failed = fields.Int()
    results = fields.List(fields.Nested(BulkItem))


def _bulk(product_ids: list[str], act) -> dict:
    """Each product in its own transaction; each result reported, a failure stops nothing."""
    results = []
    for pid in dict.fromkeys(product_ids):
        try:
            with current_db().uow() as uow:
                ctx = make_ctx(uow.session)
                status = act(ctx, uow, pid)
                uow.commit()
            results.append({"product_id": pid, "ok": True, "status": status, "error": None})
        except Problem as exc:
            results.append(
                {
                    "product_id": pid,
                    "ok": False,
                    "status": None,
                    "error": {"status": exc.status, "title": exc.title, "detail": exc.detail},
                }
            )
        except DomainError as exc:
            problem = exc.problem(exc.detail, exc.errors)
            results.append(
                {
                    "product_id": pid,
                    "ok": False,
                    "status": None,
                    "error": {
                        "status": problem.status,
                        "title": problem.title,
                        "detail": problem.detail,
                        "errors": exc.errors,
                    },
                }
            )
    ok = sum(1 for r in results if r["ok"])
    return {"succeeded": ok, "failed": len(results) - ok, "results": results}


@blp.route("/products/bulk/delist", methods=["POST"])
@requires("ops", "reviewer", "admin")
@idempotent()
@blp.arguments(BulkDelistIn)
@blp.response(200, BulkOut)
def bulk_delist(body):
    """Delist many products at once (e.g. end of season); each result reported."""

    def act(ctx, uow, pid):
        product = delist_target(ctx, pid)
        do_delist(ctx, uow, product, body["reason"], body.get("note"))
        return domain.DELISTED

    return _bulk(body["product_ids"], act)


@blp.route("/products/bulk/relist", methods=["POST"])
@requires("ops")
@idempotent()
@blp.arguments(BulkIds)
@blp.response(200, BulkOut)
def bulk_relist(body):
    """Relist many delisted products at once; violations are refused per item (409)."""

    def act(ctx, uow, pid):
        do_relist(ctx, uow, load_own(ctx, pid))
        return domain.LISTED

    return _bulk(body["product_ids"], act)
