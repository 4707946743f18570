"""billing over the real RabbitMQ, PostgreSQL and HTTP.

Orders is not started here: the test plays it. orders' events are published as real events on the
test's RabbitMQ namespace, and the one HTTP call billing makes to orders (`GET /api/v1/orders/{id}`
with a service token) is answered by a minimal real HTTP server in the test (`OrdersStandIn`). In the
cross-service tests the lead replaces both with the real orders service.

Proves: a plain POST /payments leads, through the sandbox provider's signed webhook over HTTP, to
billing.PaymentSucceeded on the bus; a late success after a cancellation is refunded; the settlement
job run twice, and concurrently from two threads with their own connections, pays once; a second
refund beyond what was paid is refused; the order's copy made by a payment and by OrderPlaced at the
same moment costs the handler no retry.
"""

from __future__ import annotations

import json
import threading
import uuid

import pytest
import sqlalchemy as sa
from kombu import Connection, Exchange, Producer, Queue
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from billing import handlers, operations
from billing.domain import OrderCopy
from billing.models import BillingOrder, LedgerEntry, OrderLine, Payout
from billing.settings import Settings
from ecom_common import bus, metrics
from ecom_common.auth import decode_token
from ecom_common.db import Database, inbox
from ecom_common.events import make_event
from ecom_common.settings import settings_of
from ecom_common.topology import EXCHANGE, Topology
from ecom_common.usecase import Actor, Ctx
from ecom_testkit import TEST_SECRET, Platform, eventually

pytestmark = pytest.mark.integration

SETTINGS = {"BILLING_SANDBOX_CONFIRM_DELAY_MS": "50", "BILLING_WEBHOOK_SECRET": "whsec_integration"}


