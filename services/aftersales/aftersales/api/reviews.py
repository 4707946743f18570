"""Reviews and NPS: a buyer rates a delivered order (stars, text, would-recommend 0-10), the shop
replies, cs follows up 1-2 star reviews (POST /reviews/{id}/follow-ups, service.py); the per-shop
report."""

from __future__ import annotations

import sqlalchemy as sa
from marshmallow import Schema, fields, validate

from ecom_common.auth import list_filter, requires, shop_for_read
from ecom_common.http import Blueprint
from ecom_common.idempotency import idempotent
from ecom_common.pagination import PageArgs, paginate
from ecom_common.schemas import BodySchema, TimelineOut, UtcTime, page_of
from ecom_common.usecase import use_case

from .. import reviews
from ..gateways import catalog
from ..models import Review
from ..settings import Settings
from .context import buyers_order
from .schemas import FreeText, image_urls, timeline_json

blp = Blueprint("reviews", __name__)

READERS = ("buyer", "cs", "ops", "admin", "service")


class ReviewIn(BodySchema):
    order_id = fields.Str(required=True, validate=validate.Length(min=1, max=40))
    stars = fields.Int(required=True, validate=validate.Range(min=1, max=5))
    text = FreeText(load_default=None, validate=validate.Length(max=2000))
    nps = fields.Int(
        load_default=None, validate=validate.Range(min=0, max=10), metadata={"description": "would you recommend, 0-10"}
    )
    images = image_urls()


class ReplyIn(BodySchema):
    text = FreeText(required=True, validate=validate.Length(min=1, max=2000))


class ModerationIn(BodySchema):
    reason = FreeText(required=True, validate=validate.Length(min=1, max=1000))


class TaskOut(Schema):
    owner = fields.Str(allow_none=True)
    milestone = fields.Str()
    due_at = UtcTime()
    met_at = UtcTime(allow_none=True)
    seconds_left = fields.Int(allow_none=True)
    breached = fields.Bool()


class ReviewOut(Schema):
    review_id = fields.Str()
    order_id = fields.Str()
    shop_id = fields.Str()
    buyer_id = fields.Str()
    stars = fields.Int()
    text = fields.Str(allow_none=True)
    nps = fields.Int(allow_none=True)
    images = fields.List(fields.Str())
    risk_keywords = fields.List(fields.Str())
    banned_words = fields.List(fields.Str(), metadata={"description": "catalog's banned words the text uses"})
    status = fields.Str(
        metadata={
            "description": "published; pending (held: banned words, not public); rejected (by the shop, never public)"
        }
    )
    reply = fields.Str(allow_none=True)
    replied_at = UtcTime(allow_none=True)
    follow_up_task = fields.Nested(TaskOut, allow_none=True, metadata={"description": "1-2 stars: cs's task"})
    timeline = fields.List(fields.Nested(TimelineOut))
    created_at = UtcTime()


ReviewPage = page_of(ReviewOut)


class ReviewArgs(PageArgs):
    order_id = fields.Str()
    stars = fields.Int(validate=validate.Range(min=1, max=5))
    status = fields.Str(validate=validate.OneOf(reviews.STATUSES))
    shop_id = fields.Str(metadata={"description": "platform roles only; shop staff see their own shop"})


class ReviewReportArgs(Schema):
    shop_id = fields.Str(metadata={"description": "required for platform roles"})


class ReviewReportOut(Schema):
    shop_id = fields.Str()
    count = fields.Int()
    average_stars = fields.Float(allow_none=True)
    distribution = fields.Dict(keys=fields.Str(), values=fields.Int())
    bad_reviews = fields.Int()
    nps = fields.Float(allow_none=True, metadata={"description": "% of 9-10 minus % of 0-6 among reviews with a score"})
    nps_answers = fields.Int()


def review_json(ctx, review: Review) -> dict:
    return {
        "review_id": review.id,
        **{k: getattr(review, k) for k in ("order_id", "shop_id", "buyer_id", "stars", "text", "nps", "images")},
        "risk_keywords": review.risk_keywords,
        "banned_words": review.banned_words or [],
        "status": review.status,
        "reply": review.reply,
        "replied_at": review.replied_at,
        "follow_up_task": reviews.task_of(ctx, review),
        "timeline": timeline_json(review.timeline, lambda t: t.reason),
        "created_at": review.created_at,
    }


