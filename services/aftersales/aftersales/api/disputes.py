"""Disputes: the buyer appeals a rejected case once; a platform reviewer arbitrates; the record
(争议处理记录) is read by the buyer, the shop's staff, finance and admin."""

from __future__ import annotations

import sqlalchemy as sa
from marshmallow import Schema, fields, validate

from ecom_common.auth import list_filter, requires
from ecom_common.http import Blueprint
from ecom_common.idempotency import idempotent
from ecom_common.pagination import PageArgs, paginate
from ecom_common.schemas import BodySchema, TimelineOut, UtcTime, page_of
from ecom_common.usecase import use_case

from .. import disputes
from ..models import Dispute
from ..settings import Settings
from .schemas import FreeText, image_urls, timeline_json

blp = Blueprint("disputes", __name__)

READERS = ("buyer", "cs", "ops", "finance", "admin", "reviewer", "service")
ARBITERS = ("reviewer", "admin")


class AppealEvidenceIn(BodySchema):
    images = image_urls()
    text = FreeText(load_default="", validate=validate.Length(max=2000))


class AppealIn(BodySchema):
    reason = FreeText(required=True, validate=validate.Length(min=1, max=2000))
    evidence = fields.Nested(AppealEvidenceIn, load_default=lambda: {"images": [], "text": ""})


class DecisionIn(BodySchema):
    outcome = fields.Str(required=True, validate=validate.OneOf(sorted(disputes.OUTCOMES)))
    reason = FreeText(required=True, validate=validate.Length(min=1, max=2000))


class DisputeOut(Schema):
    dispute_id = fields.Str(attribute="id")
    case_id = fields.Str()
    order_id = fields.Str()
    shop_id = fields.Str()
    buyer_id = fields.Str()
    reason = fields.Str()
    evidence = fields.Dict()
    status = fields.Str()
    decided_by = fields.Str(allow_none=True)
    decision_reason = fields.Str(allow_none=True)
    created_at = UtcTime()
    decided_at = UtcTime(allow_none=True)
    record = fields.Method("_record", metadata={"description": "争议处理记录: every step, who, when, why"})

    def _record(self, d):
        return TimelineOut(many=True).dump(timeline_json(d.timeline, lambda t: t.reason))


DisputePage = page_of(DisputeOut)


class DisputeArgs(PageArgs):
    status = fields.Str(validate=validate.OneOf([disputes.OPEN, disputes.UPHELD, disputes.OVERTURNED]))
    case_id = fields.Str()
    shop_id = fields.Str(metadata={"description": "platform roles only; shop staff see their own shop"})


@blp.route("/cases/<case_id>/appeal", methods=["POST"])
@requires("buyer")
@idempotent()
@blp.arguments(AppealIn)
@blp.response(201, DisputeOut)
def appeal_case(args, case_id):
    """Appeal a rejected case, once, with a reason and evidence."""
    with use_case(Settings) as ctx:
        return disputes.appeal(ctx, case_id, reason=args["reason"], evidence=args["evidence"])


@blp.route("/disputes/<dispute_id>/decide", methods=["POST"])
@requires(*ARBITERS)
@blp.arguments(DecisionIn)
@blp.response(200, DisputeOut)
def decide_dispute(args, dispute_id):
    """The platform's arbitration: uphold the rejection or overturn it, with a reason."""
    with use_case(Settings) as ctx:
        return disputes.decide(ctx, dispute_id, outcome=args["outcome"], reason=args["reason"])


@blp.route("/disputes", methods=["GET"])
@requires(*READERS)
@blp.arguments(DisputeArgs, location="query")
@blp.response(200, DisputePage)
def list_disputes(args):
    """Disputes with their record, newest first: a buyer their own, shop staff their shop's, finance,
    reviewers and admin every shop's."""
    stmt = sa.select(Dispute).where(list_filter(Dispute.shop_id, Dispute.buyer_id, args.get("shop_id")))
    for key, col in (("status", Dispute.status), ("case_id", Dispute.case_id)):
        if args.get(key):
            stmt = stmt.where(col == args[key])
    with use_case(Settings) as ctx:
        return paginate(ctx.session, stmt, [Dispute.created_at, Dispute.id], args["limit"], args.get("cursor"))