class OrdersStandIn:
    """A real HTTP server answering `GET /api/v1/orders/{id}` from a dict, for service tokens only."""

    def __init__(self):
        self.orders: dict[str, dict] = {}
        self.calls = 0
        self.server = make_server("127.0.0.1", 0, self, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __call__(self, environ, start_response):
        request = Request(environ)
        self.calls += 1
        token = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        try:
            if "service" not in decode_token(TEST_SECRET, token).roles:
                raise PermissionError
        except Exception:
            return Response(json.dumps({"status": 401}), 401, mimetype="application/problem+json")(
                environ, start_response
            )
        order_id = request.path.rsplit("/", 1)[-1]
        order = self.orders.get(order_id) if request.path.startswith("/api/v1/orders/") else None
        if order is None:
            return Response(json.dumps({"status": 404}), 404, mimetype="application/problem+json")(
                environ, start_response
            )
        return Response(json.dumps(order), 200, mimetype="application/json")(environ, start_response)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()


class BillingPlatform(Platform):
    """Platform(["billing"]) whose orders peer is the stand-in."""

    orders_url: str = ""

    def config(self, name, db_url, peers):
        return super().config(name, db_url, {**peers, "orders": self.orders_url})


class Bus:
    """Publishes orders'/aftersales' events and watches billing's, on the test's bus namespace."""

    def __init__(self, platform: Platform):
        self.topology = Topology(prefix=f"{platform.prefix}.")
        self.conn = Connection(platform.broker_url, transport_options={"confirm_publish": True})
        channel = self.conn.channel()
        self.topology.declare(channel)
        self.producer = Producer(self.conn.channel())
        self.watch = Queue(
            f"{platform.prefix}.test.billing-watch",
            Exchange(self.topology.name(EXCHANGE), "topic"),
            routing_key="billing.#",
            durable=False,
            auto_delete=False,
        )
        self.watch(channel).declare()
        self.channel = channel
        self.seen: list[dict] = []

    def publish(self, routing_key: str, payload: dict) -> str:
        env = make_event(routing_key, payload)
        bus.publish_raw(self.producer, self.topology.exchange, routing_key, env.to_json(), message_id=env.event_id)
        return env.event_id

    def billing_events(self, event_type: str | None = None) -> list[dict]:
        while True:
            message = self.watch(self.channel).get(no_ack=True)
            if message is None:
                break
            self.seen.append(bus.body_json(message))
        return [e for e in self.seen if event_type is None or e["type"] == event_type]

    def close(self):
        try:
            self.watch(self.channel).delete()
        finally:
            self.conn.release()


@pytest.fixture
def env():
    with OrdersStandIn() as orders:
        platform = BillingPlatform(["billing"], settings=dict(SETTINGS))
        platform.orders_url = orders.url
        with platform as p:
            watcher = Bus(p)
            try:
                yield p, orders, watcher
            finally:
                watcher.close()


def place(p, orders, watcher, shop_id="S1", buyer_id="bob", payable_fen=10_000, lines=None) -> str:
    order_id = f"O{uuid.uuid4().hex[:10]}"
    lines = lines or [
        {"sku_code": "SKU-A", "quantity": 2, "unit_price_fen": 3_000, "category_id": "C-dress"},
        {"sku_code": "SKU-B", "quantity": 1, "unit_price_fen": 4_000, "category_id": "C-mask"},
    ]
    orders.orders[order_id] = {
        "order_id": order_id,
        "shop_id": shop_id,
        "buyer_id": buyer_id,
        "status": "pending_payment",
        "payable_fen": payable_fen,
        "lines": lines,
    }
    watcher.publish(
        "orders.OrderPlaced",
        {"order_id": order_id, "shop_id": shop_id, "buyer_id": buyer_id, "payable_fen": payable_fen, "lines": lines},
    )
    db = p["billing"].db
    eventually(lambda: _order(db, order_id) is not None, message="billing keeps its copy of the order")
    return order_id


def _order(db, order_id) -> BillingOrder | None:
    with db.Session() as s:
        return s.get(BillingOrder, order_id)


def pay(p, order_id, buyer_id="bob", **body) -> dict:
    resp = p["billing"].post(
        "/api/v1/payments",
        role="buyer",
        sub=buyer_id,
        json={"order_id": order_id, "method": "alipay", **body},
        headers={"Idempotency-Key": f"pay-{order_id}"},
    )
    assert resp.status_code == 201, resp.text
    return resp.json()


def of(events, order_id):
    return [e for e in events if e["payload"].get("order_id") == order_id]


def test_a_payment_is_confirmed_by_the_providers_webhook_and_announced_on_the_bus(env):
    p, orders, watcher = env
    order_id = place(p, orders, watcher)
    payment = pay(p, order_id, method="card", card_number="4242424242424242")
    assert payment["status"] == "pending"

    # Nothing else is called: the sandbox provider posts its signed webhook to billing over HTTP.
    [event] = eventually(
        lambda: of(watcher.billing_events("PaymentSucceeded"), order_id), message="billing.PaymentSucceeded on the bus"
    )
    assert event["payload"]["payment_id"] == payment["payment_id"] and event["payload"]["amount_fen"] == 10_000
    got = p["billing"].get(f"/api/v1/payments/{payment['payment_id']}", role="buyer", sub="bob").json()
    assert got["status"] == "succeeded"
    assert [t["status"] for t in got["timeline"]] == ["pending", "succeeded"]
    # The same request again is replayed, not paid twice.
    again = p["billing"].post(
        "/api/v1/payments",
        role="buyer",
        sub="bob",
        json={"order_id": order_id, "method": "card", "card_number": "4242424242424242"},
        headers={"Idempotency-Key": f"pay-{order_id}"},
    )
    assert again.status_code == 201 and again.json()["payment_id"] == payment["payment_id"]
    # A declined card ends in PaymentFailed.
    declined_order = place(p, orders, watcher)
    pay(p, declined_order, method="card", card_number="4000000000000002")
    [failed] = eventually(
        lambda: of(watcher.billing_events("PaymentFailed"), declined_order), message="billing.PaymentFailed on the bus"
    )
    assert failed["payload"]["failure_code"] == "card_declined"
    assert orders.calls >= 2


def test_a_late_success_after_the_order_was_cancelled_is_refunded(env):
    p, orders, watcher = env
    order_id = place(p, orders, watcher)
    # The provider holds this card's intent pending (it is confirmed only by the provider's retry).
    payment = pay(p, order_id, method="card", card_number="4000000000000077")
    orders.orders[order_id]["status"] = "cancelled"
    watcher.publish(
        "orders.OrderCancelled", {"order_id": order_id, "shop_id": "S1", "reason": "payment timeout", "was_paid": False}
    )
    db = p["billing"].db
    eventually(lambda: _order(db, order_id).status == "cancelled", message="billing learns of the cancellation")

    p.clock.advance(seconds=31)
    assert p.run_job("billing", "sandbox-webhook-retry") == 1  # the provider retries: success, late
    [refund] = eventually(
        lambda: of(watcher.billing_events("RefundSucceeded"), order_id),
        message="billing.RefundSucceeded for the late payment",
    )
    assert refund["payload"]["amount_fen"] == 10_000 and refund["payload"]["kind"] == "late_payment"
    assert refund["payload"]["payment_id"] == payment["payment_id"]
    assert of(watcher.billing_events("PaymentSucceeded"), order_id) == []
    ledger = p["billing"].get("/api/v1/ledger?shop_id=S1", role="finance").json()
    assert ledger["balance_fen"] == 0


def test_the_settlement_job_run_twice_and_concurrently_pays_each_shop_once(env):
    p, orders, watcher = env
    placed = [place(p, orders, watcher, shop_id=shop, buyer_id="bob") for shop in ("S1", "S1", "S2")]
    for order_id in placed:
        pay(p, order_id)
    eventually(
        lambda: len([e for e in watcher.billing_events("PaymentSucceeded") if e["payload"]["order_id"] in placed]) == 3,
        message="three payments succeeded",
    )
    completed_at = p.clock.now().isoformat()
    for order_id, shop in zip(placed, ("S1", "S1", "S2"), strict=False):
        watcher.publish(
            "orders.OrderCompleted",
            {"order_id": order_id, "shop_id": shop, "payable_fen": 10_000, "completed_at": completed_at},
        )
    eventually(lambda: len(watcher.billing_events("SettlementScheduled")) == 3, message="settlements scheduled")
    assert p.run_job("billing", "settle-due") == 0  # T+7 not reached

    p.clock.advance(days=7, minutes=1)
    config = p["billing"].config
    replicas = [Database(config), Database(config)]  # two workers, own connections
    results, errors = [], []
    barrier = threading.Barrier(2)

    def run(db):
        try:
            barrier.wait()
            results.append(handlers.settle_due(db))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(db,)) for db in replicas]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for db in replicas:
        db.dispose()
    assert errors == []
    assert sum(results) == 2  # one payout per shop, whoever won
    assert p.run_job("billing", "settle-due") == 0  # and again: nothing

    paid = eventually(
        lambda: len(watcher.billing_events("SettlementPaid")) >= 2 and watcher.billing_events("SettlementPaid"),
        message="billing.SettlementPaid on the bus",
    )
    assert sorted((e["payload"]["shop_id"], e["payload"]["amount_fen"]) for e in paid) == [
        ("S1", 19_000),
        ("S2", 9_500),
    ]
    with p["billing"].db.Session() as s:
        assert s.execute(sa.select(sa.func.count()).select_from(Payout)).scalar_one() == 2
        balances = dict(
            s.execute(
                sa.select(LedgerEntry.shop_id, sa.func.sum(LedgerEntry.amount_fen)).group_by(LedgerEntry.shop_id)
            ).all()
        )
    assert balances == {"S1": 0, "S2": 0}
    today = p.clock.now().date().isoformat()
    report = p["billing"].get(f"/api/v1/reconciliation?date={today}", role="finance").json()
    assert report["balanced"] is True, report["mismatches"]


