"""Case and complaint work shared by the HTTP views and the event handlers: load, ask the domain,
save with a guarded UPDATE, write the timeline, record the events. Nothing here commits; the caller
owns the unit of work (views commit, the consumer commits for handlers).

Every status change is `UPDATE cases SET status = :next ... WHERE id = :id AND status = :current`:
when two requests race, exactly one wins and the other gets 409 (IllegalTransition).
"""

from __future__ import annotations

import secrets
from datetime import datetime

import sqlalchemy as sa

from ecom_common.db import UnitOfWork, insert_ignore
from ecom_common.errors import IllegalTransition, RuleViolation
from ecom_common.events import make_event

from . import domain
from .domain import Action, CaseType, Status
from .models import Case, CaseEvent, CaseLine, Claim, Complaint, ComplaintEvent, Escalation

SYSTEM = "system"


def new_id(prefix: str, now: datetime) -> str:
    """Prefix + time-sortable hex + random (docs/interfaces.md: ids are prefix + sortable random)."""
    return f"{prefix}{int(now.timestamp() * 1000):012x}{secrets.token_hex(4)}"


# Claims ------------------------------------------------------------------------------------------
def claim(session, draft: domain.CaseDraft) -> None:
    """Take the case's units and money from what the order still has unclaimed, or RuleViolation.

    One conditional UPDATE per row: concurrent cases cannot both take the last unit or fen."""
    order = draft.order
    rows = [
        dict(
            order_id=order.order_id,
            sku_code=l.sku_code,
            bought_qty=l.quantity,
            cap_fen=l.cap_fen,
            claimed_qty=0,
            claimed_fen=0,
        )
        for l in order.lines
    ]
    rows.append(
        dict(
            order_id=order.order_id,
            sku_code=Claim.ORDER_ROW,
            bought_qty=sum(l.quantity for l in order.lines),
            cap_fen=order.payable_fen,
            claimed_qty=0,
            claimed_fen=0,
        )
    )
    insert_ignore(session, Claim.__table__, rows)
    wants = [(l.sku_code, l.quantity, l.amount_fen, i) for i, l in enumerate(draft.lines)]
    wants.append((Claim.ORDER_ROW, sum(l.quantity for l in draft.lines), draft.amount_fen, None))
    # Rows are always locked in the same (sku_code) order, so concurrent cases cannot deadlock.
    for sku, qty, fen, i in sorted(wants):
        taken = session.execute(
            sa.update(Claim)
            .where(
                Claim.order_id == order.order_id,
                Claim.sku_code == sku,
                Claim.claimed_qty + qty <= Claim.bought_qty,
                Claim.claimed_fen + fen <= Claim.cap_fen,
            )
            .values(claimed_qty=Claim.claimed_qty + qty, claimed_fen=Claim.claimed_fen + fen)
            .execution_options(synchronize_session=False)
        ).rowcount
        if taken != 1:
            field = "amount_fen" if sku == Claim.ORDER_ROW else f"lines.{i}"
            raise RuleViolation(
                "these units or this amount are already claimed by another case of this order",
                {field: ["Already claimed (or refunded) by another case of this order."]},
            )


def release_claims(session, case: Case) -> None:
    """A rejected case gives its units and money back to the order."""
    wants = [(l.sku_code, l.quantity, l.amount_fen) for l in case.lines]
    wants.append((Claim.ORDER_ROW, sum(l.quantity for l in case.lines), case.amount_fen))
    for sku, qty, fen in sorted(wants):
        session.execute(
            sa.update(Claim)
            .where(
                Claim.order_id == case.order_id,
                Claim.sku_code == sku,
                Claim.claimed_qty >= qty,
                Claim.claimed_fen >= fen,
            )
            .values(claimed_qty=Claim.claimed_qty - qty, claimed_fen=Claim.claimed_fen - fen)
            .execution_options(synchronize_session=False)
        )


