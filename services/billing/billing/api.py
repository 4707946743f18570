"""billing HTTP API: flask-smorest blueprint and marshmallow schemas.

Payments (buyer), the sandbox provider's signed webhook, and the money reports (finance, admin, a
shop's ops). Nobody sees another shop's money: it answers 404.
"""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa
from flask import request
from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate, validates_schema

from ecom_common import bodies
from ecom_common.auth import current_principal, list_filter, not_found_unless, requires, shop_or_all, visible
from ecom_common.db import is_unique_violation, session_scope
from ecom_common.errors import BadRequest, Conflict, NotFound, Problem, UnprocessableEntity
from ecom_common.http import MAX_INT, Blueprint, BodySchema, PageArgs, UtcTime, current_config, current_db, paginate
from ecom_common.idempotency import idempotent

from . import domain, reports, settings
from . import operations as ops
from .gateways import orders_gateway, payment_provider
from .models import (
    AuditEntry,
    BillingOrder,
    CommissionRate,
    LedgerEntry,
    OrderLine,
    Payment,
    Payout,
    Refund,
    Settlement,
    WebhookReceipt,
)

blp = Blueprint(
    "billing", __name__, url_prefix="/api/v1", description="Payments, refunds, the merchant ledger and T+7 settlement"
)

MONEY_READERS = ("finance", "admin", "ops")


def money_scope(requested: str | None) -> str | None:
    """The shop a money read covers (ecom_common.auth.shop_or_all): merchant staff their own,
    platform roles and finance without a shop the one asked for, or all."""
    return shop_or_all(requested)


# Schemas -------------------------------------------------------------------------------------------


class PaymentCreateSchema(BodySchema):
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
            data["card_number"] in domain.TEST_CARDS or domain.luhn_ok(data["card_number"])
        ):
            raise ValidationError({"card_number": ["Not a valid card number."]})


class TimelineSchema(Schema):
    """The timeline entry every service returns (read from the billing audit trail)."""

    at = UtcTime()
    by = fields.Str(attribute="actor")
    action = fields.Str()
    from_status = fields.Str(allow_none=True)
    status = fields.Str(allow_none=True, attribute="to_status", metadata={"description": "the status after the entry"})
    reason = fields.Str(allow_none=True, attribute="detail", metadata={"description": "why, e.g. a failure code"})


class PaymentSchema(Schema):
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


class PaymentDetailSchema(PaymentSchema):
    timeline = fields.List(fields.Nested(TimelineSchema))


class PaymentListArgs(PageArgs):
    order_id = fields.Str()
    shop_id = fields.Str()
    status = fields.Str(validate=validate.OneOf(["pending", "succeeded", "failed"]))


class PaymentPageSchema(Schema):
    items = fields.List(fields.Nested(PaymentSchema))
    next_cursor = fields.Str(allow_none=True)


class RefundSchema(Schema):
    refund_id = fields.Str()
    order_id = fields.Str()
    shop_id = fields.Str()
    payment_id = fields.Str(allow_none=True)
    case_id = fields.Str(allow_none=True)
    kind = fields.Str()
    status = fields.Str()
    amount_fen = fields.Int()
    requested_fen = fields.Int()
    reason = fields.Str(allow_none=True)
    route = fields.Str(allow_none=True)
    after_settlement = fields.Bool()
    lines = fields.Raw(allow_none=True)
    created_at = UtcTime()


class RefundListArgs(PageArgs):
    order_id = fields.Str()
    case_id = fields.Str()
    shop_id = fields.Str()
    status = fields.Str(validate=validate.OneOf(["succeeded", "failed"]))


class RefundPageSchema(Schema):
    items = fields.List(fields.Nested(RefundSchema))
    next_cursor = fields.Str(allow_none=True)


class LedgerEntrySchema(Schema):
    entry_id = fields.Int(attribute="id")
    shop_id = fields.Str()
    kind = fields.Str()
    amount_fen = fields.Int()
    order_id = fields.Str(allow_none=True)
    ref_id = fields.Str()
    memo = fields.Str(allow_none=True)
    created_at = UtcTime()


class LedgerArgs(PageArgs):
    shop_id = fields.Str()
    order_id = fields.Str()
    kind = fields.Str(validate=validate.OneOf(domain.EntryKind.ALL))


