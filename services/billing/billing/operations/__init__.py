"""billing's use cases, `verb(ctx, thing, ...)`, shared by the API views, the event handlers and the
jobs (ecom_common.usecase: the caller opens the unit of work and commits; nothing here commits).

Each step loads, asks the domain, writes with guarded (conditional) updates and records the events
of its transitions. Money moves are guarded twice: by conditional UPDATEs (`refunded_fen + :x <=
paid_fen`) and by unique keys (one succeeded refund per refund key, one ledger entry per (kind,
ref), one payout per ledger entry). A guarded update that finds the row changed under it raises
`LostRace`: the consumer retries the whole step, and the retry sees the other change.

One module per resource (`orders`, `payments`, `refunds`, `settlement`, `invoices`, `goods`,
`reconciliation`); callers use the names below (`from . import operations`, then
`operations.verb(ctx, ...)`). What they read and append to (audit trail, ledger, locked order rows)
is in ../books.py.
"""

from __future__ import annotations

from .goods import GoodsFact, record_goods
from .invoices import issue_invoice, refuse_invoice, request_invoice
from .orders import (
    cancel_order,
    mark_cancelled,
    payable_amount,
    remember_order,
)
from .payments import apply_payment_outcome, payment_with_timeline, receive_webhook, start_payment
from .reconciliation import record_three_way
from .refunds import execute_refund, refund_for_case, refund_in_full, refuse, visible_refund
from .settlement import pay_out, schedule_settlement, set_commission_rates, settle_shop, shops_due

__all__ = [
    "GoodsFact",
    "apply_payment_outcome",
    "cancel_order",
    "execute_refund",
    "issue_invoice",
    "mark_cancelled",
    "pay_out",
    "payable_amount",
    "payment_with_timeline",
    "receive_webhook",
    "refund_for_case",
    "refund_in_full",
    "refuse",
    "refuse_invoice",
    "record_goods",
    "record_three_way",
    "remember_order",
    "request_invoice",
    "schedule_settlement",
    "set_commission_rates",
    "settle_shop",
    "shops_due",
    "start_payment",
    "visible_refund",
]
