"""Buyer notifications, the service layer: `verb(ctx, ...)` like operations.py, used by the
notification handlers, the complaint use cases, the `send-notifications` job and the views.

A message is queued once per fact (`Notice.key`, the unique `dedupe_key`): a shipment, a refund,
an answer to a complaint. The job then delivers what is due:

    claim    UPDATE ... SET not_before = now + lease WHERE id = :id AND status = 'pending'
             AND not_before <= now  (one replica wins; the other sees the lease)
    reach    the order from orders (the buyer and the receiver's phone), outside any transaction
    deliver  marketing: opt-out -> suppressed, quiet hours -> held to their end, weekly cap ->
             suppressed; then the channel: accepted -> sent (phone masked), refused -> retried
             after a back-off, parked with the error after the last attempt

Every step writes the message's timeline. Nothing here commits.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from ecom_common.clock import aware, iso
from ecom_common.db import insert_ignore
from ecom_common.errors import BadGateway, IllegalTransition, NotFound, ServiceUnavailable
from ecom_common.ids import new_id
from ecom_common.privacy import mask_phone
from ecom_common.usecase import Ctx

from . import channels, messages
from .messages import MARKETING, TEMPLATES, MessageStatus
from .models import BuyerPreference, Message, MessageEvent, SandboxSwitch
from .settings import Settings

NotifyCtx = Ctx[Settings]

# How long a replica owns a message it claimed (it reaches orders and the channel meanwhile).
LEASE = timedelta(seconds=60)


@dataclass(frozen=True)
class Notice:
    """What to tell a buyer: a template, its variables and the fact it is about (`key`)."""

    template: str
    key: str
    variables: dict[str, Any]
    order_id: str | None = None
    shop_id: str | None = None
    buyer_id: str | None = None
    delay: timedelta = field(default=timedelta(0))
    event_id: str | None = None


@dataclass(frozen=True)
class Recipient:
    """Who a message reaches, as orders knows them; `error` when they could not be looked up."""

    buyer_id: str | None = None
    shop_id: str | None = None
    phone: str | None = None
    error: str | None = None


def _note(ctx: NotifyCtx, m: Message, action: str, reason: str | None = None) -> None:
    ctx.session.add(
        MessageEvent(message_id=m.id, action=action, status=m.status, at=ctx.now, by=ctx.actor.id, reason=reason)
    )


def enqueue(ctx: NotifyCtx, notice: Notice) -> str | None:
    """Queue the message of `notice` unless its key was queued before; its id, or None."""
    template = TEMPLATES[notice.template]
    template.render(notice.variables)  # a missing variable fails here, in the handler, not at 3 am
    now = ctx.now
    message_id = new_id("N", now)
    inserted = insert_ignore(
        ctx.session,
        Message.__table__,
        dict(
            id=message_id,
            dedupe_key=notice.key[:200],
            buyer_id=notice.buyer_id,
            shop_id=notice.shop_id,
            order_id=notice.order_id,
            template=template.name,
            category=template.category,
            channel=channels.SMS,
            variables=notice.variables,
            status=MessageStatus.PENDING,
            attempts=0,
            not_before=now + notice.delay,
            source=ctx.actor.id,
            event_id=notice.event_id,
            created_at=now,
            updated_at=now,
        ),
    )
    if not inserted:
        return None
    ctx.session.add(
        MessageEvent(
            message_id=message_id,
            action="queue",
            status=MessageStatus.PENDING,
            at=now,
            by=ctx.actor.id,
            reason=f"{notice.key}" + (f", due {iso(now + notice.delay)}" if notice.delay else ""),
        )
    )
    return message_id


# Delivery ----------------------------------------------------------------------------------------
def due(ctx: NotifyCtx, *, limit: int = 200) -> list[str]:
    """Ids of pending messages whose time has come, oldest first."""
    return list(
        ctx.session.execute(
            sa.select(Message.id)
            .where(Message.status == MessageStatus.PENDING, Message.not_before <= ctx.now)
            .order_by(Message.not_before, Message.id)
            .limit(limit)
        )
        .scalars()
        .all()
    )


def claim(ctx: NotifyCtx, message_id: str) -> Message | None:
    """Take the message for LEASE (None: another replica has it, or it is no longer due)."""
    won = ctx.session.execute(
        sa.update(Message)
        .where(Message.id == message_id, Message.status == MessageStatus.PENDING, Message.not_before <= ctx.now)
        .values(not_before=ctx.now + LEASE, updated_at=ctx.now)
        .execution_options(synchronize_session=False)
    ).rowcount
    return ctx.session.get(Message, message_id) if won == 1 else None


def reach(order_id: str | None, buyer_id: str | None, orders: Any) -> Recipient:
    """The buyer of the order and the receiver's phone, from orders (no transaction open). A message
    about no order (a coupon) reaches the buyer at the phone of their newest order."""
    try:
        order_id = order_id or (orders.latest_order_id(buyer_id) if buyer_id else None)
        if not order_id:
            return Recipient(error="no order to reach the buyer through")
        order = orders.get_order(order_id)
    except (ServiceUnavailable, BadGateway) as exc:
        return Recipient(error=f"orders: {exc}")
    if order is None:
        return Recipient(error=f"order {order_id} unknown to orders")
    return Recipient(buyer_id=order.buyer_id or None, shop_id=order.shop_id, phone=order.phone)


def opted_out(session: sa.orm.Session, buyer_id: str | None) -> bool:
    pref = session.get(BuyerPreference, buyer_id) if buyer_id else None
    return bool(pref and pref.marketing_opt_out)


def marketing_sent_this_week(ctx: NotifyCtx, buyer_id: str) -> int:
    return ctx.session.execute(
        sa.select(sa.func.count())
        .select_from(Message)
        .where(
            Message.buyer_id == buyer_id,
            Message.category == MARKETING,
            Message.status == MessageStatus.SENT,
            Message.sent_at > ctx.now - timedelta(days=7),
        )
    ).scalar_one()


def deliver(ctx: NotifyCtx, message_id: str, *, recipient: Recipient) -> str:
    """Apply the rules and hand the message to its channel; the status it ends in."""
    m = ctx.session.get(Message, message_id)
    if m is None or m.status != MessageStatus.PENDING:
        return m.status if m else "missing"
    m.buyer_id = m.buyer_id or recipient.buyer_id
    if m.order_id:  # a platform coupon reached through some shop's order stays the platform's
        m.shop_id = m.shop_id or recipient.shop_id
    m.updated_at = ctx.now
    if recipient.error:
        return _failed(ctx, m, recipient.error)
    if m.category == MARKETING:
        held = _marketing_rules(ctx, m)
        if held:
            return m.status
    m.body = TEMPLATES[m.template].render(m.variables)
    channel = channels.SandboxSmsProvider(ctx.now, ctx.settings.sms_sandbox_fail)
    try:
        channel.send(ctx.session, message_id=m.id, phone=recipient.phone, body=m.body)
    except channels.ChannelError as exc:
        return _failed(ctx, m, str(exc))
    m.attempts += 1
    m.status = MessageStatus.SENT
    m.sent_at = ctx.now
    m.phone_masked = mask_phone(recipient.phone)
    m.last_error = None
    _note(ctx, m, "send", f"{channel.name} to {m.phone_masked}, attempt {m.attempts}")
    return m.status


def _marketing_rules(ctx: NotifyCtx, m: Message) -> bool:
    """Opt-out, quiet hours, weekly cap: True when the message does not go out now."""
    s = ctx.settings
    if opted_out(ctx.session, m.buyer_id):
        m.status = MessageStatus.SUPPRESSED
        _note(ctx, m, "suppress", "the buyer opted out of marketing messages")
        return True
    until = messages.quiet_until(ctx.now, s.quiet_window, s.utc_offset_hours)
    if until is not None:
        m.not_before = until
        _note(ctx, m, "hold", f"quiet hours {s.quiet_hours}: held until {iso(until)}")
        return True
    if m.buyer_id and marketing_sent_this_week(ctx, m.buyer_id) >= s.marketing_weekly_max:
        m.status = MessageStatus.SUPPRESSED
        _note(ctx, m, "suppress", f"{s.marketing_weekly_max} marketing messages already sent in 7 days")
        return True
    return False


def _failed(ctx: NotifyCtx, m: Message, error: str) -> str:
    m.attempts += 1
    m.last_error = error[:1000]
    if m.attempts >= ctx.settings.notify_max_attempts:
        m.status = MessageStatus.PARKED
        _note(ctx, m, "park", f"attempt {m.attempts} failed, parked: {error}")
    else:
        m.not_before = ctx.now + messages.backoff(m.attempts, ctx.settings.notify_retry_base_seconds)
        _note(ctx, m, "attempt_failed", f"attempt {m.attempts} failed: {error}; next at {iso(aware(m.not_before))}")
    return m.status


# What people change ------------------------------------------------------------------------------
def set_preference(ctx: NotifyCtx, *, marketing: bool) -> BuyerPreference:
    """The buyer (ctx.actor) takes or refuses marketing messages."""
    pref = ctx.session.get(BuyerPreference, ctx.actor.id)
    if pref is None:
        pref = BuyerPreference(buyer_id=ctx.actor.id, marketing_opt_out=not marketing, updated_at=ctx.now)
        ctx.session.add(pref)
    else:
        pref.marketing_opt_out = not marketing
        pref.updated_at = ctx.now
    ctx.session.flush()
    return pref


def switch_sandbox(ctx: NotifyCtx, *, fail: bool, error: str | None) -> SandboxSwitch:
    """Tell the sandbox SMS provider to fail every message (with `error`) or to accept again."""
    switch = ctx.session.get(SandboxSwitch, channels.SMS)
    if switch is None:
        switch = SandboxSwitch(name=channels.SMS, fail=fail, updated_at=ctx.now, updated_by=ctx.actor.id)
        ctx.session.add(switch)
    switch.fail, switch.error, switch.updated_at, switch.updated_by = fail, error, ctx.now, ctx.actor.id
    ctx.session.flush()
    return switch


def requeue(ctx: NotifyCtx, message_id: str) -> Message:
    """cs sends a parked message again (attempts start over)."""
    m = ctx.session.get(Message, message_id)
    if m is None:
        raise NotFound("message not found")
    ctx.require_visible(m.shop_id, None, "message")
    if m.status != MessageStatus.PARKED:
        raise IllegalTransition("message", m.status, "requeue")
    m.status, m.attempts, m.not_before, m.updated_at = MessageStatus.PENDING, 0, ctx.now, ctx.now
    _note(ctx, m, "requeue", f"requeued by {ctx.actor.id}")
    ctx.session.flush()
    return m