class LedgerPageSchema(Schema):
    shop_id = fields.Str(allow_none=True)
    balance_fen = fields.Int(metadata={"description": "sum of every entry in scope (all kinds, all dates)"})
    unpaid_released_fen = fields.Int(
        allow_none=True,
        metadata={"description": "settled but not yet paid out (negative: refunds to take from the next payout)"},
    )
    items = fields.List(fields.Nested(LedgerEntrySchema))
    next_cursor = fields.Str(allow_none=True)


class SettlementSchema(Schema):
    settlement_id = fields.Str()
    order_id = fields.Str()
    shop_id = fields.Str()
    status = fields.Str()
    completed_at = UtcTime()
    due_at = UtcTime()
    settled_at = UtcTime(allow_none=True)
    gross_fen = fields.Int(allow_none=True)
    refunded_fen = fields.Int(allow_none=True)
    commission_fen = fields.Int(allow_none=True)
    payout_id = fields.Str(allow_none=True)


class SettlementArgs(PageArgs):
    shop_id = fields.Str()
    order_id = fields.Str()
    status = fields.Str(validate=validate.OneOf(["scheduled", "settled"]))


class SettlementPageSchema(Schema):
    items = fields.List(fields.Nested(SettlementSchema))
    next_cursor = fields.Str(allow_none=True)


class PayoutSchema(Schema):
    payout_id = fields.Str()
    shop_id = fields.Str()
    amount_fen = fields.Int()
    entry_count = fields.Int()
    created_at = UtcTime()


class PayoutArgs(PageArgs):
    shop_id = fields.Str()


class PayoutPageSchema(Schema):
    items = fields.List(fields.Nested(PayoutSchema))
    next_cursor = fields.Str(allow_none=True)


class RateSchema(BodySchema):
    category_id = fields.Str(required=True, validate=validate.Length(min=1, max=64))
    rate_bps = fields.Int(required=True, validate=validate.Range(min=0, max=domain.BPS))
    updated_at = UtcTime(dump_only=True)
    updated_by = fields.Str(dump_only=True)


class RatesPutSchema(BodySchema):
    rates = fields.List(fields.Nested(RateSchema), required=True, validate=validate.Length(min=1, max=500))


class RatesSchema(Schema):
    default_bps = fields.Int()
    items = fields.List(fields.Nested(RateSchema))
    next_cursor = fields.Str(allow_none=True)


class ReconciliationArgs(Schema):
    date = fields.Date(required=True, metadata={"description": "YYYY-MM-DD (UTC day)"})
    shop_id = fields.Str()


class WebhookObject(BodySchema):
    class Meta:
        unknown = EXCLUDE

    id = fields.Str(required=True)
    reference = fields.Str(required=True)
    amount_fen = fields.Int(required=True, validate=validate.Range(max=MAX_INT))
    status = fields.Str(required=True)
    failure_code = fields.Str(allow_none=True)
    failure_message = fields.Str(allow_none=True)


class WebhookData(BodySchema):
    class Meta:
        unknown = EXCLUDE

    object = fields.Nested(WebhookObject, required=True)


class WebhookEventSchema(BodySchema):
    class Meta:
        unknown = EXCLUDE

    id = fields.Str(required=True, validate=validate.Length(min=1, max=60))
    type = fields.Str(required=True)
    created = fields.Int()
    data = fields.Nested(WebhookData, required=True)


# Payments ------------------------------------------------------------------------------------------
def _ensure_order_copy(order_id: str, facts: domain.OrderFacts, raw: dict) -> None:
    """A payment may arrive before orders.OrderPlaced is consumed: keep the copy from orders' answer.

    A plain session, not a unit of work: the copy records no event and is not the request's change,
    so its commit must not mark the request's Idempotency-Key processed (a payment refused or lost
    after it would then be answered "already processed" on a retry, with no payment made)."""
    db = current_db()
    try:
        with session_scope(db) as session:
            ops.remember_order(
                session,
                db.config.clock.now(),
                order_id=order_id,
                shop_id=facts.shop_id,
                buyer_id=facts.buyer_id,
                payable_fen=facts.payable_fen,
                lines=raw.get("lines") or [],
                source="http",
            )
    except sa.exc.IntegrityError as exc:
        if not is_unique_violation(exc):
            raise  # the event handler stored it at the same moment: fine


