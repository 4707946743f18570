"""aftersales' service layer: every use case is `verb(ctx, case_or_id, ...)` (ecom_common.usecase),
shared by the HTTP views and the event handlers: load (and check tenancy), ask the domain, save with
a guarded UPDATE, write the timeline, record the events. Nothing here commits; the caller owns the
unit of work (views commit through `use_case`, the consumer commits for handlers, jobs per step).

Who acts is `ctx.actor` (written as `by` on the timeline), the time is `ctx.now`, the SOP's figures
are `ctx.settings.policy`. A view passes an id, loaded here as the caller may see it (another
tenant's answers 404); a handler passes the case it already loaded to decide whether to act.

Every status change is `UPDATE cases SET status = :next ... WHERE id = :id AND status = :current`:
when two requests race, exactly one wins and the other gets 409 (IllegalTransition).
"""

from __future__ import annotations

from dataclasses import replace

import sqlalchemy as sa

from ecom_common.clock import aware, iso
from ecom_common.db import insert_ignore, is_unique_violation
from ecom_common.errors import ConflictError, IllegalTransition, NotFound
from ecom_common.events import make_event
from ecom_common.ids import new_id
from ecom_common.usecase import SYSTEM, Ctx

from . import approvals, claims, domain, notifications, periods, service_desk
from .domain import Action, CaseType, ComplaintStatus, Status
from .models import Case, CaseEvent, CaseLine, Complaint, ComplaintEvent, Escalation, Feedback
from .settings import Settings

AftersalesCtx = Ctx[Settings]


def case_of(ctx: AftersalesCtx, case_or_id: Case | str) -> Case:
    """The case, as the caller may see it: a missing one and another tenant's both answer 404."""
    if isinstance(case_or_id, Case):
        return case_or_id
    case = ctx.session.get(Case, case_or_id)
    if case is None:
        raise NotFound("case not found")
    ctx.require_visible(case.shop_id, case.buyer_id, "case")
    return case


def complaint_of(ctx: AftersalesCtx, complaint_or_id: Complaint | str) -> Complaint:
    if isinstance(complaint_or_id, Complaint):
        return complaint_or_id
    c = ctx.session.get(Complaint, complaint_or_id)
    if c is None:
        raise NotFound("complaint not found")
    ctx.require_visible(c.shop_id, c.buyer_id, "complaint")
    return c


# Cases -------------------------------------------------------------------------------------------
def request_case(ctx: AftersalesCtx, order: domain.OrderView, *, request: domain.CaseRequest, evidence: dict) -> Case:
    """The buyer's request, checked against the order (domain.draft_case), opened as a case."""
    draft = domain.draft_case(order, request, ctx.now, ctx.settings.policy)
    return open_case(ctx, draft, evidence=evidence, by_buyer=True)


def open_case(ctx: AftersalesCtx, draft: domain.CaseDraft, *, evidence: dict, by_buyer: bool = False) -> Case:
    """Claim the draft's units and money and open the case for `ctx.actor` (the buyer); a small
    refund-only is approved at once by the system, and (`by_buyer`) a new customer's one up to
    AFTERSALES_AUTO_APPROVE_NEW_BUYER_REFUND_FEN."""
    session, now, policy = ctx.session, ctx.now, ctx.settings.policy
    claims.take(session, draft)
    kind, due = domain.case_sla(draft.case_type, Status.REQUESTED, now, policy)
    case = Case(
        id=new_id("C", now),
        order_id=draft.order.order_id,
        shop_id=draft.order.shop_id,
        buyer_id=draft.order.buyer_id or ctx.actor.id,  # cs may open one for the buyer (complaint refund)
        case_type=draft.case_type,
        reason=draft.reason,
        status=Status.REQUESTED,
        amount_fen=draft.amount_fen,
        evidence=evidence,
        before_shipment=draft.before_shipment,
        shipping_paid_by=draft.shipping_paid_by,
        refund_attempts=0,
        refund_failed=False,
        sla_kind=kind,
        sla_due_at=due,
        created_at=now,
        updated_at=now,
    )
    session.add(case)
    session.flush()
    service_desk.ticket_of(ctx, service_desk.CASE, case)
    for l in draft.lines:
        session.add(
            CaseLine(
                case_id=case.id,
                sku_code=l.sku_code,
                quantity=l.quantity,
                unit_price_fen=l.unit_price_fen,
                amount_fen=l.amount_fen,
                new_sku_code=l.new_sku_code,
            )
        )
    session.add(
        CaseEvent(
            case_id=case.id,
            action="request",
            status=Status.REQUESTED,
            at=now,
            by=ctx.actor.id,
            reason=f"{draft.case_type}: {draft.reason}",
        )
    )
    session.flush()
    session.refresh(case)
    ctx.record(
        make_event(
            "aftersales.CaseRequested",
            {"case_id": case.id, "order_id": case.order_id, "shop_id": case.shop_id, "case_type": case.case_type},
        )
    )
    automatic = approvals.automatic_reason(ctx, draft, new_customers=by_buyer)  # small, or 新客优先
    if automatic:
        approve(ctx.acting_as(SYSTEM), case, reason=automatic)
    session.expire(case)
    return session.get(Case, case.id)


