"""Reviews and NPS, the service layer: `verb(ctx, ...)` like operations.py.

A buyer rates a delivered or completed order once (1-5 stars, text, 0-10 would-recommend); the text
is scanned for the risk keywords (`AFTERSALES_RISK_KEYWORDS`) and catalog's banned words (a hit holds
the review `pending`, not public; banned_words.py) -> `aftersales.ReviewRiskFlagged`; a
差评 (1-2 stars) opens a follow-up task for cs (service_desk, kind `review`, a 24 h clock); the shop
replies once. A review held `pending` is published or rejected by cs/ops of the shop (`moderate`,
with a reason, guarded by `WHERE status = 'pending'`); each step is on the review's timeline. Nothing
here commits.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from ecom_common.clock import iso
from ecom_common.db import insert_ignore
from ecom_common.errors import ConflictError, IllegalTransition, NotFound
from ecom_common.events import make_event
from ecom_common.ids import new_id
from ecom_common.usecase import Ctx

from . import banned_words, domain, service_desk
from .models import Review, ReviewEvent, ServiceTicket
from .settings import Settings

ReviewCtx = Ctx[Settings]

REVIEWABLE = ("delivered", "completed")
PENDING, PUBLISHED, REJECTED = "pending", "published", "rejected"
STATUSES = (PUBLISHED, PENDING, REJECTED)
MODERATION = {"publish": PUBLISHED, "reject": REJECTED}  # action -> status, from pending only


def risk_words(text: str | None, keywords: tuple[str, ...]) -> list[str]:
    return [k for k in keywords if k and text and k in text]


def review_order(
    ctx: ReviewCtx, order: domain.OrderView, *, rating: dict[str, Any], lexicon: banned_words.Lexicon | None = None
) -> Review:
    """The buyer's review of `order` (`rating`: stars, text, nps, images); 409 when the order is not
    delivered yet or was reviewed already. `lexicon`: catalog's word list (a hit holds it `pending`)."""
    if order.status not in REVIEWABLE:
        raise IllegalTransition("order", order.status, "review")
    now, text = ctx.now, rating.get("text")
    found = risk_words(text, ctx.settings.risk_keywords)
    banned = banned_words.found(text, lexicon or banned_words.Lexicon())
    review_id = new_id("V", now)
    row = dict(
        id=review_id,
        order_id=order.order_id,
        shop_id=order.shop_id,
        buyer_id=order.buyer_id,
        stars=rating["stars"],
        text=text,
        nps=rating.get("nps"),
        images=list(rating.get("images") or []),
        risk_keywords=found,
        banned_words=banned,
        status="pending" if banned else "published",
        created_at=now,
    )
    if insert_ignore(ctx.session, Review.__table__, row) != 1:
        raise ConflictError("this order was reviewed already", {"order_id": ["Reviewed already."]})
    review = ctx.session.get(Review, review_id)
    ctx.record(make_event("aftersales.OrderReviewed", reviewed_payload(review)))
    held = f"banned words: {', '.join(banned)}" if banned else None
    ctx.session.add(
        ReviewEvent(review_id=review_id, action="review", status=review.status, at=now, by=ctx.actor.id, reason=held)
    )
    if found or banned:
        ctx.record(
            make_event(
                "aftersales.ReviewRiskFlagged",
                {
                    "review_id": review_id,
                    "order_id": order.order_id,
                    "shop_id": order.shop_id,
                    "stars": review.stars,
                    "keywords": found + [w for w in banned if w not in found],
                    "banned_words": banned,
                },
            )
        )
    if review.stars <= 2:
        service_desk.open_review_task(ctx, review)
    ctx.session.flush()
    ctx.session.expire(review, ["timeline"])
    return review


def reviewed_payload(review: Review) -> dict[str, Any]:
    """aftersales.OrderReviewed: the scores for analytics' NPS, no text and nothing about the buyer."""
    return {
        "review_id": review.id,
        "order_id": review.order_id,
        "shop_id": review.shop_id,
        "stars": review.stars,
        "nps": review.nps,
        "at": iso(review.created_at),
    }


def review_of(ctx: ReviewCtx, review_id: str) -> Review:
    """The review as the caller may see it (another shop's or buyer's: 404)."""
    review = ctx.session.get(Review, review_id)
    if review is None:
        raise NotFound("review not found")
    ctx.require_visible(review.shop_id, review.buyer_id, "review")
    return review


def moderate(ctx: ReviewCtx, review_id: str, *, action: str, reason: str) -> Review:
    """A held review (`pending`: banned words) is published or rejected (never public) by the shop,
    with a reason on its timeline; 409 unless it is pending (decided already, or never held)."""
    review = review_of(ctx, review_id)
    status = MODERATION[action]
    done = ctx.session.execute(
        sa.update(Review)
        .where(Review.id == review_id, Review.status == PENDING)
        .values(status=status)
        .execution_options(synchronize_session=False)
    ).rowcount
    if done != 1:
        current = ctx.session.execute(sa.select(Review.status).where(Review.id == review_id)).scalar_one()
        raise IllegalTransition("review", current, action)
    ctx.session.add(
        ReviewEvent(review_id=review_id, action=action, status=status, at=ctx.now, by=ctx.actor.id, reason=reason)
    )
    ctx.session.flush()
    ctx.session.expire(review)
    return review_of(ctx, review_id)


def reply(ctx: ReviewCtx, review_id: str, *, text: str) -> Review:
    """The shop's one public reply (409 the second time)."""
    review = ctx.session.get(Review, review_id)
    if review is None:
        raise NotFound("review not found")
    ctx.require_visible(review.shop_id, None, "review")
    done = ctx.session.execute(
        sa.update(Review)
        .where(Review.id == review_id, Review.reply.is_(None))
        .values(reply=text, replied_by=ctx.actor.id, replied_at=ctx.now)
        .execution_options(synchronize_session=False)
    ).rowcount
    if done != 1:
        raise ConflictError("the shop replied to this review already", {"text": ["Replied already."]})
    ctx.session.refresh(review)
    return review


def task_of(ctx: ReviewCtx, review: Review) -> dict | None:
    """A bad review's follow-up task (owner, clock), or None."""
    ticket = ctx.session.get(ServiceTicket, (service_desk.REVIEW, review.id))
    if ticket is None:
        return None
    [clock] = service_desk.clocks(ctx, ticket)
    return {"owner": ticket.owner, **clock}


def nps(scores: list[int]) -> float | None:
    """Net promoter score: % of 9-10 minus % of 0-6, in [-100, 100]."""
    if not scores:
        return None
    promoters = sum(1 for s in scores if s >= 9)
    detractors = sum(1 for s in scores if s <= 6)
    return round(100 * (promoters - detractors) / len(scores), 1)