@blp.route("/payments", methods=["POST"])
@requires("buyer")
@idempotent()
@blp.arguments(PaymentCreateSchema)
@blp.response(201, PaymentSchema)
def create_payment(args):
    """Pay an order's payable amount. The sandbox provider confirms asynchronously through the signed
    webhook; follow the payment with GET /payments/{id} or the billing.Payment* events. The order
    must await payment, and method `card` needs card_number (422)."""
    principal = current_principal()
    db = current_db()
    raw = orders_gateway().order(args["order_id"])
    if raw is None:
        raise NotFound("order not found")
    facts = domain.OrderFacts.from_orders_api(raw)
    with db.Session() as session:
        local = session.get(BillingOrder, args["order_id"])
        knows_cancelled = local is not None and local.status == "cancelled"
        # Usually orders.OrderPlaced made the copy already (with its lines): nothing to write then.
        complete_copy = (
            local is not None
            and bool(local.buyer_id and local.payable_fen)
            and session.execute(sa.select(OrderLine.id).where(OrderLine.order_id == local.order_id).limit(1)).first()
            is not None
        )
    amount = domain.check_payable(facts, principal.sub, args.get("amount_fen"), knows_cancelled)
    if not complete_copy:
        _ensure_order_copy(args["order_id"], facts, raw)
    provider = payment_provider()
    with db.uow() as uow:
        session, now = uow.session, db.config.clock.now()
        active = session.execute(
            sa.select(Payment.payment_id, Payment.status).where(
                Payment.order_id == facts.order_id, Payment.status.in_(domain.PaymentStatus.ACTIVE)
            )
        ).first()
        if active is not None:
            raise Conflict(
                f"the order already has a {active.status} payment {active.payment_id}",
                {"order_id": [f"payment {active.status}"]},
            )
        payment_id = domain.new_id("P", now)
        intent = provider.create_intent(
            session, payment_id, facts.order_id, amount, args["method"], args.get("card_number")
        )
        provider.confirm(session, intent)
        payment = Payment(
            payment_id=payment_id,
            order_id=facts.order_id,
            shop_id=facts.shop_id,
            buyer_id=principal.sub,
            amount_fen=amount,
            method=args["method"],
            card_last4=intent.card_last4,
            status=domain.PaymentStatus.PENDING,
            intent_id=intent.intent_id,
            created_at=now,
            updated_at=now,
        )
        session.add(payment)
        ops.audit(
            session,
            now,
            principal.sub,
            "payment",
            payment_id,
            "created",
            None,
            "pending",
            f"{args['method']} {amount} fen, intent {intent.intent_id}",
        )
        try:
            uow.commit()
        except sa.exc.IntegrityError as exc:
            if not is_unique_violation(exc):
                raise
            raise Conflict(
                "another payment for this order started at the same time", {"order_id": ["payment pending"]}
            ) from exc
    provider.confirm_later(intent)
    return payment


def _visible_payment(payment: Payment | None) -> Payment:
    not_found_unless(payment is not None and visible(payment.shop_id, payment.buyer_id), "payment")
    return payment


@blp.route("/payments", methods=["GET"])
@requires("buyer", "finance", "admin", "ops", "cs", "service")
@blp.arguments(PaymentListArgs, location="query")
@blp.response(200, PaymentPageSchema)
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
@blp.response(200, PaymentDetailSchema)
def get_payment(payment_id):
    with current_db().Session() as session:
        payment = _visible_payment(session.get(Payment, payment_id))
        timeline = (
            session.execute(
                sa.select(AuditEntry)
                .where(AuditEntry.subject_type == "payment", AuditEntry.subject_id == payment_id)
                .order_by(AuditEntry.id)
            )
            .scalars()
            .all()
        )
        out = {name: getattr(payment, name) for name in PaymentSchema().fields}
        out["timeline"] = timeline
        return out