def transition(ctx: AftersalesCtx, case: Case, *, action: str, reason: str | None = None, **changes) -> str:
    """Move `case` by `action` if the machine allows it from the status it has *in the database*."""
    now, session = ctx.now, ctx.session
    current = case.status
    nxt = domain.next_status(case.case_type, current, action)
    received_at = changes.get("received_at", case.received_at)
    if nxt != current or action == Action.RETRY_REFUND:
        kind, due = domain.case_sla(case.case_type, nxt, now, periods.policy(ctx), received_at=received_at)
        changes.update(sla_kind=kind, sla_due_at=due)
    if nxt == Status.CLOSED:
        changes["closed_at"] = now
    updated = session.execute(
        sa.update(Case)
        .where(Case.id == case.id, Case.status == current)
        .values(status=nxt, updated_at=now, **changes)
        .execution_options(synchronize_session=False)
    ).rowcount
    if updated != 1:
        fresh = session.execute(sa.select(Case.status).where(Case.id == case.id)).scalar_one()
        raise IllegalTransition(f"{case.case_type} case", fresh, action.replace("_", " "))
    session.add(CaseEvent(case_id=case.id, action=action, status=nxt, at=now, by=ctx.actor.id, reason=reason))
    service_desk.case_moved(ctx, case, action=action, status=nxt)
    session.flush()
    session.refresh(case)
    return nxt


def approve(ctx: AftersalesCtx, case_or_id: Case | str, *, reason: str | None = None) -> Case:
    """cs approves: a return or exchange gets the shop's return address; a refund-only's refund is
    asked for at once."""
    case = case_of(ctx, case_or_id)
    if approvals.hold(ctx, case, reason):  # the first of two approvals (multi-level review)
        return case
    changes = {}
    if case.case_type in (CaseType.RETURN, CaseType.EXCHANGE):
        changes["return_address"] = ctx.settings.policy.return_address(case.shop_id)
    transition(ctx, case, action=Action.APPROVE, reason=reason, **changes)
    if case.case_type == CaseType.REFUND_ONLY:
        start_refund(ctx, case, reason="refund without return")
    return case


def reject(ctx: AftersalesCtx, case_or_id: Case | str, *, reason: str) -> Case:
    """requested -> rejected; the case's units and money become claimable again."""
    case = case_of(ctx, case_or_id)
    transition(ctx, case, action=Action.REJECT, reason=reason)
    claims.release(ctx.session, case)
    return case


def _lines(case: Case) -> list[dict]:
    # A money-only refund (a complaint's) names no units: billing spreads it over the order's lines.
    return [{"sku_code": l.sku_code, "quantity": l.quantity} for l in case.lines if l.quantity]


