"""Service clocks and ownership (首问负责制), the service layer: `verb(ctx, ...)` like operations.py.

Every case and complaint has a ticket (`ServiceTicket`, kind + ref_id) with an owner and three
clocks from the moment it was opened, besides the case's refund clocks and the complaint's tier
clock:

    first_response  AFTERSALES_FIRST_RESPONSE_MINUTES (15)  any agent's answer: a decision, a response,
                                                            a note or a contact with the buyer
    solution        AFTERSALES_SOLUTION_HOURS (24)          a decision (approve/reject), a complaint's
                                                            response, or a follow-up of kind `solution`
    resolution      AFTERSALES_RESOLUTION_HOURS (72)        the case closed or rejected, the complaint resolved

The first agent who answers becomes the owner unless one was assigned. The job
`escalate-service-clocks` emits `aftersales.ServiceClockBreached` once per (ticket, milestone): the
escalation row's key decides. Nothing here commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from ecom_common.clock import aware, iso
from ecom_common.db import insert_ignore
from ecom_common.errors import NotFound
from ecom_common.events import make_event
from ecom_common.usecase import Ctx

from .models import Case, Complaint, FollowUp, Review, ServiceEscalation, ServiceTicket
from .settings import Settings

DeskCtx = Ctx[Settings]

CASE, COMPLAINT, REVIEW = "case", "complaint", "review"
MILESTONES = ("first_response", "solution", "resolution")
# The column that stamps each milestone. A bad review's task has one clock, `follow_up`: the
# contact or solution that closes it (stamped as its resolution).
STAMPS = {
    "first_response": "first_response_at",
    "solution": "solution_at",
    "resolution": "resolved_at",
    "follow_up": "resolved_at",
}
AGENTS = ("cs", "admin")
ENTRIES = ("note", "contact", "solution")


MODELS: dict[str, type[Case] | type[Complaint] | type[Review]] = {CASE: Case, COMPLAINT: Complaint, REVIEW: Review}
Thing = Case | Complaint | Review


def _thing(ctx: DeskCtx, kind: str, ref_id: str) -> Thing:
    thing = ctx.session.get(MODELS[kind], ref_id)
    if thing is None or (kind == REVIEW and ctx.session.get(ServiceTicket, (kind, ref_id)) is None):
        raise NotFound(f"{kind} not found")
    ctx.require_visible(thing.shop_id, thing.buyer_id, kind)
    return thing


def ticket_of(ctx: DeskCtx, kind: str, thing: Thing) -> ServiceTicket:
    """The ticket of a case or complaint, opened when it was (created here for older ones)."""
    ticket = ctx.session.get(ServiceTicket, (kind, thing.id))
    if ticket is None:
        ticket = ServiceTicket(
            kind=kind,
            ref_id=thing.id,
            shop_id=thing.shop_id,
            buyer_id=thing.buyer_id,
            order_id=thing.order_id,
            opened_at=thing.created_at,
        )
        ctx.session.add(ticket)
        ctx.session.flush()
    return ticket


def progress(ctx: DeskCtx, kind: str, thing: Thing, *, met: tuple[str, ...]) -> ServiceTicket:
    """Stamp the milestones `met` (those not met yet) and make an answering agent the owner."""
    ticket = ticket_of(ctx, kind, thing)
    for milestone in met:
        if getattr(ticket, STAMPS[milestone]) is None:
            setattr(ticket, STAMPS[milestone], ctx.now)
    if ticket.owner is None and ctx.actor.has(*AGENTS):
        ticket.owner, ticket.owner_since = ctx.actor.id, ctx.now
        _log(ctx, ticket, "assign", f"{ctx.actor.id} answered first and owns the {kind}")
    return ticket


def _log(ctx: DeskCtx, ticket: ServiceTicket, entry: str, text: str, channel: str | None = None) -> FollowUp:
    row = FollowUp(
        kind=ticket.kind, ref_id=ticket.ref_id, entry=entry, channel=channel, text=text, at=ctx.now, by=ctx.actor.id
    )
    ctx.session.add(row)
    return row


@dataclass(frozen=True)
class Entry:
    """A line of the follow-up record: `entry` note | contact | solution, `channel` of a contact."""

    entry: str
    text: str
    channel: str | None = None


def follow_up(ctx: DeskCtx, kind: str, ref_id: str, *, line: Entry) -> dict:
    """An agent's note, contact with the buyer, or proposed solution on the record; it answers the
    first-response clock (a solution also the solution clock; a contact or solution closes a bad
    review's task)."""
    entry, text, channel = line.entry, line.text, line.channel
    thing = _thing(ctx, kind, ref_id)
    if kind == REVIEW:
        met: tuple[str, ...] = ("follow_up",) if entry in ("contact", "solution") else ()
    else:
        met = ("first_response", "solution") if entry == "solution" else ("first_response",)
    ticket = progress(ctx, kind, thing, met=met)
    _log(ctx, ticket, entry, text, channel)
    ctx.session.flush()
    return ticket_json(ctx, ticket)


def assign(ctx: DeskCtx, kind: str, ref_id: str, *, owner: str, reason: str | None) -> dict:
    """cs or admin hands the case or complaint to `owner` (the owner is then responsible)."""
    ticket = ticket_of(ctx, kind, _thing(ctx, kind, ref_id))
    before = ticket.owner
    ticket.owner, ticket.owner_since = owner, ctx.now
    _log(ctx, ticket, "assign", f"owner {before or 'none'} -> {owner}" + (f": {reason}" if reason else ""))
    ctx.session.flush()
    return ticket_json(ctx, ticket)


def open_review_task(ctx: DeskCtx, review: Review) -> ServiceTicket:
    """A 差评 (1-2 stars): a follow-up task for cs, due in AFTERSALES_BAD_REVIEW_FOLLOW_UP_HOURS."""
    ticket = ticket_of(ctx, REVIEW, review)
    _log(ctx, ticket, "note", f"{review.stars}-star review: follow up with the buyer")
    return ticket


def read(ctx: DeskCtx, kind: str, ref_id: str) -> dict:
    thing = _thing(ctx, kind, ref_id)
    ticket = ctx.session.get(ServiceTicket, (kind, thing.id))
    if ticket is None:  # opened before the tickets existed: shown as it would be, written on first change
        ticket = ServiceTicket(
            kind=kind,
            ref_id=thing.id,
            shop_id=thing.shop_id,
            buyer_id=thing.buyer_id,
            order_id=thing.order_id,
            opened_at=thing.created_at,
        )
    return ticket_json(ctx, ticket)


# Clocks ------------------------------------------------------------------------------------------
def dues(settings: Settings, opened_at: datetime, kind: str = CASE) -> dict[str, datetime]:
    opened = aware(opened_at)
    if kind == REVIEW:
        return {"follow_up": opened + timedelta(hours=settings.bad_review_follow_up_hours)}
    return {
        "first_response": opened + timedelta(minutes=settings.first_response_minutes),
        "solution": opened + timedelta(hours=settings.solution_hours),
        "resolution": opened + timedelta(hours=settings.resolution_hours),
    }


def clocks(ctx: DeskCtx, ticket: ServiceTicket) -> list[dict[str, Any]]:
    out = []
    for milestone, due in dues(ctx.settings, ticket.opened_at, ticket.kind).items():
        done = aware(getattr(ticket, STAMPS[milestone]))
        left = None if done else int((due - ctx.now).total_seconds())
        out.append(
            {
                "milestone": milestone,
                "due_at": due,
                "met_at": done,
                "seconds_left": left,
                "breached": (done > due) if done else left < 0,  # type: ignore[operator]
            }
        )
    return out


def ticket_json(ctx: DeskCtx, ticket: ServiceTicket) -> dict:
    entries = (
        ctx.session.execute(
            sa.select(FollowUp)
            .where(FollowUp.kind == ticket.kind, FollowUp.ref_id == ticket.ref_id)
            .order_by(FollowUp.at, FollowUp.id)
        )
        .scalars()
        .all()
    )
    return {
        "kind": ticket.kind,
        f"{ticket.kind}_id": ticket.ref_id,
        "shop_id": ticket.shop_id,
        "buyer_id": ticket.buyer_id,
        "order_id": ticket.order_id,
        "owner": ticket.owner,
        "owner_since": ticket.owner_since,
        "opened_at": ticket.opened_at,
        "clocks": clocks(ctx, ticket),
        "follow_ups": [
            {"entry": f.entry, "channel": f.channel, "text": f.text, "at": f.at, "by": f.by} for f in entries
        ],
    }


def open_clocks(ctx: DeskCtx, *, where: Any = None, limit: int = 500) -> list[dict[str, Any]]:
    """The next running service clock of each unresolved ticket (the SLA board); `where`: the
    caller's tenancy condition on ServiceTicket (None: every shop)."""
    stmt = sa.select(ServiceTicket).where(ServiceTicket.resolved_at.is_(None)).order_by(ServiceTicket.opened_at)
    if where is not None:
        stmt = stmt.where(where)
    items = []
    for t in ctx.session.execute(stmt.limit(limit)).scalars():
        for c in clocks(ctx, t):
            if c["met_at"] is None:
                items.append(
                    {
                        "kind": f"{t.kind}.{c['milestone']}",
                        "id": t.ref_id,
                        "shop_id": t.shop_id,
                        "owner": t.owner,
                        "due_at": c["due_at"],
                        "seconds_left": c["seconds_left"],
                        "breached": c["breached"],
                    }
                )
                break  # the next milestone due is the one that matters
    return items


def breached(ctx: DeskCtx, *, limit: int = 500) -> list[tuple[str, str, str]]:
    """(kind, ref_id, milestone) of every unmet clock past due and not yet escalated."""
    stmt = (
        sa.select(ServiceTicket)
        .where(ServiceTicket.resolved_at.is_(None))
        .order_by(ServiceTicket.opened_at)
        .limit(limit)
    )
    tickets = ctx.session.execute(stmt).scalars().all()
    done = {
        tuple(row)
        for row in ctx.session.execute(
            sa.select(ServiceEscalation.kind, ServiceEscalation.ref_id, ServiceEscalation.milestone).where(
                ServiceEscalation.ref_id.in_([t.ref_id for t in tickets])
            )
        )
    }
    out = []
    for t in tickets:
        for c in clocks(ctx, t):
            key = (t.kind, t.ref_id, c["milestone"])
            if c["met_at"] is None and c["breached"] and key not in done:
                out.append(key)
    return out


def escalate(ctx: DeskCtx, kind: str, ref_id: str, milestone: str) -> bool:
    """Escalate a breached clock once: the escalation row's key decides."""
    ticket = ctx.session.get(ServiceTicket, (kind, ref_id))
    if ticket is None or ticket.resolved_at is not None:
        return False
    if (
        insert_ignore(
            ctx.session,
            ServiceEscalation.__table__,
            dict(kind=kind, ref_id=ref_id, milestone=milestone, at=ctx.now),
        )
        != 1
    ):
        return False
    due = dues(ctx.settings, ticket.opened_at, kind)[milestone]
    _log(ctx, ticket, "escalate", f"{milestone.replace('_', ' ')} due {iso(due)} breached: escalated")
    ctx.record(
        make_event(
            "aftersales.ServiceClockBreached",
            {
                "kind": kind,
                "ref_id": ref_id,
                "shop_id": ticket.shop_id,
                "order_id": ticket.order_id,
                "milestone": milestone,
                "owner": ticket.owner,
                "due_at": iso(due),
            },
        )
    )
    return True


def case_moved(ctx: DeskCtx, case: Case, *, action: str, status: str) -> None:
    """A case's transition answers its clocks: a decision is the first response and the solution,
    a final status the resolution."""
    met: tuple[str, ...] = ("first_response", "solution") if action in ("approve", "reject") else ()
    if status in ("closed", "rejected"):
        met += ("resolution",)
    if met:
        progress(ctx, CASE, case, met=met)


def complaint_acted(ctx: DeskCtx, complaint: Complaint, *, action: str) -> None:
    """A response is the first response and the solution; resolving also the resolution."""
    met = ("first_response", "solution") + (("resolution",) if action == "resolve" else ())
    progress(ctx, COMPLAINT, complaint, met=met)