@blp.route("/payments/webhook", methods=["POST"])
@blp.doc(
    security=[],  # signed by the provider (X-Sandbox-Signature), not a bearer token
    parameters=[
        {
            "in": "header",
            "name": domain.SIGNATURE_HEADER,
            "required": True,
            "schema": {"type": "string", "pattern": "^t=[0-9]+(,v1=[0-9a-f]{64})+$"},
            "description": 't=<unix ts>,v1=<hex HMAC-SHA256 of "<ts>.<raw body>">; missing or '
            "garbled 400, not matching or outside the tolerance 401",
        }
    ],
    # read by hand after the signature check, so that an unsigned caller learns nothing of it
    requestBody={"required": True, "content": {"application/json": {"schema": WebhookEventSchema}}},
)
@blp.response(200)
def payment_webhook():
    """The sandbox provider's signed webhook: `X-Sandbox-Signature: t=<unix ts>,v1=<hex HMAC-SHA256 of
    "<ts>.<raw body>">` with BILLING_WEBHOOK_SECRET. A bad signature is 401 (garbled header 400) and
    changes nothing; an event id already received answers 200 with duplicate=true and changes nothing."""
    config = current_config()
    raw = request.get_data(cache=True)
    domain.verify_signature(
        settings.webhook_secret(config),
        raw,
        request.headers.get(domain.SIGNATURE_HEADER),
        config.clock.now().timestamp(),
        settings.webhook_tolerance_s(config),
    )
    try:
        body = bodies.loads(raw)  # too deep or with a NUL character: a 400 problem
    except ValueError:
        raise BadRequest("the request body is not valid JSON", {"body": ["Invalid JSON body."]}) from None
    try:
        event = WebhookEventSchema().load(body)
    except ValidationError as exc:
        raise UnprocessableEntity("the webhook event failed validation", exc.messages) from exc
    intent = event["data"]["object"]
    db = current_db()
    with db.Session() as session:
        payment = session.get(Payment, intent["reference"])
        not_found_unless(payment is not None and payment.intent_id == intent["id"], "payment")
        if intent["amount_fen"] != payment.amount_fen:
            raise UnprocessableEntity(
                "the event's amount differs from the payment's", {"amount_fen": [f"expected {payment.amount_fen}"]}
            )
        order = session.get(BillingOrder, payment.order_id)
        local_cancelled = order is not None and order.status == "cancelled"
        pending = payment.status == domain.PaymentStatus.PENDING
    kind = {"payment_intent.succeeded": True, "payment_intent.payment_failed": False}.get(event["type"])
    cancelled_elsewhere = False
    if kind is True and pending and not local_cancelled and settings.ask_orders_on_webhook(config):
        cancelled_elsewhere = _orders_says_cancelled(payment.order_id)
    with db.uow() as uow:
        uow.session.add(
            WebhookReceipt(
                provider_event_id=event["id"],
                event_type=event["type"][:60],
                intent_id=intent["id"],
                received_at=config.clock.now(),
            )
        )
        try:
            uow.session.flush()
        except sa.exc.IntegrityError as exc:
            if not is_unique_violation(exc):
                raise
            return {"received": True, "duplicate": True, "event_id": event["id"]}
        outcome = "ignored"
        if kind is not None:
            outcome = ops.apply_payment_outcome(
                uow,
                payment.payment_id,
                kind,
                intent.get("failure_code"),
                intent.get("failure_message"),
                cancelled_elsewhere,
            )
        uow.commit()
    return {"received": True, "duplicate": False, "event_id": event["id"], "outcome": outcome}


def _orders_says_cancelled(order_id: str) -> bool:
    """Best effort: orders may know of a cancellation whose event billing has not consumed yet. If
    orders cannot be asked, the OrderCancelled event still leads to the refund later."""
    try:
        raw = orders_gateway().order(order_id)
    except Problem:
        return False
    return bool(raw) and raw.get("status") == "cancelled"


# Refunds -------------------------------------------------------------------------------------------
@blp.route("/refunds", methods=["GET"])
@requires("finance", "admin", "ops", "cs", "service")
@blp.arguments(RefundListArgs, location="query")
@blp.response(200, RefundPageSchema)
def list_refunds(args):
    """Refunds (succeeded and refused), newest first, for the caller's scope."""
    stmt = sa.select(Refund)
    shop = money_scope(args.get("shop_id"))
    if shop:
        stmt = stmt.where(Refund.shop_id == shop)
    for key in ("order_id", "case_id", "status"):
        if args.get(key):
            stmt = stmt.where(getattr(Refund, key) == args[key])
    with current_db().Session() as session:
        return paginate(session, stmt, [Refund.created_at, Refund.refund_id], args["limit"], args.get("cursor"))


@blp.route("/refunds/<refund_id>", methods=["GET"])
@requires("finance", "admin", "ops", "cs", "service")
@blp.response(200, RefundSchema)
def get_refund(refund_id):
    with current_db().Session() as session:
        refund = session.get(Refund, refund_id)
        not_found_unless(refund is not None and visible(refund.shop_id), "refund")
        return refund


# Ledger, settlements, payouts ----------------------------------------------------------------------
@blp.route("/ledger", methods=["GET"])
@requires(*MONEY_READERS)
@blp.arguments(LedgerArgs, location="query")
@blp.response(200, LedgerPageSchema)
def ledger(args):
    """The merchant ledger: immutable entries newest first, and the balance (their sum)."""
    shop = money_scope(args.get("shop_id"))
    stmt = sa.select(LedgerEntry)
    if shop:
        stmt = stmt.where(LedgerEntry.shop_id == shop)
    for key in ("order_id", "kind"):
        if args.get(key):
            stmt = stmt.where(getattr(LedgerEntry, key) == args[key])
    with current_db().Session() as session:
        page = paginate(session, stmt, [LedgerEntry.id], args["limit"], args.get("cursor"))
        page["shop_id"] = shop
        page["balance_fen"] = reports.ledger_balance(session, shop)
        page["unpaid_released_fen"] = reports.unpaid_released_fen(session, shop) if shop else None
        return page


