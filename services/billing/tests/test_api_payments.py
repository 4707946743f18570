"""POST /payments, the sandbox provider and its signed webhook, through the Flask test client."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from billing import domain
from billing.models import LedgerEntry, Payment, SandboxEvent, WebhookReceipt
from ecom_testkit import auth

SECRET = "whsec_unit_test"  # conftest's BILLING_WEBHOOK_SECRET


def count(db, model) -> int:
    with db.Session() as s:
        return s.execute(sa.select(sa.func.count()).select_from(model)).scalar_one()


def payment_row(db, payment_id) -> Payment:
    with db.Session() as s:
        return s.get(Payment, payment_id)


# Bad requests change nothing ------------------------------------------------------------------------
def test_no_token_is_401(billing):
    billing.placed()
    resp = billing.client.post("/api/v1/payments", json={"order_id": "O1", "method": "alipay"})
    assert resp.status_code == 401
    assert resp.mimetype == "application/problem+json"


def test_a_role_other_than_buyer_is_403(billing):
    billing.placed()
    resp = billing.client.post(
        "/api/v1/payments", json={"order_id": "O1", "method": "alipay"}, headers=auth("ops", shop_id="S1")
    )
    assert resp.status_code == 403


def test_malformed_json_is_400(billing):
    billing.placed()
    resp = billing.client.post(
        "/api/v1/payments", data="{not json", content_type="application/json", headers=auth("buyer", sub="bob")
    )
    assert resp.status_code == 400
    assert resp.mimetype == "application/problem+json"
    assert count(billing.db, Payment) == 0


@pytest.mark.parametrize(
    "body, field",
    [
        ({"order_id": "O1", "method": "paypal"}, "method"),
        ({"order_id": "O1", "method": "card"}, "card_number"),
        ({"order_id": "O1", "method": "alipay", "card_number": "4242424242424242"}, "card_number"),
        ({"order_id": "O1", "method": "card", "card_number": "4242424242424241"}, "card_number"),
        ({"order_id": "O1", "method": "card", "card_number": "12ab"}, "card_number"),
        ({"order_id": "O1", "method": "alipay", "amount_fen": 0}, "amount_fen"),
        ({"method": "alipay"}, "order_id"),
    ],
)
def test_invalid_payment_requests_are_422_naming_the_field(billing, body, field):
    billing.placed()
    resp = billing.client.post("/api/v1/payments", json=body, headers=auth("buyer", sub="bob"))
    assert resp.status_code == 422, resp.get_json()
    assert field in resp.get_json()["errors"]
    assert count(billing.db, Payment) == 0


def test_an_unknown_order_is_404(billing):
    resp = billing.pay("O404")
    assert resp.status_code == 404


def test_another_buyers_order_is_404_not_403(billing):
    billing.placed(buyer_id="bob")
    resp = billing.pay(buyer="mallory")
    assert resp.status_code == 404
    assert count(billing.db, Payment) == 0


def test_a_wrong_amount_is_422(billing):
    billing.placed(payable_fen=10_000)
    resp = billing.pay(amount_fen=9_999)
    assert resp.status_code == 422
    assert "amount_fen" in resp.get_json()["errors"]
    assert billing.pay(amount_fen=10_000).status_code == 201


@pytest.mark.parametrize("status", ["cancelled", "paid", "awaiting_shipment"])
def test_an_order_not_pending_payment_is_409(billing, status):
    billing.placed(status=status)
    resp = billing.pay()
    assert resp.status_code == 409
    assert count(billing.db, Payment) == 0


def test_an_order_billing_knows_cancelled_is_409_even_if_orders_lags(billing):
    billing.placed()
    billing.event("orders.OrderCancelled", {"order_id": "O1", "shop_id": "S1", "reason": "timeout"})
    assert billing.pay().status_code == 409


def test_orders_down_is_503_and_nothing_written(billing):
    billing.placed()
    billing.orders.down = True
    resp = billing.pay()
    assert resp.status_code == 503
    assert count(billing.db, Payment) == 0


def test_a_second_payment_while_one_is_pending_or_succeeded_is_409(billing):
    billing.placed()
    first = billing.pay()
    assert first.status_code == 201
    assert billing.pay(method="wechat").status_code == 409
    billing.confirm(first.get_json())
    assert billing.pay(method="wechat").status_code == 409
    assert count(billing.db, Payment) == 1


def test_a_failed_payment_can_be_retried_with_another_card(billing):
    billing.placed()
    declined = billing.pay(method="card", card_number="4000000000000002").get_json()
    billing.confirm(declined)
    assert payment_row(billing.db, declined["payment_id"]).status == "failed"
    retry = billing.pay(method="card", card_number="4242424242424242")
    assert retry.status_code == 201


# Idempotency ----------------------------------------------------------------------------------------
def test_the_same_idempotency_key_replays_the_first_payment(billing):
    billing.placed()
    first = billing.pay(headers={"Idempotency-Key": "k1"})
    again = billing.pay(headers={"Idempotency-Key": "k1"})
    assert first.status_code == again.status_code == 201
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.get_json()["payment_id"] == first.get_json()["payment_id"]
    other = billing.pay(method="wechat", headers={"Idempotency-Key": "k1"})
    assert other.status_code == 409
    assert count(billing.db, Payment) == 1


def test_a_refused_payment_releases_its_idempotency_key(billing):
    """Billing's copy of the order (kept before the payment is written) is not the request's change:
    a payment refused after it leaves its key free, and the same request with the same key is
    judged again, not refused as "already processed" (no payment was made)."""
    billing.placed()
    assert billing.pay().status_code == 201
    refused = billing.pay(method="wechat", headers={"Idempotency-Key": "k2"})
    assert refused.status_code == 409 and refused.get_json()["errors"] == {"order_id": ["payment pending"]}
    again = billing.pay(method="wechat", headers={"Idempotency-Key": "k2"})
    assert again.status_code == 409 and again.get_json()["errors"] == {"order_id": ["payment pending"]}
    assert count(billing.db, Payment) == 1


# The provider and its webhook -----------------------------------------------------------------------
def test_a_payment_is_pending_until_the_providers_webhook_confirms_it(billing):
    billing.placed(payable_fen=10_000)
    resp = billing.pay(method="card", card_number="4242424242424242")
    payment = resp.get_json()
    assert resp.status_code == 201
    assert payment["status"] == "pending" and payment["amount_fen"] == 10_000 and payment["card_last4"] == "4242"
    assert billing.events("billing.PaymentSucceeded") == []

    assert billing.confirm(payment)
    row = payment_row(billing.db, payment["payment_id"])
    assert row.status == "succeeded"
    [event] = billing.events("billing.PaymentSucceeded")
    assert event["payload"] == {
        "order_id": "O1",
        "shop_id": "S1",
        "payment_id": payment["payment_id"],
        "amount_fen": 10_000,
        "method": "card",
        "paid_at": event["payload"]["paid_at"],
    }
    with billing.db.Session() as s:
        entries = s.execute(sa.select(LedgerEntry.kind, LedgerEntry.amount_fen)).all()
    assert entries == [("payment", 10_000)]
    detail = billing.client.get(
        f"/api/v1/payments/{payment['payment_id']}", headers=auth("buyer", sub="bob")
    ).get_json()
    assert [t["status"] for t in detail["timeline"]] == ["pending", "succeeded"]
    assert set(detail["timeline"][0]) == {"at", "by", "action", "from_status", "status", "reason"}
    assert detail["timeline"][0]["by"] == "bob" and detail["timeline"][0]["at"].endswith("Z")


@pytest.mark.parametrize(
    "card, code", [("4000000000000002", "card_declined"), ("4000000000009995", "insufficient_funds")]
)
def test_declining_test_cards_fail_the_payment(billing, card, code):
    billing.placed()
    payment = billing.pay(method="card", card_number=card).get_json()
    billing.confirm(payment)
    row = payment_row(billing.db, payment["payment_id"])
    assert (row.status, row.failure_code) == ("failed", code)
    [event] = billing.events("billing.PaymentFailed")
    assert event["payload"]["payment_id"] == payment["payment_id"] and event["payload"]["failure_code"] == code
    assert billing.events("billing.PaymentSucceeded") == []
    assert count(billing.db, LedgerEntry) == 0


def _event_body(billing, payment) -> tuple[str, bytes]:
    event_id = billing.provider.resolve(payment["intent_id"])
    with billing.db.Session() as s:
        return event_id, s.get(SandboxEvent, event_id).body.encode()


def _post_webhook(billing, body: bytes, header: str | None):
    headers = {"Content-Type": "application/json"}
    if header is not None:
        headers[domain.SIGNATURE_HEADER] = header
    return billing.client.post("/api/v1/payments/webhook", data=body, headers=headers)


def _now_ts(billing) -> int:
    return int(billing.config.clock.now().timestamp())


@pytest.mark.parametrize(
    "make_header, status",
    [
        (lambda body, ts: domain.sign("wrong-secret", body, ts), 401),
        (lambda body, ts: domain.sign(SECRET, body + b" ", ts), 401),
        (lambda body, ts: domain.sign(SECRET, body, ts - 3_600), 401),  # stale: outside the tolerance
        (lambda body, ts: "t=now,v1=xyz", 400),
        (lambda body, ts: None, 400),
    ],
)
def test_a_badly_signed_webhook_is_refused_and_changes_nothing(billing, make_header, status):
    billing.placed()
    payment = billing.pay().get_json()
    _, body = _event_body(billing, payment)
    resp = _post_webhook(billing, body, make_header(body, _now_ts(billing)))
    assert resp.status_code == status
    assert resp.mimetype == "application/problem+json"
    assert payment_row(billing.db, payment["payment_id"]).status == "pending"
    assert count(billing.db, WebhookReceipt) == 0
    assert billing.events("billing.PaymentSucceeded") == []


def test_a_replayed_webhook_is_acknowledged_and_changes_nothing(billing):
    billing.placed()
    payment = billing.pay().get_json()
    event_id, body = _event_body(billing, payment)
    first = _post_webhook(billing, body, domain.sign(SECRET, body, _now_ts(billing)))
    replay = _post_webhook(billing, body, domain.sign(SECRET, body, _now_ts(billing)))
    assert first.status_code == replay.status_code == 200
    assert first.get_json()["duplicate"] is False and replay.get_json()["duplicate"] is True
    assert len(billing.events("billing.PaymentSucceeded")) == 1
    assert count(billing.db, LedgerEntry) == 1


def test_a_webhook_whose_amount_differs_is_422(billing):
    billing.placed()
    payment = billing.pay().get_json()
    _, body = _event_body(billing, payment)
    forged = json.loads(body)
    forged["data"]["object"]["amount_fen"] = 1
    forged_body = json.dumps(forged).encode()
    resp = _post_webhook(billing, forged_body, domain.sign(SECRET, forged_body, _now_ts(billing)))
    assert resp.status_code == 422
    assert payment_row(billing.db, payment["payment_id"]).status == "pending"


def test_a_webhook_for_an_unknown_intent_is_404(billing):
    body = json.dumps(
        {
            "id": "evt_x",
            "type": "payment_intent.succeeded",
            "data": {"object": {"id": "pi_x", "reference": "P404", "amount_fen": 1, "status": "succeeded"}},
        }
    ).encode()
    assert _post_webhook(billing, body, domain.sign(SECRET, body, _now_ts(billing))).status_code == 404


@pytest.mark.parametrize("body", [b"[" * 5000 + b"]" * 5000, b'{"id": "evt_1\\u0000"}'], ids=["deep", "nul"])
def test_a_signed_webhook_with_a_body_the_platform_refuses_is_400(billing, body):
    """Parsed with the platform's body checks (ecom_common.bodies), not a 500 from json.loads."""
    resp = _post_webhook(billing, body, domain.sign(SECRET, body, _now_ts(billing)))
    assert resp.status_code == 400, resp.get_data(as_text=True)
    assert resp.mimetype == "application/problem+json"
    assert "body" in resp.get_json()["errors"]
    assert count(billing.db, WebhookReceipt) == 0


