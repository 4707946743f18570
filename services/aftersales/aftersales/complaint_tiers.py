"""A complaint's tier, set or changed by cs with a reason (the buyer's choice is a first guess):
物流延迟 -> general, 质量 -> serious, 媒体曝光 -> crisis. `verb(ctx, ...)` like operations.py; nothing
here commits."""

from __future__ import annotations

import sqlalchemy as sa

from ecom_common.errors import ConflictError, IllegalTransition

from . import domain, operations
from .domain import ComplaintStatus
from .models import Complaint, ComplaintEvent
from .operations import AftersalesCtx


def reclassify(ctx: AftersalesCtx, complaint_or_id: Complaint | str, *, tier: str, reason: str) -> Complaint:
    """cs sets the tier the buyer chose right (物流延迟 general, 质量 serious, 媒体曝光 crisis), with a
    reason: the new tier's clock runs from now (a response already given meets a general or crisis
    milestone); a crisis is escalated to admin at once."""
    c = operations.complaint_of(ctx, complaint_or_id)
    if c.status == ComplaintStatus.RESOLVED:
        raise IllegalTransition("complaint", c.status, "reclassify")
    if tier == c.tier:
        raise ConflictError(f"the complaint is already {tier}", {"tier": ["Unchanged."]})
    now, old = ctx.now, c.tier
    met = now if c.status == ComplaintStatus.RESPONDED and domain.meets_milestone(tier, "respond") else None
    updated = ctx.session.execute(
        sa.update(Complaint)
        .where(Complaint.id == c.id, Complaint.tier == old, Complaint.status == c.status)
        .values(
            tier=tier,
            milestone=domain.COMPLAINT_MILESTONE[tier],
            due_at=domain.complaint_due(tier, now, ctx.settings.policy),
            met_at=met,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    ).rowcount
    if updated != 1:
        raise ConflictError("the complaint changed meanwhile; read it again", {"tier": ["Changed meanwhile."]})
    ctx.session.add(
        ComplaintEvent(
            complaint_id=c.id,
            action="reclassify",
            status=c.status,
            at=now,
            by=ctx.actor.id,
            note=f"{old} -> {tier}: {reason}",
        )
    )
    ctx.session.flush()
    ctx.session.refresh(c)
    if tier == domain.Tier.CRISIS:
        operations.escalate(ctx, c, kind="crisis", reason=f"reclassified as crisis: {reason}")
        ctx.session.flush()
        ctx.session.refresh(c)
    return c
