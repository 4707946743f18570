"""Cases: a buyer opens a return, exchange or refund-only case on their order; cs approves or
rejects it, the buyer ships the goods back, the warehouse receives them, cs retries a failed refund."""

from __future__ import annotations

import sqlalchemy as sa
from marshmallow import Schema, fields, validate
from sqlalchemy.orm import selectinload

from ecom_common.auth import list_filter, requires
from ecom_common.clock import aware, iso
from ecom_common.csvexport import Column, column_rows, csv_response, headers
from ecom_common.http import Blueprint
from ecom_common.idempotency import idempotent
from ecom_common.pagination import PageArgs, paginate
from ecom_common.schemas import MAX_INT, BodySchema, TimelineOut, UtcTime, page_of
from ecom_common.usecase import use_case

from .. import decisions, domain, operations
from ..domain import CaseType, Reason, Status
from ..models import Case
from ..settings import Settings
from .context import STAFF, buyers_order
from .schemas import FreeText, SlaOut, timeline_json

blp = Blueprint("cases", __name__)


class LineIn(BodySchema):
    sku_code = fields.Str(required=True, validate=validate.Length(min=1, max=64))
    quantity = fields.Int(required=True, validate=validate.Range(min=1, max=MAX_INT))
    new_sku_code = fields.Str(
        validate=validate.Length(min=1, max=64), metadata={"description": "exchange only: the spec to ship instead"}
    )


class EvidenceIn(BodySchema):
    images = fields.List(fields.Url(), load_default=list, validate=validate.Length(max=9))
    text = FreeText(load_default="", validate=validate.Length(max=2000))


class CaseIn(BodySchema):
    order_id = fields.Str(required=True, validate=validate.Length(min=1, max=40))
    type = fields.Str(required=True, validate=validate.OneOf(CaseType.ALL))
    reason = fields.Str(required=True, validate=validate.OneOf(Reason.ALL))
    lines = fields.List(
        fields.Nested(LineIn),
        load_default=list,
        metadata={"description": "omit for a refund-only before shipment (whole order)"},
    )
    amount_fen = fields.Int(
        validate=validate.Range(min=0, max=MAX_INT), metadata={"description": "default: what was paid for the lines"}
    )
    evidence = fields.Nested(EvidenceIn, load_default=lambda: {"images": [], "text": ""})


class LineOut(Schema):
    sku_code = fields.Str()
    quantity = fields.Int()
    unit_price_fen = fields.Int()
    amount_fen = fields.Int()
    new_sku_code = fields.Str(allow_none=True)


class CaseOut(Schema):
    case_id = fields.Str()
    order_id = fields.Str()
    shop_id = fields.Str()
    buyer_id = fields.Str()
    type = fields.Str()
    reason = fields.Str()
    status = fields.Str()
    amount_fen = fields.Int()
    lines = fields.List(fields.Nested(LineOut))
    evidence = fields.Dict()
    before_shipment = fields.Bool()
    shipping_paid_by = fields.Str(allow_none=True)
    return_address = fields.Str(allow_none=True)
    return_shipment = fields.Dict(allow_none=True)
    inspection = fields.Dict(allow_none=True)
    refund = fields.Dict()
    replacement = fields.Dict(allow_none=True)
    sla = fields.Nested(SlaOut)
    allowed_actions = fields.List(fields.Str())
    approval = fields.Dict(allow_none=True)
    timeline = fields.List(fields.Nested(TimelineOut))
    created_at = UtcTime()
    updated_at = UtcTime()
    closed_at = UtcTime(allow_none=True)


CasePage = page_of(CaseOut)


class CaseArgs(PageArgs):
    format = fields.Str(
        load_default="json",
        validate=validate.OneOf(["json", "csv"]),
        metadata={"description": "`csv`: every matching case as a streamed CSV (UTF-8 with BOM); limit/cursor ignored"},
    )
    status = fields.Str(validate=validate.OneOf(Status.ALL))
    type = fields.Str(validate=validate.OneOf(CaseType.ALL))
    order_id = fields.Str()
    shop_id = fields.Str(metadata={"description": "platform roles only; shop staff see their own shop"})
    overdue = fields.Bool(metadata={"description": "only open cases whose SLA clock has run out"})
    approval_stage = fields.Str(
        validate=validate.OneOf(decisions.STAGES),
        metadata={"description": "awaiting_second_approval: refunds waiting for ops' or admin's second approval"},
    )


class ReasonIn(BodySchema):
    reason = FreeText(load_default=None, validate=validate.Length(max=1000))


class RejectIn(BodySchema):
    reason = FreeText(required=True, validate=validate.Length(min=1, max=1000))


class ReturnShipmentIn(BodySchema):
    carrier = fields.Str(required=True, validate=validate.Length(min=1, max=64))
    tracking_no = fields.Str(required=True, validate=validate.Length(min=4, max=64))


class ReceiveIn(BodySchema):
    resellable = fields.Bool(required=True)
    note = FreeText(load_default=None, validate=validate.Length(max=1000))


