"""Invoices (发票): a buyer's request on a paid order, finance's decision (issued with its number
and amount, or refused with a reason). The rules are in ../invoicing.py.

Guarded twice: a partial unique index allows one `requested`/`issued` invoice per order, and each
decision is a conditional UPDATE (`WHERE status = 'requested'`). Asking again for what was already
done (the same title while the request is open, the same number, the same reason) answers the
invoice unchanged; anything else on a decided invoice is a 409.
"""

from __future__ import annotations

import sqlalchemy as sa

from ecom_common import ids
from ecom_common.clock import iso
from ecom_common.errors import ConcurrentChange, Conflict, NotFound
from ecom_common.events import make_event
from ecom_common.usecase import Ctx

from .. import books, invoicing
from ..books import audit
from ..invoicing import InvoiceStatus, InvoiceTitle, InvoiceTitleError
from ..models import BillingOrder, Invoice
from ..settings import Settings


def request_invoice(ctx: Ctx[Settings], order_id: str, title: InvoiceTitle) -> tuple[Invoice, bool]:
    """The buyer's request on their paid order; (invoice, created). The same title asked again
    while the request is open is that request (created False)."""
    problems = title.problems()
    if problems:
        raise InvoiceTitleError("the invoice title is not valid", problems)
    order = ctx.session.get(BillingOrder, order_id)
    if order is None:
        raise NotFound("order not found")
    ctx.require_visible(None, order.buyer_id, "order")
    active = ctx.session.execute(
        sa.select(Invoice).where(Invoice.order_id == order_id, Invoice.status.in_(InvoiceStatus.ACTIVE))
    ).scalar_one_or_none()
    if active is not None:
        same = (active.title_type, active.title, active.tax_number) == (title.title_type, title.title, title.tax_number)
        if active.status == InvoiceStatus.REQUESTED and same:
            return active, False
        raise Conflict(
            f"the order already has an invoice {active.status}: {active.invoice_id}",
            {"order_id": [f"invoice {active.status}"]},
        )
    invoicing.invoice_amount(order.paid_fen, order.refunded_fen)  # 409 when nothing is left to invoice
    invoice = Invoice(
        invoice_id=ids.new_id(invoicing.INVOICE_ID, ctx.now),
        order_id=order_id,
        shop_id=order.shop_id,
        buyer_id=order.buyer_id or ctx.actor.id,
        title_type=title.title_type,
        title=title.title,
        tax_number=title.tax_number,
        status=InvoiceStatus.REQUESTED,
        requested_at=ctx.now,
    )
    ctx.session.add(invoice)
    ctx.session.flush()  # the partial unique index speaks now (IntegrityError: the caller's 409)
    audit(ctx, ("invoice", invoice.invoice_id), "requested", move=(None, InvoiceStatus.REQUESTED), detail=title.title)
    return invoice, True


def _decidable(ctx: Ctx[Settings], invoice_id: str) -> Invoice:
    invoice = ctx.session.execute(
        sa.select(Invoice)
        .where(Invoice.invoice_id == invoice_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()
    if invoice is None:
        raise NotFound("invoice not found")
    ctx.require_visible(invoice.shop_id, None, "invoice")
    return invoice


def _move(ctx: Ctx[Settings], invoice: Invoice, **values: object) -> None:
    """requested -> issued | refused, only if still requested (another finance user may have won)."""
    done = ctx.session.execute(
        sa.update(Invoice)
        .where(Invoice.invoice_id == invoice.invoice_id, Invoice.status == InvoiceStatus.REQUESTED)
        .values(decided_at=ctx.now, decided_by=ctx.actor.id[:120], **values)
        .execution_options(synchronize_session=False)
    ).rowcount
    if done != 1:
        raise ConcurrentChange("the invoice was decided meanwhile; reload it", {"status": ["changed"]})
    ctx.session.refresh(invoice)


def issue_invoice(ctx: Ctx[Settings], invoice_id: str, invoice_no: str) -> Invoice:
    """Finance issues the invoice under `invoice_no` for what the buyer paid less what billing has
    refunded now -> billing.InvoiceIssued."""
    invoice = _decidable(ctx, invoice_id)
    if invoicing.repeat_matches(invoice.status, InvoiceStatus.ISSUED, invoice.invoice_no == invoice_no):
        return invoice
    invoicing.check_invoice_transition(invoice.status, InvoiceStatus.ISSUED)
    taken = ctx.session.execute(sa.select(Invoice.invoice_id).where(Invoice.invoice_no == invoice_no)).first()
    if taken is not None:
        raise Conflict(f"invoice number {invoice_no} is already used", {"invoice_no": ["already used"]})
    order = books.lock_order(ctx, invoice.order_id)
    assert order is not None  # an invoice is only requested on an order billing knows
    amount = invoicing.invoice_amount(order.paid_fen, order.refunded_fen)
    _move(ctx, invoice, status=InvoiceStatus.ISSUED, invoice_no=invoice_no, amount_fen=amount)
    audit(
        ctx,
        ("invoice", invoice_id),
        "issued",
        move=(InvoiceStatus.REQUESTED, InvoiceStatus.ISSUED),
        detail=f"{invoice_no} {amount} fen",
    )
    ctx.record(
        make_event(
            "billing.InvoiceIssued",
            {
                "order_id": invoice.order_id,
                "shop_id": invoice.shop_id,
                "invoice_id": invoice_id,
                "buyer_id": invoice.buyer_id,
                "invoice_no": invoice_no,
                "amount_fen": amount,
                "title_type": invoice.title_type,
                "title": invoice.title,
                "issued_at": iso(ctx.now),
            },
        )
    )
    return invoice


def refuse_invoice(ctx: Ctx[Settings], invoice_id: str, reason: str) -> Invoice:
    """Finance refuses the request, saying why -> billing.InvoiceRefused; the buyer may ask again."""
    invoice = _decidable(ctx, invoice_id)
    if invoicing.repeat_matches(invoice.status, InvoiceStatus.REFUSED, invoice.refused_reason == reason):
        return invoice
    invoicing.check_invoice_transition(invoice.status, InvoiceStatus.REFUSED)
    _move(ctx, invoice, status=InvoiceStatus.REFUSED, refused_reason=reason)
    audit(ctx, ("invoice", invoice_id), "refused", move=(InvoiceStatus.REQUESTED, InvoiceStatus.REFUSED), detail=reason)
    ctx.record(
        make_event(
            "billing.InvoiceRefused",
            {
                "order_id": invoice.order_id,
                "shop_id": invoice.shop_id,
                "invoice_id": invoice_id,
                "buyer_id": invoice.buyer_id,
                "reason": reason,
            },
        )
    )
    return invoice
