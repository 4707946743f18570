"""Invoices (发票): the buyer requests one on a paid order, finance issues or refuses it."""

from __future__ import annotations

import sqlalchemy as sa
from marshmallow import Schema, fields, validate

from ecom_common.auth import list_filter, requires
from ecom_common.db import is_unique_violation
from ecom_common.errors import Conflict
from ecom_common.http import Blueprint, current_db
from ecom_common.idempotency import idempotent
from ecom_common.pagination import PageArgs, paginate
from ecom_common.schemas import BodySchema, UtcTime, page_of
from ecom_common.usecase import use_case

from .. import invoicing, operations
from ..invoicing import InvoiceTitle
from ..models import Invoice
from ..settings import Settings

blp = Blueprint("invoices", __name__)

INVOICE_READERS = ("buyer", "finance", "admin", "ops", "cs", "service")
INVOICE_DECIDERS = ("finance", "admin")


def _tax_number(value: str) -> None:
    """The check character of an 18-character code (the pattern says the rest)."""
    if why := invoicing.tax_number_problem(value):
        raise validate.ValidationError(why)


class InvoiceIn(BodySchema):
    order_id = fields.Str(required=True, validate=validate.Length(min=1, max=40))
    title_type = fields.Str(required=True, validate=validate.OneOf(invoicing.TITLE_TYPES))
    title = fields.Str(required=True, validate=validate.Length(min=1, max=invoicing.TITLE_MAX))
    tax_number = fields.Str(
        validate=[validate.Regexp(invoicing.TAX_NUMBER_PATTERN, error="15, 18 or 20 characters"), _tax_number],
        metadata={
            "description": "company titles only: the 18-char unified social credit code (its 18th character a "
            "check character), or an older 15/20-char tax number"
        },
    )


class InvoiceIssueIn(BodySchema):
    invoice_no = fields.Str(
        required=True,
        validate=validate.Regexp(invoicing.INVOICE_NO_PATTERN, error="8 or 20 digits"),
        metadata={"description": "发票号码: 8 or 20 digits"},
    )


class InvoiceRefuseIn(BodySchema):
    reason = fields.Str(required=True, validate=validate.Length(min=1, max=invoicing.REASON_MAX))


class InvoiceOut(Schema):
    invoice_id = fields.Str()
    order_id = fields.Str()
    shop_id = fields.Str()
    buyer_id = fields.Str()
    title_type = fields.Str()
    title = fields.Str()
    tax_number = fields.Str(allow_none=True)
    status = fields.Str()
    invoice_no = fields.Str(allow_none=True)
    amount_fen = fields.Int(allow_none=True)
    refused_reason = fields.Str(allow_none=True)
    requested_at = UtcTime()
    decided_at = UtcTime(allow_none=True)
    decided_by = fields.Str(allow_none=True)


class InvoiceArgs(PageArgs):
    order_id = fields.Str(validate=validate.Length(max=40))
    shop_id = fields.Str(validate=validate.Length(max=64))
    status = fields.Str(validate=validate.OneOf(list(invoicing.INVOICE_TRANSITIONS)))
    title_type = fields.Str(validate=validate.OneOf(invoicing.TITLE_TYPES))


InvoicePage = page_of(InvoiceOut)


@blp.route("/invoices", methods=["POST"])
@requires("buyer")
@idempotent()
@blp.arguments(InvoiceIn)
@blp.response(201, InvoiceOut)
@blp.alt_response(200, schema=InvoiceOut, description="the same request, still open")
def request_invoice(args):
    """Request an invoice on your paid order (one open request or issued invoice per order; the
    same title asked again while it is open answers that request, 200). Rules beyond the schema
    (422): a company title needs its tax number, a personal one takes none; an 18-character tax
    number's check character."""
    title = InvoiceTitle(args["title_type"], args["title"], args.get("tax_number"))
    try:
        with use_case(Settings) as ctx:
            invoice, created = operations.request_invoice(ctx, args["order_id"], title)
    except sa.exc.IntegrityError as exc:
        if not is_unique_violation(exc):
            raise
        raise Conflict(
            "another invoice request for this order arrived at the same time", {"order_id": ["open"]}
        ) from exc
    return invoice, 201 if created else 200


@blp.route("/invoices", methods=["GET"])
@requires(*INVOICE_READERS)
@blp.arguments(InvoiceArgs, location="query")
@blp.response(200, InvoicePage)
def list_invoices(args):
    """Invoices, newest request first: a buyer sees their own, merchant staff their shop's."""
    stmt = sa.select(Invoice).where(list_filter(Invoice.shop_id, Invoice.buyer_id, args.get("shop_id")))
    for key in ("order_id", "status", "title_type"):
        if args.get(key):
            stmt = stmt.where(getattr(Invoice, key) == args[key])
    with current_db().Session() as session:
        return paginate(session, stmt, [Invoice.requested_at, Invoice.invoice_id], args["limit"], args.get("cursor"))


@blp.route("/invoices/<invoice_id>/issue", methods=["POST"])
@requires(*INVOICE_DECIDERS)
@idempotent()
@blp.arguments(InvoiceIssueIn)
@blp.response(200, InvoiceOut)
def issue_invoice(args, invoice_id):
    """Issue the requested invoice under its number, for what the buyer paid less refunds
    (billing.InvoiceIssued). The same number again answers the invoice unchanged."""
    try:
        with use_case(Settings) as ctx:
            return operations.issue_invoice(ctx, invoice_id, args["invoice_no"])
    except sa.exc.IntegrityError as exc:
        if not is_unique_violation(exc):
            raise
        raise Conflict("this invoice number was used at the same time", {"invoice_no": ["already used"]}) from exc


@blp.route("/invoices/<invoice_id>/refuse", methods=["POST"])
@requires(*INVOICE_DECIDERS)
@idempotent()
@blp.arguments(InvoiceRefuseIn)
@blp.response(200, InvoiceOut)
def refuse_invoice(args, invoice_id):
    """Refuse the request with a reason (billing.InvoiceRefused); the buyer may ask again."""
    with use_case(Settings) as ctx:
        return operations.refuse_invoice(ctx, invoice_id, args["reason"])
