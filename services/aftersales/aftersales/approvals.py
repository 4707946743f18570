"""Multi-level review, the service layer (the rules are decisions.py): `operations.approve` asks
`hold(ctx, case)` first. A refund above AFTERSALES_SECOND_APPROVAL_FEN is held at its first approval
(stage `awaiting_second_approval`, status still `requested`, a `first_approve` entry on the timeline);
the second approval, by a different ops or admin, lets `approve` go on (status `approved`, its refund
asked for). Each stage moves by a guarded UPDATE (`WHERE status = 'requested' AND approval_stage ...`):
of two racing approvals one wins, the other answers 409 and changes nothing.
"""

from __future__ import annotations

import sqlalchemy as sa

from ecom_common.errors import IllegalTransition
from ecom_common.usecase import Ctx

from . import decisions, service_desk
from .domain import Status
from .models import Case, CaseEvent
from .settings import Settings

ApprovalCtx = Ctx[Settings]


def hold(ctx: ApprovalCtx, case: Case, reason: str | None) -> bool:
    """True when this approval is the first of two (recorded, the case waits); False when `approve`
    goes on (no second approval needed, or this is the second). 403/409 for the wrong approver."""
    if case.status != Status.REQUESTED:
        return False  # approve's own transition answers 409
    roles = ctx.actor.roles
    if case.approval_stage == decisions.AWAITING_SECOND:
        decisions.check_second_approver(case.first_approved_by, ctx.actor.id, roles)
        _move(
            ctx,
            case,
            decisions.AWAITING_SECOND,
            approval_stage=decisions.SECOND_APPROVED,
            second_approved_by=ctx.actor.id,
        )
        return False
    decisions.check_first_approver(roles)
    if case.approval_stage is not None or not decisions.needs_second_approval(
        case.amount_fen, ctx.settings.second_approval_above_fen
    ):
        return False
    _move(
        ctx,
        case,
        None,
        approval_stage=decisions.AWAITING_SECOND,
        first_approved_by=ctx.actor.id,
        first_approved_at=ctx.now,
    )
    why = f"refund of {case.amount_fen} fen above {ctx.settings.second_approval_above_fen}: waits for ops or admin"
    text = f"{reason}; {why}" if reason else why
    ctx.session.add(
        CaseEvent(
            case_id=case.id, action="first_approve", status=Status.REQUESTED, at=ctx.now, by=ctx.actor.id, reason=text
        )
    )
    service_desk.case_moved(ctx, case, action="approve", status=Status.REQUESTED)  # a decision answers the buyer
    ctx.session.flush()
    ctx.session.refresh(case)
    return True


def _move(ctx: ApprovalCtx, case: Case, stage: str | None, **changes: object) -> None:
    guard = Case.approval_stage.is_(None) if stage is None else Case.approval_stage == stage
    won = ctx.session.execute(
        sa.update(Case)
        .where(Case.id == case.id, Case.status == Status.REQUESTED, guard)
        .values(updated_at=ctx.now, **changes)
        .execution_options(synchronize_session=False)
    ).rowcount
    if won != 1:
        raise IllegalTransition(f"{case.case_type} case", "approved meanwhile", "approve")
    ctx.session.refresh(case)