def test_the_providers_retry_resends_webhooks_for_intents_still_pending(billing):
    billing.placed()
    payment = billing.pay(method="card", card_number="4000000000000077").get_json()  # never auto-confirmed
    assert billing.provider.redeliver_due() == 0  # not pending long enough yet
    assert payment_row(billing.db, payment["payment_id"]).status == "pending"
    billing.config.clock.advance(seconds=31)
    assert billing.provider.redeliver_due() == 1
    assert payment_row(billing.db, payment["payment_id"]).status == "succeeded"
    assert billing.provider.redeliver_due() == 0  # delivered: not sent again
    assert len(billing.events("billing.PaymentSucceeded")) == 1


def test_an_undelivered_webhook_is_resent_by_the_retry(billing):
    billing.placed()
    payment = billing.pay().get_json()
    real = billing.provider.transport
    billing.provider.transport = lambda url, body, headers: 503  # billing was down
    assert billing.confirm(payment) is False
    billing.provider.transport = real
    billing.config.clock.advance(seconds=31)
    assert billing.provider.redeliver_due() == 1
    assert payment_row(billing.db, payment["payment_id"]).status == "succeeded"


# Reading payments -----------------------------------------------------------------------------------
def test_payments_are_listed_per_scope(billing):
    billing.paid("O1", shop_id="S1", buyer_id="bob")
    billing.paid("O2", shop_id="S2", buyer_id="carol")

    def ids(resp):
        assert resp.status_code == 200, resp.get_json()
        return sorted(p["order_id"] for p in resp.get_json()["items"])

    assert ids(billing.get("/api/v1/payments", role="buyer", sub="bob")) == ["O1"]
    assert ids(billing.get("/api/v1/payments?order_id=O2", role="buyer", sub="bob")) == []
    assert ids(billing.get("/api/v1/payments", role="ops", shop_id="S2")) == ["O2"]
    assert ids(billing.get("/api/v1/payments")) == ["O1", "O2"]  # finance, all shops
    assert ids(billing.get("/api/v1/payments?order_id=O1", role="admin")) == ["O1"]
    assert billing.get("/api/v1/payments?shop_id=S1", role="ops", shop_id="S2").status_code == 404
    p1 = billing.get("/api/v1/payments?order_id=O1").get_json()["items"][0]["payment_id"]
    assert billing.get(f"/api/v1/payments/{p1}", role="ops", shop_id="S2").status_code == 404
    assert billing.get(f"/api/v1/payments/{p1}", role="buyer", sub="carol").status_code == 404
    assert billing.get(f"/api/v1/payments/{p1}", role="warehouse", shop_id="S1").status_code == 403


