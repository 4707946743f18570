"""The warehouse at volume: bulk dispatch and the batch waybill print. Each shipment in its own
transaction and answered on its own (done, or refused with the reason): one bad item never blocks
the rest, and a repeated item is answered as done, not refused."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Response, request
from marshmallow import Schema, fields, validate

from ecom_common.auth import requires
from ecom_common.errors import DomainError, Problem, UnprocessableEntity
from ecom_common.http import Blueprint
from ecom_common.idempotency import idempotent
from ecom_common.schemas import BodySchema
from ecom_common.usecase import use_case

from .. import operations
from ..settings import Settings
from .dispatch import DispatchIn, tracking_no_taken
from .waybill import PAGES

blp = Blueprint("bulk", __name__)

BULK_MAX = 200


def one_by_one(shipment_ids: list[str], act: Callable[[Any, str], dict[str, Any]]) -> list[dict[str, Any]]:
    """`act(ctx, shipment_id)` for each shipment in its own unit of work: `{shipment_id, outcome:
    done, ...what act answers}` or `{shipment_id, outcome: refused, error: {status, title, detail,
    errors}}`."""
    results = []
    for i, sid in enumerate(shipment_ids):
        try:
            with tracking_no_taken(), use_case(Settings) as ctx:
                results.append({"shipment_id": sid, "outcome": "done", **act(ctx, i)})
        except (Problem, DomainError) as exc:
            problem = exc if isinstance(exc, Problem) else exc.problem(exc.detail, exc.errors)
            error = {"status": problem.status, "title": problem.title, "detail": problem.detail}
            results.append({"shipment_id": sid, "outcome": "refused", "error": {**error, "errors": exc.errors}})
    return results


def summary(results: list[dict[str, Any]]) -> dict[str, Any]:
    done = sum(1 for r in results if r["outcome"] == "done")
    return {"done": done, "refused": len(results) - done, "results": results}


class BulkDispatchItem(DispatchIn):
    shipment_id = fields.Str(required=True, validate=validate.Length(min=1, max=40))


class BulkDispatchIn(BodySchema):
    items = fields.List(fields.Nested(BulkDispatchItem), required=True, validate=validate.Length(min=1, max=BULK_MAX))


class ItemError(Schema):
    status = fields.Int()
    title = fields.Str()
    detail = fields.Str()
    errors = fields.Dict(allow_none=True)


class DispatchResult(Schema):
    shipment_id = fields.Str()
    outcome = fields.Str(metadata={"description": "done | refused"})
    already = fields.Bool(metadata={"description": "done by an earlier request with the same number"})
    status = fields.Str()
    carrier = fields.Str()
    tracking_no = fields.Str()
    error = fields.Nested(ItemError)


class BulkDispatchOut(Schema):
    done = fields.Int()
    refused = fields.Int()
    results = fields.List(fields.Nested(DispatchResult))


@blp.route("/shipments/bulk/dispatch", methods=["POST"])
@requires("warehouse")
@idempotent()
@blp.arguments(BulkDispatchIn)
@blp.response(200, BulkDispatchOut)
def bulk_dispatch(body):
    """Dispatch up to 200 shipments, each with its tracking number (and carrier, to override the
    choice): each on its own; a shipment already dispatched with the same number is `done` with
    `already: true`, anything a single dispatch refuses is `refused` with the problem."""
    items = body["items"]

    def act(ctx, i: int) -> dict[str, Any]:
        item = items[i]
        d = operations.dispatch_once(
            ctx, item["shipment_id"], carrier=item.get("carrier"), tracking_no=item["tracking_no"]
        )
        s = d.shipment
        return {"already": d.already, "status": s.status, "carrier": s.carrier, "tracking_no": s.tracking_no}

    return summary(one_by_one([item["shipment_id"] for item in items], act))


class PrintIn(BodySchema):
    shipment_ids = fields.List(
        fields.Str(validate=validate.Length(min=1, max=40)),
        required=True,
        validate=validate.Length(min=1, max=BULK_MAX),
    )


class PrintResult(Schema):
    shipment_id = fields.Str()
    outcome = fields.Str(metadata={"description": "done | refused"})
    printed_at = fields.Str(metadata={"description": "the first printing (a reprint keeps it)"})
    reprint = fields.Bool()
    waybill = fields.Dict(metadata={"description": "as GET /shipments/{id}/waybill"})
    error = fields.Nested(ItemError)


class PrintOut(Schema):
    done = fields.Int()
    refused = fields.Int()
    results = fields.List(fields.Nested(PrintResult))


@blp.route("/waybills/print", methods=["POST"])
@requires("warehouse", "ops", "admin")
@blp.arguments(PrintIn)
@blp.response(200, PrintOut)
@blp.doc(
    responses={200: {"description": "JSON by default; `?format=html` or `Accept: text/html`: one printable document"}}
)
def print_waybills(body):
    """Print up to 200 waybills as one document: each shipment's first printing time is recorded
    (`printed_at`; a reprint keeps it), each answered on its own (a cancelled or unknown shipment is
    refused and listed, not printed)."""
    fmt = request.args.get("format")
    if fmt not in (None, "html", "json"):
        raise UnprocessableEntity("format must be json or html", {"format": ["Must be one of: json, html."]})
    ids = list(dict.fromkeys(body["shipment_ids"]))

    def act(ctx, i: int) -> dict[str, Any]:
        bill = operations.print_waybill(ctx, ids[i])
        return {"printed_at": bill["printed_at"], "reprint": bill["reprint"], "waybill": bill}

    results = one_by_one(ids, act)
    accept = request.accept_mimetypes
    if fmt == "html" or (fmt is None and accept["text/html"] > accept["application/json"]):
        bills = [r["waybill"] for r in results if r["outcome"] == "done"]
        refused = [r for r in results if r["outcome"] == "refused"]
        return Response(PAGES.get_template("waybills.html").render(bills=bills, refused=refused), mimetype="text/html")
    return summary(results)