# Cases -------------------------------------------------------------------------------------------
def open_case(
    uow: UnitOfWork, draft: domain.CaseDraft, buyer_id: str, evidence: dict, now: datetime, policy: domain.Policy
) -> Case:
    session = uow.session
    claim(session, draft)
    kind, due = domain.case_sla(draft.case_type, Status.REQUESTED, now, policy)
    case = Case(
        id=new_id("C", now),
        order_id=draft.order.order_id,
        shop_id=draft.order.shop_id,
        buyer_id=buyer_id,
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
            by=buyer_id,
            reason=f"{draft.case_type}: {draft.reason}",
        )
    )
    session.flush()
    session.refresh(case)
    uow.record(
        make_event(
            "aftersales.CaseRequested",
            {"case_id": case.id, "order_id": case.order_id, "shop_id": case.shop_id, "case_type": case.case_type},
        )
    )
    if draft.auto_approve:
        approve(
            uow,
            case,
            SYSTEM,
            now,
            policy,
            reason=f"refund-only below {policy.auto_approve_below_fen} fen is approved automatically",
        )
    session.expire(case)
    return session.get(Case, case.id)


def transition(
    uow: UnitOfWork,
    case: Case,
    action: str,
    by: str,
    now: datetime,
    policy: domain.Policy,
    reason: str | None = None,
    **changes,
) -> str:
    """Move `case` by `action` if the machine allows it from the status it has *in the database*."""
    current = case.status
    nxt = domain.next_status(case.case_type, current, action)
    received_at = changes.get("received_at", case.received_at)
    if nxt != current or action == Action.RETRY_REFUND:
        kind, due = domain.case_sla(case.case_type, nxt, now, policy, received_at=received_at)
        changes.update(sla_kind=kind, sla_due_at=due)
    if nxt == Status.CLOSED:
        changes["closed_at"] = now
    updated = uow.session.execute(
        sa.update(Case)
        .where(Case.id == case.id, Case.status == current)
        .values(status=nxt, updated_at=now, **changes)
        .execution_options(synchronize_session=False)
    ).rowcount
    if updated != 1:
        fresh = uow.session.execute(sa.select(Case.status).where(Case.id == case.id)).scalar_one()
        raise IllegalTransition(f"{case.case_type} case", fresh, action.replace("_", " "))
    uow.session.add(CaseEvent(case_id=case.id, action=action, status=nxt, at=now, by=by, reason=reason))
    uow.session.flush()
    uow.session.refresh(case)
    return nxt


def approve(
    uow: UnitOfWork, case: Case, by: str, now: datetime, policy: domain.Policy, reason: str | None = None
) -> None:
    changes = {}
    if case.case_type in (CaseType.RETURN, CaseType.EXCHANGE):
        changes["return_address"] = policy.return_address(case.shop_id)
    transition(uow, case, Action.APPROVE, by, now, policy, reason, **changes)
    if case.case_type == CaseType.REFUND_ONLY:
        start_refund(uow, case, by, now, policy, reason="refund without return")


def reject(uow: UnitOfWork, case: Case, by: str, now: datetime, policy: domain.Policy, reason: str) -> None:
    transition(uow, case, Action.REJECT, by, now, policy, reason)
    release_claims(uow.session, case)


def _lines(case: Case) -> list[dict]:
    return [{"sku_code": l.sku_code, "quantity": l.quantity} for l in case.lines]