# Billing's copy of the order at payment time --------------------------------------------------------
def test_a_payment_before_order_placed_is_consumed_keeps_a_copy_from_orders_answer(billing):
    from billing.models import BillingOrder, OrderLine

    billing.orders.add("O7", payable_fen=10_000)  # orders knows it; OrderPlaced not consumed yet
    resp = billing.pay("O7")
    assert resp.status_code == 201, resp.get_json()
    with billing.db.Session() as s:
        copy = s.get(BillingOrder, "O7")
        assert (copy.source, copy.buyer_id, copy.payable_fen) == ("http", "bob", 10_000)
        assert s.execute(sa.select(sa.func.count()).where(OrderLine.order_id == "O7")).scalar_one() == 2
    # OrderPlaced arriving afterwards finds the copy and leaves it as it is.
    billing.event(
        "orders.OrderPlaced",
        {k: billing.orders.orders["O7"][k] for k in ("order_id", "shop_id", "buyer_id", "payable_fen", "lines")},
    )
    with billing.db.Session() as s:
        assert s.execute(sa.select(sa.func.count()).where(OrderLine.order_id == "O7")).scalar_one() == 2


def test_a_payment_for_an_order_billing_already_copied_writes_no_second_copy(billing):
    from billing.models import BillingOrder

    billing.placed("O8")
    with billing.db.Session() as s:
        before = s.get(BillingOrder, "O8").updated_at
    assert billing.pay("O8").status_code == 201
    with billing.db.Session() as s:
        copy = s.get(BillingOrder, "O8")
        assert copy.source != "http" and copy.updated_at == before