@blp.route("/settlements", methods=["GET"])
@requires(*MONEY_READERS)
@blp.arguments(SettlementArgs, location="query")
@blp.response(200, SettlementPageSchema)
def list_settlements(args):
    shop = money_scope(args.get("shop_id"))
    stmt = sa.select(Settlement)
    if shop:
        stmt = stmt.where(Settlement.shop_id == shop)
    for key in ("order_id", "status"):
        if args.get(key):
            stmt = stmt.where(getattr(Settlement, key) == args[key])
    with current_db().Session() as session:
        return paginate(session, stmt, [Settlement.due_at, Settlement.settlement_id], args["limit"], args.get("cursor"))


@blp.route("/payouts", methods=["GET"])
@requires(*MONEY_READERS)
@blp.arguments(PayoutArgs, location="query")
@blp.response(200, PayoutPageSchema)
def list_payouts(args):
    shop = money_scope(args.get("shop_id"))
    stmt = sa.select(Payout)
    if shop:
        stmt = stmt.where(Payout.shop_id == shop)
    with current_db().Session() as session:
        return paginate(session, stmt, [Payout.created_at, Payout.payout_id], args["limit"], args.get("cursor"))


@blp.route("/reconciliation", methods=["GET"])
@requires(*MONEY_READERS)
@blp.arguments(ReconciliationArgs, location="query")
@blp.response(200)
def reconciliation(args):
    """The daily reconciliation: orders completed, paid, refunded, commission, paid out, and every
    mismatch between the money flow and the order flow."""
    shop = money_scope(args.get("shop_id"))
    day: date = args["date"]
    with current_db().Session() as session:
        return reports.reconciliation(session, day, shop)


# Commission rates ----------------------------------------------------------------------------------
def _rates_body(session) -> dict:
    """Every rate (the answer to a change: what is stored now)."""
    rows = session.execute(sa.select(CommissionRate).order_by(CommissionRate.category_id)).scalars().all()
    return {"default_bps": settings.default_commission_bps(current_config()), "items": rows, "next_cursor": None}


@blp.route("/commission-rates", methods=["GET"])
@requires("admin", "finance")
@blp.arguments(PageArgs, location="query")
@blp.response(200, RatesSchema)
def get_commission_rates(args):
    """Commission per category in basis points (500 = 5%), by category; categories not listed pay the default."""
    with current_db().Session() as session:
        page = paginate(
            session,
            sa.select(CommissionRate),
            [CommissionRate.category_id],
            args["limit"],
            args.get("cursor"),
            descending=False,
        )
        page["default_bps"] = settings.default_commission_bps(current_config())
        return page


@blp.route("/commission-rates", methods=["PUT"])
@requires("admin")
@blp.arguments(RatesPutSchema)
@blp.response(200, RatesSchema)
def put_commission_rates(args):
    """Set rates for the categories given (others unchanged). Applies to settlements made from now."""
    principal = current_principal()
    db = current_db()
    with db.uow() as uow:
        session, now = uow.session, db.config.clock.now()
        for rate in args["rates"]:
            old = session.get(CommissionRate, rate["category_id"])
            if old is None:
                session.add(
                    CommissionRate(
                        category_id=rate["category_id"],
                        rate_bps=rate["rate_bps"],
                        updated_at=now,
                        updated_by=principal.sub,
                    )
                )
            else:
                session.execute(
                    sa.update(CommissionRate)
                    .where(CommissionRate.category_id == rate["category_id"])
                    .values(rate_bps=rate["rate_bps"], updated_at=now, updated_by=principal.sub)
                )
            ops.audit(
                session,
                now,
                principal.sub,
                "commission_rate",
                rate["category_id"],
                "set",
                str(old.rate_bps) if old else None,
                str(rate["rate_bps"]),
            )
        try:
            uow.commit()
        except sa.exc.IntegrityError as exc:
            if not is_unique_violation(exc):
                raise
            raise Conflict("the rates were changed at the same time; retry", {"rates": ["concurrent change"]}) from exc
    with db.Session() as session:
        return _rates_body(session)
