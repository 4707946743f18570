"""Bulk delist and relist (e.g. the end of a season): each product in its own transaction, each
result reported."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from marshmallow import Schema, fields, validate

from ecom_common.auth import requires
from ecom_common.errors import DomainError, Problem
from ecom_common.http import Blueprint
from ecom_common.idempotency import idempotent
from ecom_common.schemas import BodySchema
from ecom_common.usecase import Ctx, use_case

from .. import operations
from ..settings import Settings
from .schemas import BULK_MAX, DelistIn

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


def _bulk(product_ids: list[str], act: Callable[[Ctx[Settings], str], Any]) -> dict[str, Any]:
    """Each product in its own transaction; each result reported, a failure stops nothing."""
    results = []
    for pid in dict.fromkeys(product_ids):
        try:
            with use_case(Settings) as ctx:
                status = act(ctx, pid).status
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
    return _bulk(
        body["product_ids"],
        lambda ctx, pid: operations.delist(ctx, pid, reason=body["reason"], note=body.get("note")),
    )


@blp.route("/products/bulk/relist", methods=["POST"])
@requires("ops")
@idempotent()
@blp.arguments(BulkIds)
@blp.response(200, BulkOut)
def bulk_relist(body):
    """Relist many delisted products at once; violations are refused per item (409)."""
    return _bulk(body["product_ids"], operations.relist)