def start_refund(ctx: AftersalesCtx, case_or_id: Case | str, *, reason: str | None = None, retry: bool = False) -> Case:
    """Ask for the money: billing refunds (RefundApproved), or, before shipment, orders cancels the
    order and billing refunds it in full (OrderCancelRequested). Either way billing's
    RefundSucceeded carries the case id back and closes the case. `retry`: cs asks again after
    billing reported RefundFailed (409 unless the last refund failed)."""
    case = case_of(ctx, case_or_id)
    action = Action.RETRY_REFUND if retry else Action.START_REFUND
    if retry and not case.refund_failed:
        raise IllegalTransition(f"{case.case_type} case", "refunding (no failed refund)", "retry refund")
    attempt = case.refund_attempts + 1
    transition(ctx, case, action=action, reason=reason, refund_attempts=attempt, refund_failed=False)
    if case.before_shipment:
        ctx.record(
            make_event(
                "aftersales.OrderCancelRequested",
                {
                    "case_id": case.id,
                    "order_id": case.order_id,
                    "shop_id": case.shop_id,
                    "reason": f"refund-only case {case.id} before shipment",
                },
            )
        )
    else:
        ctx.record(
            make_event(
                "aftersales.RefundApproved",
                {
                    "case_id": case.id,
                    "order_id": case.order_id,
                    "shop_id": case.shop_id,
                    "amount_fen": case.amount_fen,
                    "lines": _lines(case),
                    "attempt": attempt,
                },
            )
        )
    return case


def ship_return(ctx: AftersalesCtx, case_or_id: Case | str, *, carrier: str, tracking_no: str) -> Case:
    """The buyer handed the goods to a carrier: approved -> awaiting_return."""
    case = case_of(ctx, case_or_id)
    transition(
        ctx,
        case,
        action=Action.SHIP_RETURN,
        reason=f"{carrier} {tracking_no}",
        return_carrier=carrier,
        return_tracking_no=tracking_no,
    )
    return case


def receive(ctx: AftersalesCtx, case_or_id: Case | str, *, resellable: bool, note: str | None) -> Case:
    """The warehouse inspected the goods: stock is told (resellable or not); a return's refund is
    asked for at once, an exchange's replacement is requested from logistics."""
    case = case_of(ctx, case_or_id)
    why = ("resellable" if resellable else "not resellable") + (f": {note}" if note else "")
    transition(
        ctx,
        case,
        action=Action.RECEIVE,
        reason=why,
        received_at=ctx.now,
        resellable=resellable,
        inspection_note=note,
    )
    ctx.record(
        make_event(
            "aftersales.ReturnReceived",
            {
                "case_id": case.id,
                "order_id": case.order_id,
                "shop_id": case.shop_id,
                "resellable": resellable,
                "lines": _lines(case),
            },
        )
    )
    if case.case_type == CaseType.RETURN:
        start_refund(ctx.acting_as(SYSTEM), case, reason="return received")
    else:
        ctx.record(
            make_event(
                "aftersales.ReshipRequested",
                {
                    "case_id": case.id,
                    "order_id": case.order_id,
                    "shop_id": case.shop_id,
                    "lines": [{"sku_code": l.new_sku_code, "quantity": l.quantity} for l in case.lines],
                    "shipping_paid_by": case.shipping_paid_by or domain.shipping_paid_by(case.reason),
                    "returned_lines": _lines(case),
                },
            )
        )
    return case


def refund_failed(ctx: AftersalesCtx, case: Case, *, refund_id: str, error: str | None) -> None:
    """billing could not refund: the case stays refunding with the failure on its timeline; cs may
    retry (start_refund(retry=True))."""
    why = error or "refund failed"
    transition(
        ctx,
        case,
        action=Action.REFUND_FAILED,
        reason=f"refund {refund_id} failed: {why}",
        refund_failed=True,
        last_refund_error=why[:1000],
        refund_id=refund_id,
    )


def reship(ctx: AftersalesCtx, case: Case, *, shipment_id: str, carrier: str, tracking_no: str) -> None:
    """The replacement of an exchange left the warehouse: received -> reshipped."""
    transition(
        ctx,
        case,
        action=Action.RESHIP,
        reason=f"replacement {shipment_id} dispatched with {carrier} {tracking_no}",
        reship_shipment_id=shipment_id,
        reship_tracking_no=tracking_no,
    )


