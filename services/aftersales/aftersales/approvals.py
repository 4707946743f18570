"""Automatic decisions and multi-level review, the service layer (the rules are decisions.py): `operations.approve` asks
`hold(ctx, case)` first. A refund above AFTERSALES_SECOND_APPROVAL_FEN is held at its first approval
(stage `awaiting_second_approval`, status still `requested`, a `first_approve` entry on the timeline);
the second approval, by a different ops or admin, lets `approve` go on (status `approved`, its refund
asked for). Each stage moves by a guarded UPDATE (`WHERE status = 'requested' AND approval_stage ...`):
of two racing approvals one wins, the other answers 409 and changes nothing.

`automatic_reason(ctx, draft)`: why the system approves a new case at once (a small refund-only, or a
new customer's refund-only up to AFTERSALES_AUTO_APPROVE_NEW_BUYER_REFUND_FEN), or None. A new customer
is one with no earlier completed order in the shop as far as aftersales knows: the orders it was told
completed (`orders.OrderCompleted`, kept in `completed_orders` by `record_completed`).
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from ecom_common.db import insert_ignore
from ecom_common.errors import IllegalTransition
from ecom_common.usecase import Ctx

from . import decisions, domain, service_desk
from .domain import Action, Status
from .models import Case, CaseEvent, CompletedOrder
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
    status = domain.next_status(case.case_type, case.status, Action.FIRST_APPROVE)  # the machine's word
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
        CaseEvent(case_id=case.id, action=Action.FIRST_APPROVE, status=status, at=ctx.now, by=ctx.actor.id, reason=text)
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


def automatic_reason(ctx: ApprovalCtx, draft: domain.CaseDraft, *, new_customers: bool = True) -> str | None:
    """Why the system approves this new case at once, or None (cs decides). `new_customers`: the
    buyer's own request (a complaint's refund is approved by its agent, not by this rule)."""
    if draft.auto_approve:
        return f"refund-only below {ctx.settings.policy.auto_approve_below_fen} fen is approved automatically"
    up_to = ctx.settings.auto_approve_new_buyer_refund_fen
    if not new_customers or up_to <= 0 or draft.case_type != domain.CaseType.REFUND_ONLY or draft.amount_fen > up_to:
        return None  # no need to look
    order = draft.order
    earlier = ctx.session.execute(
        sa.select(sa.func.count())
        .select_from(CompletedOrder)
        .where(
            CompletedOrder.shop_id == order.shop_id,
            CompletedOrder.buyer_id == order.buyer_id,
            CompletedOrder.order_id != order.order_id,
        )
    ).scalar_one()
    if not decisions.new_customer_auto_approves(draft.case_type, draft.amount_fen, up_to, earlier):
        return None
    return f"新客优先: a new customer's refund-only up to {up_to} fen approved automatically (no completed order yet)"


def record_completed(ctx: ApprovalCtx, *, order_id: str, shop_id: str, buyer_id: str, completed_at: datetime) -> bool:
    """orders.OrderCompleted: the buyer is no longer new in the shop (once per order)."""
    row = {"order_id": order_id, "shop_id": shop_id, "buyer_id": buyer_id, "completed_at": completed_at}
    return insert_ignore(ctx.session, CompletedOrder.__table__, row)
