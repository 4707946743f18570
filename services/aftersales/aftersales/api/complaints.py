"""Complaints: a buyer complains about an order in one of three tiers, each with its clock; cs
responds and resolves."""

from __future__ import annotations

import sqlalchemy as sa
from marshmallow import Schema, fields, validate

from ecom_common.auth import list_filter, requires
from ecom_common.clock import aware
from ecom_common.http import Blueprint
from ecom_common.idempotency import idempotent
from ecom_common.pagination import PageArgs, paginate
from ecom_common.schemas import MAX_INT, BodySchema, TimelineOut, UtcTime, page_of
from ecom_common.usecase import use_case

from .. import complaint_solutions, complaint_tiers, domain, operations
from ..domain import ComplaintStatus, Tier
from ..gateways import orders
from ..models import Complaint
from ..settings import Settings
from .context import STAFF, buyers_order
from .schemas import FreeText, SlaOut, timeline_json

blp = Blueprint("complaints", __name__)


class ComplaintIn(BodySchema):
    order_id = fields.Str(required=True, validate=validate.Length(min=1, max=40))
    tier = fields.Str(required=True, validate=validate.OneOf(Tier.ALL))
    text = FreeText(required=True, validate=validate.Length(min=1, max=5000))


class ComplaintActionIn(BodySchema):
    text = FreeText(required=True, validate=validate.Length(min=1, max=5000))


class ResolveIn(ComplaintActionIn):
    refund_fen = fields.Int(
        validate=validate.Range(min=0, max=MAX_INT),
        metadata={"description": "serious/crisis only: refunded through a refund-only case (capped by what is left)"},
    )
    coupon_fen = fields.Int(
        validate=validate.Range(min=0, max=MAX_INT),
        metadata={"description": "serious/crisis only: a compensation coupon marketing issues to the buyer"},
    )


class EscalationOut(Schema):
    kind = fields.Str()
    at = UtcTime()
    reason = fields.Str()


class ComplaintOut(Schema):
    complaint_id = fields.Str()
    order_id = fields.Str()
    shop_id = fields.Str()
    buyer_id = fields.Str()
    tier = fields.Str()
    text = fields.Str()
    status = fields.Str()
    milestone = fields.Str()
    sla = fields.Nested(SlaOut)
    met_at = UtcTime(allow_none=True)
    response = fields.Str(allow_none=True)
    resolution = fields.Str(allow_none=True)
    refund_case_id = fields.Str(allow_none=True)
    refund_fen = fields.Int(allow_none=True)
    coupon_fen = fields.Int(allow_none=True)
    escalations = fields.List(fields.Nested(EscalationOut))
    timeline = fields.List(fields.Nested(TimelineOut))
    created_at = UtcTime()
    updated_at = UtcTime()


ComplaintPage = page_of(ComplaintOut)


class ComplaintArgs(PageArgs):
    tier = fields.Str(validate=validate.OneOf(Tier.ALL))
    status = fields.Str(validate=validate.OneOf(ComplaintStatus.ALL))
    order_id = fields.Str()
    shop_id = fields.Str()
    overdue = fields.Bool()


def complaint_json(c: Complaint, now, detail: bool = True) -> dict:
    running = c.status != ComplaintStatus.RESOLVED and c.met_at is None
    clock = (
        domain.time_left(c.due_at, now)
        if running
        else {"due_at": aware(c.due_at), "seconds_left": None, "overdue": False}
    )
    out = {
        "complaint_id": c.id,
        "order_id": c.order_id,
        "shop_id": c.shop_id,
        "buyer_id": c.buyer_id,
        "tier": c.tier,
        "text": c.text,
        "status": c.status,
        "milestone": c.milestone,
        "sla": {"kind": c.milestone, **clock},
        "met_at": c.met_at,
        "response": c.response,
        "resolution": c.resolution,
        "refund_case_id": c.refund_case_id,
        "refund_fen": c.refund_fen,
        "coupon_fen": c.coupon_fen,
        "escalations": [{"kind": e.kind, "at": e.at, "reason": e.reason} for e in c.escalations],
        "created_at": c.created_at,
        "updated_at": c.updated_at,
    }
    if detail:
        out["timeline"] = timeline_json(c.timeline, lambda t: t.note)
    return out