def case_json(case: Case, now, detail: bool = True) -> dict:
    running = case.status not in Status.FINAL
    sla = {"kind": case.sla_kind if running else None, **domain.time_left(case.sla_due_at if running else None, now)}
    out = {
        "case_id": case.id,
        "order_id": case.order_id,
        "shop_id": case.shop_id,
        "buyer_id": case.buyer_id,
        "type": case.case_type,
        "reason": case.reason,
        "status": case.status,
        "amount_fen": case.amount_fen,
        "lines": [
            {
                "sku_code": l.sku_code,
                "quantity": l.quantity,
                "unit_price_fen": l.unit_price_fen,
                "amount_fen": l.amount_fen,
                "new_sku_code": l.new_sku_code,
            }
            for l in case.lines
        ],
        "evidence": case.evidence or {},
        "before_shipment": case.before_shipment,
        "shipping_paid_by": case.shipping_paid_by,
        "return_address": case.return_address,
        "return_shipment": (
            {"carrier": case.return_carrier, "tracking_no": case.return_tracking_no}
            if case.return_tracking_no
            else None
        ),
        "inspection": (
            {"resellable": case.resellable, "note": case.inspection_note, "received_at": iso(aware(case.received_at))}
            if case.received_at
            else None
        ),
        "refund": {
            "attempts": case.refund_attempts,
            "failed": case.refund_failed,
            "last_error": case.last_refund_error,
            "refund_id": case.refund_id,
        },
        "replacement": (
            {"shipment_id": case.reship_shipment_id, "tracking_no": case.reship_tracking_no}
            if case.reship_shipment_id
            else None
        ),
        "sla": sla,
        "allowed_actions": domain.allowed_actions(case.case_type, case.status),
        "approval": (
            {
                "stage": case.approval_stage,
                "first_approved_by": case.first_approved_by,
                "first_approved_at": iso(aware(case.first_approved_at)),
                "second_approved_by": case.second_approved_by,
            }
            if case.approval_stage
            else None
        ),
        "created_at": case.created_at,
        "updated_at": case.updated_at,
        "closed_at": case.closed_at,
    }
    if detail:
        out["timeline"] = timeline_json(case.timeline, lambda t: t.reason)
    return out


def case_out(ctx: operations.AftersalesCtx, case: Case) -> dict:
    """The case as it is now in this unit of work (its timeline re-read after the change)."""
    ctx.session.expire_all()
    return case_json(ctx.session.get(Case, case.id), ctx.now)


@blp.route("/cases", methods=["POST"])
@requires("buyer")
@idempotent()
@blp.arguments(CaseIn)
@blp.response(201, CaseOut)
def create_case(args):
    """Open a return, exchange or refund-only case on one of your orders.

    Checked against the order fetched from orders: delivered or completed (refund-only also before
    shipment, which cancels the order), lines and quantities bought, amount not above what was paid
    and not claimed by another case, "no_reason" within AFTERSALES_NO_REASON_DAYS of delivery.
    A refund-only below AFTERSALES_AUTO_APPROVE_FEN is approved at once."""
    order = buyers_order(args["order_id"])  # before any write: orders down -> 503, nothing written
    lines = tuple(domain.RequestedLine(l["sku_code"], l["quantity"], l.get("new_sku_code")) for l in args["lines"])
    request = domain.CaseRequest(args["type"], args["reason"], lines, args.get("amount_fen"))
    with use_case(Settings) as ctx:
        case = operations.request_case(ctx, order, request=request, evidence=args["evidence"])
        return case_json(case, ctx.now)


# `?format=csv`: the case list's own filters, every row (ecom_common.csvexport). No personal data
# beyond the buyer's id: a return address stays in the case's detail.
CASE_COLUMNS = [
    *(Column(k, lambda c, k=k: c[k]) for k in ("case_id", "order_id", "shop_id", "buyer_id", "type", "reason")),
    *(Column(k, lambda c, k=k: c[k]) for k in ("status", "amount_fen", "before_shipment", "shipping_paid_by")),
    Column("lines", lambda c: "; ".join(f"{l['sku_code']} x{l['quantity']}" for l in c["lines"])),
    Column("sla_kind", lambda c: c["sla"].get("kind")),
    Column("sla_due_at", lambda c: c["sla"].get("due_at")),
    Column("overdue", lambda c: c["sla"].get("overdue")),
    Column("refund_id", lambda c: c["refund"]["refund_id"]),
    Column("refund_failed", lambda c: c["refund"]["failed"]),
    Column("approval_stage", lambda c: (c["approval"] or {}).get("stage")),
    *(Column(k, lambda c, k=k: c[k]) for k in ("created_at", "updated_at", "closed_at")),
]
CSV_BATCH = 500
PAGE_OR_CSV = {
    "description": "the page as JSON; `format=csv`: every matching case as a streamed CSV attachment",
    "content": {
        "application/json": {"schema": {"$ref": "#/components/schemas/CasePage"}},
        "text/csv": {"schema": {"type": "string"}},
    },
}


