"""Payments (buyer): pay an order, list payments, one payment with its timeline."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from ecom_common.auth import current_principal, list_filter, requires
from ecom_common.db import UnitOfWork, is_unique_violation
from ecom_common.errors import Conflict, NotFound
from ecom_common.http import Blueprint, current_db
from ecom_common.idempotency import idempotent
from ecom_common.pagination import PageArgs, paginate
from ecom_common.schemas import MAX_INT, BodySchema, TimelineOut, UtcTime, page_of
from ecom_common.settings import settings_of
from ecom_common.usecase import Actor, Ctx, use_case

from .. import domain, gateways, operations, sandbox
from ..models import Payment
from ..settings import Settings

blp = Blueprint("payments", __name__)


class PaymentIn(BodySchema):
    order_id = fields.Str(required=True, validate=validate.Length(min=1, max=40))
    method = fields.Str(required=True, validate=validate.OneOf(domain.METHODS))
    card_number = fields.Str(
        validate=validate.Regexp(r"^[0-9]{12,19}$", error="12 to 19 digits"),
        metadata={"description": "card only; see the README for the test cards"},
    )
    amount_fen = fields.Int(
        validate=validate.Range(min=1, max=MAX_INT),
        metadata={"description": "optional; refused (422) unless it equals the payable amount"},
    )

    @validates_schema
    def _card_rules(self, data, **kwargs):
        if data.get("method") == "card" and not data.get("card_number"):
            raise ValidationError({"card_number": ["Missing data for required field."]})
        if data.get("method") in domain.WALLETS and data.get("card_number"):
            raise ValidationError({"card_number": ["Only for method card."]})
        if data.get("card_number") and not (
            data["card_number"] in sandbox.TEST_CARDS or domain.luhn_ok(data["card_number"])
        ):
            raise ValidationError({"card_number": ["Not a valid card number."]})


class PaymentTimelineEntry(TimelineOut):
    """A payment's timeline entry, read from billing's audit trail."""

    by = fields.Str(attribute="actor")
    status = fields.Str(allow_none=True, attribute="to_status", metadata={"description": "the status after the entry"})
    reason = fields.Str(allow_none=True, attribute="detail", metadata={"description": "why, e.g. a failure code"})


class PaymentOut(Schema):
    payment_id = fields.Str()
    order_id = fields.Str()
    shop_id = fields.Str()
    buyer_id = fields.Str()
    amount_fen = fields.Int()
    method = fields.Str()
    card_last4 = fields.Str(allow_none=True)
    status = fields.Str()
    intent_id = fields.Str()
    failure_code = fields.Str(allow_none=True)
    failure_reason = fields.Str(allow_none=True)
    created_at = UtcTime()
    succeeded_at = UtcTime(allow_none=True)
    failed_at = UtcTime(allow_none=True)


class PaymentDetailOut(PaymentOut):
    timeline = fields.List(fields.Nested(PaymentTimelineEntry))


class PaymentArgs(PageArgs):
    order_id = fields.Str()
    shop_id = fields.Str()
    status = fields.Str(validate=validate.OneOf(["pending", "succeeded", "failed"]))


PaymentPage = page_of(PaymentOut)


@blp.route("/payments", methods=["POST"])
@requires("buyer")
@idempotent()
@blp.arguments(PaymentIn)
@blp.response(201, PaymentOut)
def create_payment(args):
    """Pay an order's payable amount. The sandbox provider confirms asynchronously through the signed
    webhook; follow the payment with GET /payments/{id} or the billing.Payment* events. The order
    must await payment, and method `card` needs card_number (422)."""
    raw = gateways.orders().order(args["order_id"])
    if raw is None:
        raise NotFound("order not found")
    facts = domain.OrderFacts.from_orders_api(raw)
    copy = domain.OrderCopy(
        args["order_id"],
        facts.shop_id,
        facts.buyer_id,
        facts.payable_fen,
        raw.get("lines") or [],
        discounts=raw.get("discounts"),
    )
    with _order_copy_unit() as ctx:
        amount = operations.payable_amount(ctx, facts, amount_fen=args.get("amount_fen"))
        # Usually orders.OrderPlaced made the copy already, with its lines: then nothing is written.
        operations.remember_order(ctx, copy, source="http")
    charge = domain.Charge(facts.order_id, amount, args["method"], args.get("card_number"))
    try:
        with use_case(Settings) as ctx:
            payment, intent = operations.start_payment(ctx, facts, charge)
    except sa.exc.IntegrityError as exc:
        if not is_unique_violation(exc):
            raise
        raise Conflict(
            "another payment for this order started at the same time", {"order_id": ["payment pending"]}
        ) from exc
    gateways.payment_provider().confirm_later(intent)
    return payment


@contextmanager
def _order_copy_unit() -> Iterator[Ctx[Settings]]:
    """The transaction a payment checks the order and keeps billing's copy of it in, before its own
    (a payment may arrive before orders.OrderPlaced is consumed: the copy is made from orders' answer).

    Not the request's unit of work (`use_case`): the copy records no event and is not the request's
    change, so its commit must not mark the request's Idempotency-Key processed (a payment refused
    or lost after it would then be answered "already processed" on a retry, with no payment made),
    nor count as the request's write when a later step fails. Hence a bare UnitOfWork, with none of
    the participants the request enlisted, whose session alone commits."""
    db, principal = current_db(), current_principal()
    actor = Actor(principal.sub, tuple(sorted(principal.roles)))
    try:
        with UnitOfWork(db) as uow:
            yield Ctx(uow=uow, actor=actor, settings=settings_of(db.config, Settings))
            uow.session.commit()
    except sa.exc.IntegrityError as exc:
        if not is_unique_violation(exc):
            raise  # the event handler stored the copy at the same moment: fine


@blp.route("/payments", methods=["GET"])
@requires("buyer", "finance", "admin", "ops", "cs", "service")
@blp.arguments(PaymentArgs, location="query")
@blp.response(200, PaymentPage)
def list_payments(args):
    """Payments, newest first: a buyer sees their own, merchant staff their shop's."""
    stmt = sa.select(Payment).where(list_filter(Payment.shop_id, Payment.buyer_id, args.get("shop_id")))
    for key in ("order_id", "status"):
        if args.get(key):
            stmt = stmt.where(getattr(Payment, key) == args[key])
    with current_db().Session() as session:
        return paginate(session, stmt, [Payment.created_at, Payment.payment_id], args["limit"], args.get("cursor"))


@blp.route("/payments/<payment_id>", methods=["GET"])
@requires("buyer", "finance", "admin", "ops", "cs", "service")
@blp.response(200, PaymentDetailOut)
def get_payment(payment_id):
    with use_case(Settings) as ctx:
        return operations.payment_with_timeline(ctx, payment_id)