def test_a_second_refund_beyond_what_was_paid_is_refused(env):
    p, orders, watcher = env
    order_id = place(p, orders, watcher)
    pay(p, order_id)
    eventually(lambda: of(watcher.billing_events("PaymentSucceeded"), order_id), message="paid")
    watcher.publish(
        "aftersales.RefundApproved",
        {
            "case_id": "C-1",
            "order_id": order_id,
            "shop_id": "S1",
            "amount_fen": 6_000,
            "lines": [{"sku_code": "SKU-A", "quantity": 2}],
        },
    )
    [ok] = eventually(lambda: of(watcher.billing_events("RefundSucceeded"), order_id), message="first refund")
    assert ok["payload"]["case_id"] == "C-1" and ok["payload"]["amount_fen"] == 6_000
    watcher.publish(
        "aftersales.RefundApproved",
        {
            "case_id": "C-2",
            "order_id": order_id,
            "shop_id": "S1",
            "amount_fen": 4_001,
            "lines": [{"sku_code": "SKU-B", "quantity": 1}],
        },
    )
    [refused] = eventually(lambda: of(watcher.billing_events("RefundFailed"), order_id), message="second refused")
    assert refused["payload"]["case_id"] == "C-2" and refused["payload"]["code"] == "amount_exceeds_paid"
    assert len(of(watcher.billing_events("RefundSucceeded"), order_id)) == 1
    refunds = p["billing"].get(f"/api/v1/refunds?order_id={order_id}", role="ops", shop_id="S1").json()["items"]
    assert sorted(r["status"] for r in refunds) == ["failed", "succeeded"]
    assert _order(p["billing"].db, order_id).refunded_fen == 6_000