@blp.route("/reviews", methods=["POST"])
@requires("buyer")
@idempotent()
@blp.arguments(ReviewIn)
@blp.response(201, ReviewOut)
def review_order(args):
    """Rate a delivered or completed order once (409 before delivery or the second time).

    The text is scanned for catalog's banned words (its list read over HTTP, kept a few minutes): a
    hit holds the review `pending` (not public) and raises ReviewRiskFlagged."""
    order = buyers_order(args["order_id"])
    lexicon = catalog().banned_words() if args.get("text") else None  # outside the unit of work
    with use_case(Settings) as ctx:
        return review_json(ctx, reviews.review_order(ctx, order, rating=args, lexicon=lexicon))


@blp.route("/reviews", methods=["GET"])
@requires(*READERS)
@blp.arguments(ReviewArgs, location="query")
@blp.response(200, ReviewPage)
def list_reviews(args):
    """Reviews, newest first: a buyer their own, shop staff their shop's."""
    stmt = sa.select(Review).where(list_filter(Review.shop_id, Review.buyer_id, args.get("shop_id")))
    for key, col in (("order_id", Review.order_id), ("stars", Review.stars), ("status", Review.status)):
        if args.get(key) is not None:
            stmt = stmt.where(col == args[key])
    with use_case(Settings) as ctx:
        return paginate(
            ctx.session,
            stmt,
            [Review.created_at, Review.id],
            args["limit"],
            args.get("cursor"),
            to_item=lambda r: review_json(ctx, r),
        )


@blp.route("/reviews/<review_id>/reply", methods=["POST"])
@requires("cs", "ops", "admin")
@blp.arguments(ReplyIn)
@blp.response(200, ReviewOut)
def reply_review(args, review_id):
    """The shop's public reply, once."""
    with use_case(Settings) as ctx:
        return review_json(ctx, reviews.reply(ctx, review_id, text=args["text"]))


@blp.route("/reviews/<review_id>/publish", methods=["POST"])
@requires("cs", "ops", "admin")
@blp.arguments(ModerationIn)
@blp.response(200, ReviewOut)
def publish_review(args, review_id):
    """A review held `pending` (banned words) is published, with the reason (409 unless pending)."""
    with use_case(Settings) as ctx:
        return review_json(ctx, reviews.moderate(ctx, review_id, action="publish", reason=args["reason"]))


@blp.route("/reviews/<review_id>/reject", methods=["POST"])
@requires("cs", "ops", "admin")
@blp.arguments(ModerationIn)
@blp.response(200, ReviewOut)
def reject_review(args, review_id):
    """A review held `pending` is rejected: never public; the reason is on its timeline (409 unless pending)."""
    with use_case(Settings) as ctx:
        return review_json(ctx, reviews.moderate(ctx, review_id, action="reject", reason=args["reason"]))


@blp.route("/reviews/report", methods=["GET"])
@requires("cs", "ops", "admin", "finance")
@blp.arguments(ReviewReportArgs, location="query")
@blp.response(200, ReviewReportOut)
def review_report(args):
    """Per shop: count, average stars, distribution, 差评 (1-2 stars), NPS."""
    shop_id = shop_for_read(args.get("shop_id"))
    with use_case(Settings) as ctx:
        rows = ctx.session.execute(
            sa.select(Review.stars, sa.func.count()).where(Review.shop_id == shop_id).group_by(Review.stars)
        ).all()
        scores = list(
            ctx.session.execute(
                sa.select(Review.nps).where(Review.shop_id == shop_id, Review.nps.is_not(None))
            ).scalars()
        )
    dist = {str(s): 0 for s in range(1, 6)}
    for stars, n in rows:
        dist[str(stars)] = n
    count = sum(dist.values())
    return {
        "shop_id": shop_id,
        "count": count,
        "average_stars": round(sum(int(s) * n for s, n in dist.items()) / count, 2) if count else None,
        "distribution": dist,
        "bad_reviews": dist["1"] + dist["2"],
        "nps": reviews.nps(scores),
        "nps_answers": len(scores),
    }
