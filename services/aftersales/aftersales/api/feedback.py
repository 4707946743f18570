"""Feedback: the buyer's satisfaction with a finished case, and the per-shop report."""

from __future__ import annotations

import sqlalchemy as sa
from marshmallow import Schema, fields, validate

from ecom_common.auth import requires, shop_for_read
from ecom_common.http import Blueprint
from ecom_common.idempotency import idempotent
from ecom_common.schemas import BodySchema, UtcTime
from ecom_common.usecase import use_case

from .. import operations
from ..models import Feedback
from ..settings import Settings
from .schemas import FreeText

blp = Blueprint("feedback", __name__)


class FeedbackIn(BodySchema):
    score = fields.Int(required=True, validate=validate.Range(min=1, max=5))
    comment = FreeText(load_default=None, validate=validate.Length(max=2000))


class FeedbackOut(Schema):
    case_id = fields.Str()
    shop_id = fields.Str()
    score = fields.Int()
    comment = fields.Str(allow_none=True)
    created_at = UtcTime()


class FeedbackReportArgs(Schema):
    shop_id = fields.Str(metadata={"description": "required for platform roles"})


class FeedbackReportOut(Schema):
    shop_id = fields.Str()
    count = fields.Int()
    average_score = fields.Float(allow_none=True)
    distribution = fields.Dict(keys=fields.Str(), values=fields.Int())
    satisfied_share = fields.Float(allow_none=True)
    recent = fields.List(fields.Nested(FeedbackOut))


@blp.route("/cases/<case_id>/feedback", methods=["POST"])
@requires("buyer")
@idempotent()
@blp.arguments(FeedbackIn)
@blp.response(201, FeedbackOut)
def give_feedback(args, case_id):
    """Satisfaction (1-5) and a comment once the case is over (closed or rejected); once per case."""
    with use_case(Settings) as ctx:
        return operations.give_feedback(ctx, case_id, score=args["score"], comment=args.get("comment"))


@blp.route("/feedback/report", methods=["GET"])
@requires("cs", "ops", "admin", "finance")
@blp.arguments(FeedbackReportArgs, location="query")
@blp.response(200, FeedbackReportOut)
def feedback_report(args):
    """Satisfaction per shop: count, average, distribution of scores, share of 4-5, latest comments."""
    shop_id = shop_for_read(args.get("shop_id"))
    with use_case(Settings) as ctx:
        rows = ctx.session.execute(
            sa.select(Feedback.score, sa.func.count()).where(Feedback.shop_id == shop_id).group_by(Feedback.score)
        ).all()
        recent = (
            ctx.session.execute(
                sa.select(Feedback)
                .where(Feedback.shop_id == shop_id)
                .order_by(Feedback.created_at.desc(), Feedback.case_id.desc())
                .limit(10)
            )
            .scalars()
            .all()
        )
    dist = {str(s): 0 for s in range(1, 6)}
    for score, n in rows:
        dist[str(score)] = n
    count = sum(dist.values())
    total = sum(int(s) * n for s, n in dist.items())
    return {
        "shop_id": shop_id,
        "count": count,
        "average_score": round(total / count, 2) if count else None,
        "distribution": dist,
        "satisfied_share": round((dist["4"] + dist["5"]) / count, 4) if count else None,
        "recent": recent,
    }