def cases_csv(stmt: sa.Select) -> object:
    """Every case `stmt` selects, newest first, streamed: read CSV_BATCH at a time (their lines
    loaded per batch) by a unit of work the body opens and closes."""

    def rows():
        with use_case(Settings) as ctx:
            newest = stmt.options(selectinload(Case.lines)).order_by(Case.created_at.desc(), Case.id.desc())
            for case in ctx.session.execute(newest.execution_options(yield_per=CSV_BATCH)).scalars():
                yield case_json(case, ctx.now, detail=False)

    return csv_response("cases.csv", headers(CASE_COLUMNS), column_rows(CASE_COLUMNS, rows()))


@blp.route("/cases", methods=["GET"])
@requires("buyer", *STAFF)
@blp.arguments(CaseArgs, location="query")
@blp.response(200, CasePage)
@blp.doc(responses={"200": PAGE_OR_CSV})
def list_cases(args):
    """Cases, newest first. Buyers see their own, shop staff their shop's; `overdue=true` lists open
    cases whose SLA (response, refund or replacement) has run out. `format=csv` streams every
    matching case as a CSV file."""
    with use_case(Settings) as ctx:
        now = ctx.now
        stmt = sa.select(Case).where(list_filter(Case.shop_id, Case.buyer_id, args.get("shop_id")))
        filters = (("status", Case.status), ("type", Case.case_type), ("order_id", Case.order_id))
        for key, col in (*filters, ("approval_stage", Case.approval_stage)):
            if args.get(key):
                stmt = stmt.where(col == args[key])
        if args.get("overdue") is True:
            stmt = stmt.where(Case.sla_due_at < now, Case.status.not_in(tuple(Status.FINAL)))
        elif args.get("overdue") is False:
            stmt = stmt.where(sa.or_(Case.sla_due_at.is_(None), Case.sla_due_at >= now))
        if args["format"] == "csv":
            return cases_csv(stmt)
        return paginate(
            ctx.session,
            stmt,
            [Case.created_at, Case.id],
            args["limit"],
            args.get("cursor"),
            to_item=lambda c: case_json(c, now, detail=False),
        )


@blp.route("/cases/<case_id>", methods=["GET"])
@requires("buyer", *STAFF)
@blp.response(200, CaseOut)
def get_case(case_id):
    """One case with its timeline and SLA clock."""
    with use_case(Settings) as ctx:
        return case_json(operations.case_of(ctx, case_id), ctx.now)


@blp.route("/cases/<case_id>/approve", methods=["POST"])
@requires("cs", "ops", "admin")
@blp.arguments(ReasonIn)
@blp.response(200, CaseOut)
def approve_case(args, case_id):
    """cs approves: a return or exchange waits for the buyer's parcel (the shop's return address is
    on the case); a refund-only goes to refunding at once. A refund above AFTERSALES_SECOND_APPROVAL_FEN
    is approved twice: the first approval (cs, admin) leaves it `requested`, stage
    `awaiting_second_approval`; the second must come from ops or admin of the shop (else 403) and another
    person than the first (else 409). ops give only second approvals."""
    with use_case(Settings) as ctx:
        return case_out(ctx, operations.approve(ctx, case_id, reason=args.get("reason")))


@blp.route("/cases/<case_id>/reject", methods=["POST"])
@requires("cs", "admin")
@blp.arguments(RejectIn)
@blp.response(200, CaseOut)
def reject_case(args, case_id):
    """cs rejects with a reason; the units and amount become claimable again."""
    with use_case(Settings) as ctx:
        return case_out(ctx, operations.reject(ctx, case_id, reason=args["reason"]))


@blp.route("/cases/<case_id>/return-shipment", methods=["POST"])
@requires("buyer")
@blp.arguments(ReturnShipmentIn)
@blp.response(200, CaseOut)
def return_shipment(args, case_id):
    """The buyer sent the goods back: carrier and tracking number (approved -> awaiting_return)."""
    with use_case(Settings) as ctx:
        case = operations.ship_return(ctx, case_id, carrier=args["carrier"], tracking_no=args["tracking_no"])
        return case_out(ctx, case)


@blp.route("/cases/<case_id>/receive", methods=["POST"])
@requires("warehouse", "admin")
@blp.arguments(ReceiveIn)
@blp.response(200, CaseOut)
def receive_return(args, case_id):
    """The warehouse inspected the returned goods (ReturnReceived{resellable}); a return goes on to
    refunding (RefundApproved), an exchange asks logistics for the replacement (ReshipRequested)."""
    with use_case(Settings) as ctx:
        case = operations.receive(ctx, case_id, resellable=args["resellable"], note=args.get("note"))
        return case_out(ctx, case)


@blp.route("/cases/<case_id>/retry-refund", methods=["POST"])
@requires("cs", "admin")
@blp.arguments(ReasonIn)
@blp.response(200, CaseOut)
def retry_refund(args, case_id):
    """Ask billing again after it reported RefundFailed (409 unless the last refund failed)."""
    with use_case(Settings) as ctx:
        case = operations.start_refund(ctx, case_id, reason=args.get("reason") or "refund retried", retry=True)
        return case_out(ctx, case)
