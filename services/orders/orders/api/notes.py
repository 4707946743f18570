"""The shop's record on an order, under /orders/<id>: merchant notes and the contact log. The entries
show on the order (GET /orders/<id>: `staff_notes`) to the shop's staff, never to the buyer."""

from __future__ import annotations

from ecom_common.auth import requires
from ecom_common.http import Blueprint
from ecom_common.idempotency import idempotent
from ecom_common.usecase import use_case

from .. import operations
from ..settings import Settings
from .render import note_out
from .schemas import ContactIn, NoteIn, StaffNoteOut

blp = Blueprint("order_notes", __name__)


@blp.route("/orders/<order_id>/notes", methods=["POST"])
@requires("ops", "cs", "warehouse", "admin")
@idempotent(required=True)
@blp.arguments(NoteIn)
@blp.response(201, StaffNoteOut)
def add_note(args, order_id):
    """A merchant note on the order (the shop's staff only; the buyer never sees it). A note of only
    spaces is 422."""
    with use_case(Settings) as ctx:
        order = operations.get(ctx, order_id)
        return note_out(operations.add_note(ctx, order, args["text"]), full=True)


@blp.route("/orders/<order_id>/contacts", methods=["POST"])
@requires("ops", "cs", "admin")
@idempotent(required=True)
@blp.arguments(ContactIn)
@blp.response(201, StaffNoteOut)
def log_contact(args, order_id):
    """A contact with the buyer: channel, outcome, what was said; who and when are the caller and now."""
    with use_case(Settings) as ctx:
        order = operations.get(ctx, order_id)
        entry = operations.log_contact(
            ctx, order, channel=args["channel"], outcome=args["outcome"], text=args.get("note") or ""
        )
        return note_out(entry, full=True)