def complaint_out(ctx: operations.AftersalesCtx, c: Complaint) -> dict:
    """The complaint as it is now in this unit of work (timeline and escalations re-read)."""
    ctx.session.expire_all()
    return complaint_json(ctx.session.get(Complaint, c.id), ctx.now)


@blp.route("/complaints", methods=["POST"])
@requires("buyer")
@idempotent()
@blp.arguments(ComplaintIn)
@blp.response(201, ComplaintOut)
def create_complaint(args):
    """A complaint about one of your orders. The tier sets the clock: general -> first response in
    2 h, serious -> a solution in 4 h, crisis -> escalated to admin at once and a statement in 24 h."""
    order = buyers_order(args["order_id"])
    with use_case(Settings) as ctx:
        return complaint_out(ctx, operations.open_complaint(ctx, order, tier=args["tier"], text=args["text"]))


@blp.route("/complaints", methods=["GET"])
@requires("buyer", *STAFF)
@blp.arguments(ComplaintArgs, location="query")
@blp.response(200, ComplaintPage)
def list_complaints(args):
    with use_case(Settings) as ctx:
        now = ctx.now
        stmt = sa.select(Complaint).where(list_filter(Complaint.shop_id, Complaint.buyer_id, args.get("shop_id")))
        for key, col in (("tier", Complaint.tier), ("status", Complaint.status), ("order_id", Complaint.order_id)):
            if args.get(key):
                stmt = stmt.where(col == args[key])
        if args.get("overdue"):
            stmt = stmt.where(
                Complaint.met_at.is_(None), Complaint.status != ComplaintStatus.RESOLVED, Complaint.due_at < now
            )
        return paginate(
            ctx.session,
            stmt,
            [Complaint.created_at, Complaint.id],
            args["limit"],
            args.get("cursor"),
            to_item=lambda c: complaint_json(c, now, detail=False),
        )


@blp.route("/complaints/<complaint_id>", methods=["GET"])
@requires("buyer", *STAFF)
@blp.response(200, ComplaintOut)
def get_complaint(complaint_id):
    with use_case(Settings) as ctx:
        return complaint_json(operations.complaint_of(ctx, complaint_id), ctx.now)


@blp.route("/complaints/<complaint_id>/respond", methods=["POST"])
@requires("cs", "admin")
@blp.arguments(ComplaintActionIn)
@blp.response(200, ComplaintOut)
def respond_complaint(args, complaint_id):
    """A response (a crisis's statement): stops the general and crisis clocks."""
    with use_case(Settings) as ctx:
        return complaint_out(ctx, operations.act_on_complaint(ctx, complaint_id, action="respond", text=args["text"]))


@blp.route("/complaints/<complaint_id>/resolve", methods=["POST"])
@requires("cs", "admin")
@idempotent()
@blp.arguments(ResolveIn)
@blp.response(200, ComplaintOut)
def resolve_complaint(args, complaint_id):
    """The solution: stops every tier's clock; the complaint is resolved.

    A serious or crisis complaint's solution may refund `refund_fen` (a refund-only case of the order,
    capped by what it paid less what its cases claim or refunded: 422 above) and carry a `coupon_fen`
    compensation coupon (asked of marketing, once per complaint); all on the timeline, all or nothing."""
    order = None
    if args.get("refund_fen"):
        with use_case(Settings) as ctx:
            order_id = operations.complaint_of(ctx, complaint_id).order_id
        order = orders().get_order(order_id)  # outside any transaction; 503 when orders is away
    solution = {"refund_fen": args.get("refund_fen"), "coupon_fen": args.get("coupon_fen")}
    with use_case(Settings) as ctx:
        c = complaint_solutions.resolve(ctx, complaint_id, text=args["text"], solution=solution, order=order)
        return complaint_out(ctx, c)


class TierIn(BodySchema):
    tier = fields.Str(required=True, validate=validate.OneOf(Tier.ALL))
    reason = FreeText(required=True, validate=validate.Length(min=1, max=1000))


@blp.route("/complaints/<complaint_id>/tier", methods=["POST"])
@requires("cs", "admin")
@blp.arguments(TierIn)
@blp.response(200, ComplaintOut)
def reclassify_complaint(args, complaint_id):
    """cs sets or changes the tier with a reason (the new tier's clock runs from now; crisis escalates)."""
    with use_case(Settings) as ctx:
        return complaint_out(
            ctx, complaint_tiers.reclassify(ctx, complaint_id, tier=args["tier"], reason=args["reason"])
        )
