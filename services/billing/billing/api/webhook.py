"""The sandbox provider's signed webhook: a payment's outcome, applied once."""

from __future__ import annotations

from flask import request
from marshmallow import EXCLUDE, ValidationError, fields, validate

from ecom_common import bodies
from ecom_common.errors import BadRequest, NotFound, Problem, UnprocessableEntity
from ecom_common.http import Blueprint, current_config, current_db
from ecom_common.schemas import MAX_INT, BodySchema
from ecom_common.settings import settings_of
from ecom_common.usecase import Actor, Ctx

from .. import domain, gateways, operations
from ..models import BillingOrder, Payment
from ..settings import Settings

blp = Blueprint("webhook", __name__)
PROVIDER = Actor("provider")


class WebhookObjectIn(BodySchema):
    class Meta:
        unknown = EXCLUDE

    id = fields.Str(required=True)
    reference = fields.Str(required=True)
    amount_fen = fields.Int(required=True, validate=validate.Range(max=MAX_INT))
    status = fields.Str(required=True)
    failure_code = fields.Str(allow_none=True)
    failure_message = fields.Str(allow_none=True)


class WebhookDataIn(BodySchema):
    class Meta:
        unknown = EXCLUDE

    object = fields.Nested(WebhookObjectIn, required=True)


class WebhookEventIn(BodySchema):
    class Meta:
        unknown = EXCLUDE

    id = fields.Str(required=True, validate=validate.Length(min=1, max=60))
    type = fields.Str(required=True)
    created = fields.Int()
    data = fields.Nested(WebhookDataIn, required=True)


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
    requestBody={"required": True, "content": {"application/json": {"schema": WebhookEventIn}}},
)
@blp.response(200)
def payment_webhook():
    """The sandbox provider's signed webhook: `X-Sandbox-Signature: t=<unix ts>,v1=<hex HMAC-SHA256 of
    "<ts>.<raw body>">` with BILLING_WEBHOOK_SECRET. A bad signature is 401 (garbled header 400) and
    changes nothing; an event id already received answers 200 with duplicate=true and changes nothing."""
    config = current_config()
    settings = settings_of(config, Settings)
    raw = request.get_data(cache=True)
    domain.verify_signature(
        settings.signing_secret(config.jwt_secret),
        raw,
        request.headers.get(domain.SIGNATURE_HEADER),
        config.clock.now().timestamp(),
        settings.webhook_tolerance_seconds,
    )
    try:
        body = bodies.loads(raw)  # too deep or with a NUL character: a 400 problem
    except ValueError:
        raise BadRequest("the request body is not valid JSON", {"body": ["Invalid JSON body."]}) from None
    try:
        loaded = WebhookEventIn().load(body)
    except ValidationError as exc:
        raise UnprocessableEntity("the webhook event failed validation", exc.messages) from exc
    event = domain.WebhookEvent.of(loaded)
    payment, local_cancelled, pending = _payment_of(loaded["data"]["object"])
    cancelled_elsewhere = False
    if event.outcome is not None and event.outcome.succeeded and pending and not local_cancelled:
        cancelled_elsewhere = settings.ask_orders_on_webhook and _orders_says_cancelled(payment.order_id)
    db = current_db()
    with db.uow() as uow:
        answer = operations.receive_webhook(
            Ctx(uow=uow, actor=PROVIDER, settings=settings), event, cancelled_elsewhere=cancelled_elsewhere
        )
        if answer is None:  # received before: nothing changes (the unit of work rolls back)
            return {"received": True, "duplicate": True, "event_id": event.event_id}
        uow.commit()
    return answer


def _payment_of(intent: dict) -> tuple[Payment, bool, bool]:
    """The payment the event is about (404 unless the intent is its own; 422 for another amount),
    whether billing knows its order cancelled, and whether it is still pending."""
    with current_db().Session() as session:
        payment = session.get(Payment, intent["reference"])
        if payment is None or payment.intent_id != intent["id"]:
            raise NotFound("payment not found")
        if intent["amount_fen"] != payment.amount_fen:
            raise UnprocessableEntity(
                "the event's amount differs from the payment's", {"amount_fen": [f"expected {payment.amount_fen}"]}
            )
        order = session.get(BillingOrder, payment.order_id)
        local_cancelled = order is not None and order.status == "cancelled"
        return payment, local_cancelled, payment.status == domain.PaymentStatus.PENDING


def _orders_says_cancelled(order_id: str) -> bool:
    """Best effort: orders may know of a cancellation whose event billing has not consumed yet. If
    orders cannot be asked, the OrderCancelled event still leads to the refund later."""
    try:
        raw = gateways.orders().order(order_id)
    except Problem:
        return False
    return bool(raw) and raw.get("status") == "cancelled"