def close(ctx: AftersalesCtx, case: Case, *, outcome: str, reason: str, **changes) -> None:
    """refunding/reshipped -> closed (CaseClosed{outcome})."""
    transition(ctx, case, action=Action.CLOSE, reason=reason, **changes)
    ctx.record(
        make_event(
            "aftersales.CaseClosed",
            {"case_id": case.id, "order_id": case.order_id, "shop_id": case.shop_id, "outcome": outcome},
        )
    )


def close_refunded(ctx: AftersalesCtx, case: Case, *, refund_id: str, amount_fen: int) -> None:
    """billing refunded the case: refunding -> closed."""
    close(
        ctx,
        case,
        outcome="refunded",
        reason=f"refund {refund_id} of {amount_fen} fen succeeded",
        refund_id=refund_id,
        refund_failed=False,
    )


def close_exchanged(ctx: AftersalesCtx, case: Case, *, shipment_id: str) -> None:
    """The replacement reached the buyer: reshipped -> closed."""
    close(ctx, case, outcome="exchanged", reason=f"replacement {shipment_id} delivered")


def note(ctx: AftersalesCtx, case: Case, *, action: str, reason: str) -> None:
    """A timeline entry that changes no status (e.g. the order was cancelled by orders)."""
    ctx.session.add(
        CaseEvent(case_id=case.id, action=action, status=case.status, at=ctx.now, by=ctx.actor.id, reason=reason)
    )


def order_cancelled(ctx: AftersalesCtx, order_id: str, *, own_case: Case | None, reason: str, was_paid: bool) -> None:
    """orders cancelled the order. For our own request (`own_case`) the timeline says so; billing's
    RefundSucceeded will close the case. Cancelled for another reason: cases still waiting for cs
    are moot (billing refunds the whole order) and are rejected by the system."""
    if own_case is not None:
        note(
            ctx,
            own_case,
            action="order_cancelled",
            reason=f"order {order_id} cancelled; billing refunds it in full",
        )
        return
    waiting = (
        ctx.session.execute(sa.select(Case).where(Case.order_id == order_id, Case.status == Status.REQUESTED))
        .scalars()
        .all()
    )
    why = f"order cancelled ({reason or 'no reason given'}); " + (
        "billing refunds what was paid" if was_paid else "nothing was paid"
    )
    for case in waiting:
        reject(ctx.acting_as(SYSTEM), case, reason=why)


# Feedback ----------------------------------------------------------------------------------------
def give_feedback(ctx: AftersalesCtx, case_or_id: Case | str, *, score: int, comment: str | None) -> Feedback:
    """Satisfaction once the case is over (closed or rejected); once per case (409 the second time)."""
    case = case_of(ctx, case_or_id)
    domain.check_feedback_allowed(case.status)
    fb = Feedback(
        case_id=case.id,
        shop_id=case.shop_id,
        buyer_id=case.buyer_id,
        score=score,
        comment=comment,
        created_at=ctx.now,
    )
    ctx.session.add(fb)
    try:
        ctx.session.flush()
    except sa.exc.IntegrityError as exc:
        if is_unique_violation(exc):
            raise ConflictError("feedback was already given for this case", {"case_id": ["Feedback exists."]}) from exc
        raise
    return fb


# Complaints ------------------------------------------------------------------------------------
def open_complaint(ctx: AftersalesCtx, order: domain.OrderView, *, tier: str, text: str) -> Complaint:
    """A complaint of `ctx.actor` (the buyer) about `order`; a crisis is escalated at once."""
    now, session = ctx.now, ctx.session
    c = Complaint(
        id=new_id("K", now),
        order_id=order.order_id,
        shop_id=order.shop_id,
        buyer_id=ctx.actor.id,
        tier=tier,
        text=text,
        status=ComplaintStatus.OPEN,
        milestone=domain.COMPLAINT_MILESTONE[tier],
        due_at=domain.complaint_due(tier, now, ctx.settings.policy),
        created_at=now,
        updated_at=now,
    )
    session.add(c)
    session.flush()
    session.add(
        ComplaintEvent(
            complaint_id=c.id, action="open", status=c.status, at=now, by=ctx.actor.id, note=f"{tier} complaint"
        )
    )
    service_desk.ticket_of(ctx, service_desk.COMPLAINT, c)
    filed = {"complaint_id": c.id, "shop_id": c.shop_id, "order_id": c.order_id, "tier": tier, "at": iso(now)}
    ctx.record(make_event("aftersales.ComplaintFiled", filed))
    if tier == domain.Tier.CRISIS:
        escalate(ctx, c, kind="crisis", reason="crisis complaint: escalated to admin at once")
    session.flush()
    return c


