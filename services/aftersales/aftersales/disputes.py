"""Disputes, the service layer: `verb(ctx, ...)` like operations.py.

The buyer may appeal a rejected case once (reason, evidence): a dispute `open`. A platform reviewer
(role reviewer or admin) arbitrates: `upheld` (the rejection stands) or `overturned` (the shop was
wrong), with a reason. Every step is on the dispute's record (争议处理记录), which the buyer, the
shop's staff, finance and admin read. `aftersales.DisputeOpened` / `DisputeDecided` tell the others
An overturned dispute reopens the case: `rejected -> requested` (one guarded UPDATE; the rejected
status is final for the buyer and the shop, only the platform's arbitration leaves it), its units and
money claimed again, its response clock restarted, so cs approves and refunds it as any case; 409
(nothing changes) when another case of the order claimed them since the rejection. Nothing here
commits.
"""

from __future__ import annotations

import sqlalchemy as sa

from ecom_common.db import insert_ignore
from ecom_common.errors import ConflictError, IllegalTransition, NotFound
from ecom_common.events import make_event
from ecom_common.ids import new_id
from ecom_common.usecase import Ctx

from . import claims, domain
from .domain import Status
from .models import Case, CaseEvent, Dispute, DisputeEvent
from .settings import Settings

DisputeCtx = Ctx[Settings]

OPEN, UPHELD, OVERTURNED = "open", "upheld", "overturned"
OUTCOMES = {"uphold": UPHELD, "overturn": OVERTURNED}


def appeal(ctx: DisputeCtx, case_id: str, *, reason: str, evidence: dict) -> Dispute:
    """The buyer appeals their rejected case, once (409 for a case not rejected or appealed before)."""
    case = ctx.session.get(Case, case_id)
    if case is None:
        raise NotFound("case not found")
    ctx.require_visible(case.shop_id, case.buyer_id, "case")
    if case.status != Status.REJECTED:
        raise IllegalTransition("case", case.status, "appeal")
    now, dispute_id = ctx.now, new_id("D", ctx.now)
    row = dict(
        id=dispute_id,
        case_id=case.id,
        order_id=case.order_id,
        shop_id=case.shop_id,
        buyer_id=case.buyer_id,
        reason=reason,
        evidence=evidence,
        status=OPEN,
        created_at=now,
    )
    if insert_ignore(ctx.session, Dispute.__table__, row) != 1:
        raise ConflictError("this case was appealed already (one appeal per case)", {"case_id": ["Appealed."]})
    ctx.session.add(
        DisputeEvent(dispute_id=dispute_id, action="appeal", status=OPEN, at=now, by=ctx.actor.id, reason=reason)
    )
    ctx.session.add(
        CaseEvent(
            case_id=case.id,
            action="appeal",
            status=case.status,
            at=now,
            by=ctx.actor.id,
            reason=f"dispute {dispute_id}: {reason}",
        )
    )
    ctx.record(
        make_event(
            "aftersales.DisputeOpened",
            {"dispute_id": dispute_id, "case_id": case.id, "order_id": case.order_id, "shop_id": case.shop_id},
        )
    )
    ctx.session.flush()
    return ctx.session.get(Dispute, dispute_id)


# a reopened case is reviewed afresh: a second approval given before its rejection no longer counts
FRESH_REVIEW = {
    "approval_stage": None,
    "first_approved_by": None,
    "first_approved_at": None,
    "second_approved_by": None,
}


def reopen(ctx: DisputeCtx, case: Case, *, reason: str) -> None:
    """rejected -> requested, guarded (`WHERE status = 'rejected'`, else 409), with its claims taken
    again (409 when another case holds them), a new response clock and a `reopen` timeline entry."""
    now = ctx.now
    kind, due = domain.case_sla(case.case_type, Status.REQUESTED, now, ctx.settings.policy)
    done = ctx.session.execute(
        sa.update(Case)
        .where(Case.id == case.id, Case.status == Status.REJECTED)
        .values(status=Status.REQUESTED, sla_kind=kind, sla_due_at=due, updated_at=now, **FRESH_REVIEW)
        .execution_options(synchronize_session=False)
    ).rowcount
    if done != 1:
        raise IllegalTransition("case", case.status, "reopen")
    claims.retake(ctx.session, case)
    ctx.session.add(
        CaseEvent(case_id=case.id, action="reopen", status=Status.REQUESTED, at=now, by=ctx.actor.id, reason=reason)
    )


def decide(ctx: DisputeCtx, dispute_id: str, *, outcome: str, reason: str) -> Dispute:
    """The platform reviewer's arbitration of an open dispute (409 once decided)."""
    d = ctx.session.get(Dispute, dispute_id)
    if d is None:
        raise NotFound("dispute not found")
    status, now = OUTCOMES[outcome], ctx.now
    done = ctx.session.execute(
        sa.update(Dispute)
        .where(Dispute.id == d.id, Dispute.status == OPEN)
        .values(status=status, decided_by=ctx.actor.id, decision_reason=reason, decided_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    if done != 1:
        raise IllegalTransition("dispute", d.status, outcome)
    ctx.session.add(
        DisputeEvent(dispute_id=d.id, action=outcome, status=status, at=now, by=ctx.actor.id, reason=reason)
    )
    case = ctx.session.get(Case, d.case_id)
    ctx.session.add(
        CaseEvent(
            case_id=d.case_id,
            action=f"dispute_{status}",
            status=case.status if case else Status.REJECTED,
            at=now,
            by=ctx.actor.id,
            reason=f"dispute {d.id} {status}: {reason}",
        )
    )
    if status == OVERTURNED and case is not None:
        reopen(ctx, case, reason=f"dispute {d.id} overturned: {reason}")
    ctx.record(
        make_event(
            "aftersales.DisputeDecided",
            {
                "dispute_id": d.id,
                "case_id": d.case_id,
                "order_id": d.order_id,
                "shop_id": d.shop_id,
                "outcome": status,
                "reason": reason,
            },
        )
    )
    ctx.session.flush()
    ctx.session.refresh(d)
    return d