def start_refund(
    uow: UnitOfWork,
    case: Case,
    by: str,
    now: datetime,
    policy: domain.Policy,
    reason: str | None = None,
    retry: bool = False,
) -> None:
    """Ask for the money: billing refunds (RefundApproved), or, before shipment, orders cancels the
    order and billing refunds it in full (OrderCancelRequested). Either way billing's
    RefundSucceeded carries the case id back and closes the case."""
    action = Action.RETRY_REFUND if retry else Action.START_REFUND
    if retry and not case.refund_failed:
        raise IllegalTransition(f"{case.case_type} case", "refunding (no failed refund)", "retry refund")
    attempt = case.refund_attempts + 1
    transition(uow, case, action, by, now, policy, reason, refund_attempts=attempt, refund_failed=False)
    if case.before_shipment:
        uow.record(
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
        uow.record(
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


def ship_return(uow, case: Case, by: str, now, policy, carrier: str, tracking_no: str) -> None:
    transition(
        uow,
        case,
        Action.SHIP_RETURN,
        by,
        now,
        policy,
        f"{carrier} {tracking_no}",
        return_carrier=carrier,
        return_tracking_no=tracking_no,
    )


def receive(uow, case: Case, by: str, now, policy, resellable: bool, note: str | None) -> None:
    """The warehouse inspected the goods: stock is told (resellable or not); a return's refund is
    asked for at once, an exchange's replacement is requested from logistics."""
    why = ("resellable" if resellable else "not resellable") + (f": {note}" if note else "")
    transition(
        uow, case, Action.RECEIVE, by, now, policy, why, received_at=now, resellable=resellable, inspection_note=note
    )
    uow.record(
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
        start_refund(uow, case, SYSTEM, now, policy, reason="return received")
    else:
        uow.record(
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


def close(uow, case: Case, by: str, now, policy, outcome: str, reason: str, **changes) -> None:
    transition(uow, case, Action.CLOSE, by, now, policy, reason, **changes)
    uow.record(
        make_event(
            "aftersales.CaseClosed",
            {"case_id": case.id, "order_id": case.order_id, "shop_id": case.shop_id, "outcome": outcome},
        )
    )


def note(uow, case: Case, action: str, by: str, now, reason: str) -> None:
    """A timeline entry that changes no status (e.g. the order was cancelled by orders)."""
    uow.session.add(CaseEvent(case_id=case.id, action=action, status=case.status, at=now, by=by, reason=reason))


# Complaints ------------------------------------------------------------------------------------
def open_complaint(
    uow: UnitOfWork, order: domain.OrderView, buyer_id: str, tier: str, text: str, now: datetime, policy: domain.Policy
) -> Complaint:
    c = Complaint(
        id=new_id("K", now),
        order_id=order.order_id,
        shop_id=order.shop_id,
        buyer_id=buyer_id,
        tier=tier,
        text=text,
        status=domain.ComplaintStatus.OPEN,
        milestone=domain.COMPLAINT_MILESTONE[tier],
        due_at=domain.complaint_due(tier, now, policy),
        created_at=now,
        updated_at=now,
    )
    uow.session.add(c)
    uow.session.flush()
    uow.session.add(
        ComplaintEvent(complaint_id=c.id, action="open", status=c.status, at=now, by=buyer_id, note=f"{tier} complaint")
    )
    if tier == domain.Tier.CRISIS:
        escalate(uow, c, "crisis", now, "crisis complaint: escalated to admin at once")
    uow.session.flush()
    return c


def escalate(uow: UnitOfWork, c: Complaint, kind: str, now: datetime, reason: str) -> bool:
    """Escalate once per (complaint, kind): the escalation row's key decides, not a Python check."""
    inserted = insert_ignore(
        uow.session, Escalation.__table__, dict(complaint_id=c.id, kind=kind, at=now, reason=reason)
    )
    if inserted != 1:
        return False
    uow.session.add(
        ComplaintEvent(complaint_id=c.id, action="escalate", status=c.status, at=now, by=SYSTEM, note=reason)
    )
    uow.record(
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


def act_on_complaint(uow: UnitOfWork, c: Complaint, action: str, by: str, text: str, now: datetime) -> None:
    current = c.status
    nxt = domain.complaint_next(current, action)
    changes = {"response": text} if action == "respond" else {"resolution": text}
    met = domain.meets_milestone(c.tier, action) and c.met_at is None
    if met:
        changes["met_at"] = now
    updated = uow.session.execute(
        sa.update(Complaint)
        .where(Complaint.id == c.id, Complaint.status == current)
        .values(status=nxt, updated_at=now, **changes)
        .execution_options(synchronize_session=False)
    ).rowcount
    if updated != 1:
        fresh = uow.session.execute(sa.select(Complaint.status).where(Complaint.id == c.id)).scalar_one()
        raise IllegalTransition("complaint", fresh, action)
    uow.session.add(ComplaintEvent(complaint_id=c.id, action=action, status=nxt, at=now, by=by, note=text))
    uow.session.flush()
    uow.session.refresh(c)