def escalate(ctx: AftersalesCtx, c: Complaint, *, kind: str, reason: str) -> bool:
    """Escalate once per (complaint, kind): the escalation row's key decides, not a Python check.
    The escalation is the system's, whoever caused it."""
    inserted = insert_ignore(
        ctx.session, Escalation.__table__, dict(complaint_id=c.id, kind=kind, at=ctx.now, reason=reason)
    )
    if inserted != 1:
        return False
    ctx.session.add(
        ComplaintEvent(complaint_id=c.id, action="escalate", status=c.status, at=ctx.now, by=SYSTEM.id, note=reason)
    )
    ctx.record(
        make_event(
            "aftersales.ComplaintEscalated",
            {
                "complaint_id": c.id,
                "shop_id": c.shop_id,
                "tier": c.tier,
                "reason": reason,
                "order_id": c.order_id,
                "kind": kind,
            },
        )
    )
    return True


def breached_complaints(ctx: AftersalesCtx, *, limit: int = 500) -> list[str]:
    """Ids of complaints whose clock ran out before their milestone was met and that were not yet
    escalated for a breach, most overdue first."""
    return list(
        ctx.session.execute(
            sa.select(Complaint.id)
            .where(
                Complaint.status != ComplaintStatus.RESOLVED,
                Complaint.met_at.is_(None),
                Complaint.due_at < ctx.now,
                ~sa.exists().where(Escalation.complaint_id == Complaint.id, Escalation.kind.like("breach:%")),
            )
            .order_by(Complaint.due_at)
            .limit(limit)
        )
        .scalars()
        .all()
    )


def escalate_breach(ctx: AftersalesCtx, complaint_id: str) -> bool:
    """Escalate the complaint's SLA breach, once (re-checked here: it may have been met since)."""
    c = ctx.session.get(Complaint, complaint_id)
    if c is None or c.status == ComplaintStatus.RESOLVED or not domain.breached(c.due_at, c.met_at, ctx.now):
        return False
    overdue_min = int((ctx.now - aware(c.due_at)).total_seconds() // 60)
    return escalate(
        ctx,
        c,
        kind=f"breach:{c.milestone}",
        reason=f"SLA breach: {c.tier} complaint's {c.milestone.replace('_', ' ')} overdue by {overdue_min} min",
    )


def act_on_complaint(ctx: AftersalesCtx, complaint_or_id: Complaint | str, *, action: str, text: str) -> Complaint:
    """cs responds or resolves; the tier's clock stops when its milestone is met."""
    c = complaint_of(ctx, complaint_or_id)
    now, session = ctx.now, ctx.session
    current = c.status
    nxt = domain.complaint_next(current, action)
    changes = {"response": text} if action == "respond" else {"resolution": text}
    met = domain.meets_milestone(c.tier, action) and c.met_at is None
    if met:
        changes["met_at"] = now
    updated = session.execute(
        sa.update(Complaint)
        .where(Complaint.id == c.id, Complaint.status == current)
        .values(status=nxt, updated_at=now, **changes)
        .execution_options(synchronize_session=False)
    ).rowcount
    if updated != 1:
        fresh = session.execute(sa.select(Complaint.status).where(Complaint.id == c.id)).scalar_one()
        raise IllegalTransition("complaint", fresh, action)
    session.add(ComplaintEvent(complaint_id=c.id, action=action, status=nxt, at=now, by=ctx.actor.id, note=text))
    answer = notifications.Notice(
        "complaint_answered", f"complaint_{action}:{c.id}", {"order_id": c.order_id, "text": text}
    )
    service_desk.complaint_acted(ctx, c, action=action)
    notifications.enqueue(ctx, replace(answer, order_id=c.order_id, shop_id=c.shop_id, buyer_id=c.buyer_id))
    session.flush()
    session.refresh(c)
    return c
