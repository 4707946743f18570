"""orders' service layer: every use case as `verb(ctx, order, ...)`, for the API views, the event
handlers and the jobs alike. The caller opens the unit of work and commits it; nothing here commits.
Each transition records the event it causes right where it happens.

One module per kind of use case, all reached as `operations.<verb>`:

    transitions.py  the context, reading an order, the guarded move + timeline, cancel, complete
    placing.py      place: the buyer's lines priced by catalog, shipping quoted by logistics
    decisions.py    review (one, or one item of a bulk review), cancel_by_caller, confirm_receipt
    audit.py        a shop's audit rules, and the audit run on a reserved order
    address.py      the address changed before dispatch, the audit run again
    notes.py        merchant notes and the contact log (never shown to the buyer)
    sla.py          the open clocks of GET /sla (unpaid close timer, 30-min review)
    search.py       the list's filters (phone by last four digits or keyed hash, name, SKU)
    peer_events.py  what the peers' events do: payment, shortage, ship, deliver, a case's cancel
    jobs.py         which orders are due, and one order's step of each job
"""

from __future__ import annotations

from .address import change_address
from .audit import ShopRules, audit_reserved, audit_rules, seed_rules, set_audit_rules
from .decisions import cancel_by_caller, confirm_receipt, review, review_one
from .jobs import auto_confirm, close_unpaid, confirm_due, unpaid_due
from .notes import add_note, log_contact
from .peer_events import Parcel, apply_payment, apply_shortage, cancel_for_case, deliver, ship
from .placing import Priced, place
from .search import order_filters, phone_hash, searchable_receiver
from .sla import open_clocks
from .transitions import OrdersCtx, cancel, complete, discounts_payload, find, get, load_order, move, note

__all__ = [
    "discounts_payload",
    "OrdersCtx",
    "Parcel",
    "Priced",
    "ShopRules",
    "add_note",
    "apply_payment",
    "apply_shortage",
    "audit_reserved",
    "audit_rules",
    "auto_confirm",
    "cancel",
    "cancel_by_caller",
    "change_address",
    "cancel_for_case",
    "close_unpaid",
    "complete",
    "confirm_due",
    "confirm_receipt",
    "deliver",
    "find",
    "get",
    "load_order",
    "log_contact",
    "move",
    "note",
    "open_clocks",
    "order_filters",
    "phone_hash",
    "place",
    "searchable_receiver",
    "review",
    "review_one",
    "seed_rules",
    "set_audit_rules",
    "ship",
    "unpaid_due",
]
