"""The shop's own record on an order: merchant notes and the contact log (who spoke to the buyer,
how, when, with what outcome). Never shown to the buyer; a phone written in the text is masked for
the roles that see only masked data (api/render.py)."""

from __future__ import annotations

from ..models import Order, OrderNote
from .transitions import OrdersCtx

NOTE = "note"
CONTACT = "contact"
CHANNELS = ("phone", "sms", "im", "email")
OUTCOMES = ("reached", "verified", "no_answer", "wrong_number", "refused", "callback_requested")


def add_note(ctx: OrdersCtx, order: Order, text: str) -> OrderNote:
    """A merchant note on the order (kind `note`), by the caller, now."""
    return _add(ctx, order, OrderNote(kind=NOTE, text=text.strip()[:500]))


def log_contact(ctx: OrdersCtx, order: Order, *, channel: str, outcome: str, text: str = "") -> OrderNote:
    """A contact with the buyer (kind `contact`): channel, outcome and what was said, by the caller."""
    return _add(ctx, order, OrderNote(kind=CONTACT, channel=channel, outcome=outcome, text=(text or "").strip()[:500]))


def _add(ctx: OrdersCtx, order: Order, entry: OrderNote) -> OrderNote:
    entry.order_id = order.id
    entry.at = ctx.now
    entry.by = ctx.actor.id
    ctx.session.add(entry)
    ctx.session.flush()
    return entry