def test_the_order_copy_made_by_a_payment_and_by_order_placed_at_once_spends_no_retry(env):
    """billing's copy of an order is made by whichever comes first, the OrderPlaced handler or POST
    /payments (`_ensure_order_copy`, operations.remember_order with source http). Both at the same
    moment failed the handler on the key, and its message spent a retry tier (seen in the saga
    database outage, where payments retried after the restore meet the OrderPlaced backlog). Here the
    payment's copy is held uncommitted, the handler's insert waits for it (pg_blocking_pids), then
    the payment commits: the handler completes the copy that is there, with no retry."""
    p, orders, watcher = env
    db = p["billing"].db
    order_id = f"O{uuid.uuid4().hex[:10]}"
    lines = [
        {"sku_code": "SKU-A", "quantity": 2, "unit_price_fen": 3_000, "category_id": "C-dress"},
        {"sku_code": "SKU-B", "quantity": 1, "unit_price_fen": 4_000, "category_id": "C-mask"},
    ]

    def retried():
        return sum(
            s.value
            for f in metrics.EVENTS_HANDLED.collect()
            for s in f.samples  # noqa: E731
            if s.name.endswith("_total")
            and s.labels.get("outcome") == "retried"
            and s.labels.get("service") == "billing"
        )

    before = retried()
    with db.uow() as uow:
        payment = uow.session
        operations.remember_order(
            Ctx(uow=uow, actor=Actor("test"), settings=settings_of(db.config, Settings)),
            OrderCopy(order_id, "S1", "bob", 10_000, lines),
            source="http",
        )
        payment.flush()
        pid = payment.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
        event_id = watcher.publish(
            "orders.OrderPlaced",
            {"order_id": order_id, "shop_id": "S1", "buyer_id": "bob", "payable_fen": 10_000, "lines": lines},
        )
        eventually(lambda: _blocked_by(db.engine, pid) == 1, message="the handler's insert waiting for the copy")
        payment.commit()
    eventually(lambda: _handled(db, event_id), message="OrderPlaced handled")
    assert retried() == before
    copy = _order(db, order_id)
    assert (copy.source, copy.buyer_id, copy.payable_fen) == ("http", "bob", 10_000)
    assert copy.placed_at is not None  # filled in from the event
    with db.Session() as s:
        assert s.execute(sa.select(sa.func.count()).where(OrderLine.order_id == order_id)).scalar_one() == 2


def _blocked_by(engine, pid: int) -> int:
    with engine.connect() as conn:
        return conn.execute(
            sa.text("SELECT count(*) FROM pg_stat_activity WHERE :pid = ANY(pg_blocking_pids(pid))"), {"pid": pid}
        ).scalar_one()


def _handled(db, event_id: str) -> bool:
    with db.engine.connect() as conn:
        return (
            conn.execute(sa.select(sa.func.count()).select_from(inbox).where(inbox.c.event_id == event_id)).scalar_one()
            == 1
        )
