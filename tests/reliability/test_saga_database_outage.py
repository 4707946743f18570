"""One service's database lost while orders flow through the whole saga: requests that need it get
503 problem+json (never a 500, never a hang), nothing is half-written, every accepted order reaches
its end state once the database is back, nothing is done twice and nothing is dead-lettered.

The six services run on PostgreSQL and RabbitMQ (`Platform`, the `Saga` driver); the service under
test reaches PostgreSQL through a loopback TCP proxy (`ecom_testkit.TcpProxy`), the others
directly. Five cases (catalog is not one: see docs/reliability.md):

- orders: its web process places orders and serves billing's order lookups; its worker turns
  PaymentSucceeded into OrderPaid and StockReserved into OrderReadyToShip.
- inventory: its worker's OrderPaid handler takes the stock (the reservation); its web process
  takes a warehouse clerk's inbound receipts (a write of its own during the outage).
- billing: its web process takes the payments and the sandbox provider's signed webhook (the
  provider lives in billing and keeps its books in billing's database: an intent confirmed just
  before the cut cannot be resolved or announced until its retry job runs, here right after the
  restore with `BILLING_SANDBOX_RETRY_AFTER_SECONDS=1`); its worker keeps its copy of each order
  (OrderPlaced).
- logistics: its web process quotes the shipping fee that orders asks for on every POST /orders
  (so placing needs logistics' database), lists the pending shipments to a warehouse clerk who
  dispatches them one by one, and takes the carrier's signed tracking webhook; its worker creates
  the shipment on OrderReadyToShip. Every accepted order ends `shipped` here: what the clerk could
  not dispatch during the run is dispatched at the end. One paid order's parcel is held back from
  the clerk: the test dispatches it right after the cut (503) and again with the same key after.
- aftersales: its web process takes the buyers' complaints (each buyer complains once about the
  order just paid: not shipped yet), while the warehouse clerk dispatches as in the logistics case
  (every accepted order ends `shipped`); its worker consumes every ShipmentDispatched (only an
  exchange's replacement changes a case, but each is recorded in its inbox).

Buyers (client threads) place orders without pause and payers pay each placed order, every request
with an Idempotency-Key; a payment refused with 503 is retried with the same key, as a client does
(billing: a try that met the outage may leave its key held, 409 in progress: nothing was applied,
so it is paid with a new key, see Traffic.pay); an order refused with 503 is not retried (it must
not exist anywhere). 1.5 s in (and once an order has been accepted), the proxy aborts every
connection and refuses new ones for 3 s (and until a request that needs the database has been
answered), then listens again; the stream goes on 1.5 s after. (The "and"s are for a busy machine.)
A request answered 503 `outcome: unknown` (its connection lost at the COMMIT: it may or may not have
been applied) is repeated with the same key once the database is back, and counts as accepted or
refused by what that says (a payment not applied is paid again with a new key). Right after the
cut, a signed webhook the service takes is sent (billing: the warm order's payment event again, as
the provider resends; logistics: the carrier reports the warm order's parcel in transit); it is
sent again twice once the database is back. Then:

- every answer is its success (201; 200 for lists, dispatches and webhooks) or 503 problem+json, no
  request went unanswered, no 503 says a change was saved; while the database was away every
  request that needed it got 503 (at least one did); requests that do not need it (`Outage.needs`: e.g.
  placing while inventory or billing is away, paying while inventory or logistics is, dispatching
  while aftersales is) all succeeded;
- every accepted order (placed 201, paid 201) reaches awaiting_shipment (logistics, aftersales:
  shipped) with its timeline once, one OrderPlaced, OrderPaid and OrderReadyToShip (and
  OrderShipped) each;
- an order refused with 503 exists nowhere: no order row for its buyer, no OrderPlaced, no copy in
  billing, no payment, no reservation; an inbound receipt refused with 503 left no movement, a
  complaint refused with 503 no complaint (an accepted one exists once);
- no stock taken twice: one reservation and one reserve movement per accepted order, reserved per
  SKU == the orders' quantities (shipped: every reservation deducted once, one deduct movement
  and one StockDeducted each, on hand down by the orders' quantities), on hand == the stock
  received (plus the receipts accepted), the ledger sums to the stock; no second charge: one
  payment (succeeded) and one payment ledger entry per order, no refund, one provider intent per
  payment (succeeded), its webhook event delivered and received once; one shipment per order, one
  ShipmentCreated each (shipped: one ShipmentDispatched each; logistics: the carrier's report
  applied once: refused during the outage, applied on the first resend, a duplicate on the second);
- the service's consumer requeued what it could not handle without spending a retry (it requeued at
  least one message, retried none); nothing dead-lettered anywhere (every dead-letter queue of the
  namespace empty); every outbox drained.
"""

from __future__ import annotations

import itertools
import json
import queue
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field

import pytest
import requests
import sqlalchemy as sa
from flask import has_request_context

from ecom_common import metrics
from ecom_common.outbox import outbox
from ecom_testkit import (
    HTTP_TIMEOUT,
    Platform,
    TcpProxy,
    database_url,
    eventually,
    recorded_events,
    scenarios,
    with_search_path,
)
from ecom_testkit.invariants import (
    assert_each_order_reached,
    assert_no_double_charge,
    assert_no_double_reservation,
    assert_nothing_of,
    assert_one_shipment_per_order,
    assert_outboxes_drained_and_dlqs_empty,
    guarantee,
    shipments_per_order,
    wait_each_order_reached,
    wait_reservations,
)

pytestmark = [pytest.mark.integration, pytest.mark.reliability, pytest.mark.timeout(180)]

OUTAGE_SECONDS = 3.0
BEFORE_CUT = 1.5  # seconds of traffic before the cut
AFTER_RESTORE = 1.5  # seconds of traffic after the restore
BUYERS = 2  # threads placing orders
PAUSE = 0.25  # seconds a buyer waits between orders
PAYERS = 2  # threads paying the placed orders
PAY_TRIES_FOR = 60.0  # seconds a buyer keeps retrying a payment refused with 503
SKUS = {"DBO-1": 300, "DBO-2": 300}  # SKU -> units received before the run
RECEIPT_SKU = "DBO-1"
# What a request of each kind answers when it succeeds (anything else but a 503 is a failure).
OK = {"place": 201, "pay": 201, "receive": 201, "shipments": 200, "dispatch": 200, "webhook": 200, "complain": 201}


@dataclass
class Answer:
    kind: str  # place | pay | receive | shipments | dispatch | webhook | complain | repeat
    started: float
    ended: float
    status: int  # 0: no answer (timeout, connection refused)
    content_type: str
    outcome: str | None = None  # a 503's `outcome` member (what the request had written), if any
    held: bool = False  # a 409 "Request in progress.": the key of an earlier try is still held


@dataclass
class Traffic:
    """Buyers placing orders, payers paying the placed ones (so that placing goes on while a payment
    is being retried), (inventory case) a clerk posting inbound receipts, (logistics and aftersales
    cases) a warehouse clerk listing the pending shipments and dispatching them and (aftersales
    case) buyers complaining about the orders they paid. Every write carries an
    Idempotency-Key; one refused with 503 `outcome: unknown` (the connection was lost at its COMMIT)
    is resolved once the database is back by repeating it with the same key (`resolve`; a payment
    at once, by its payer)."""

    saga: object
    clerk: bool
    warehouse: bool = False
    complainers: bool = False
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    to_pay: queue.Queue = field(default_factory=queue.Queue)
    answers: list[Answer] = field(default_factory=list)
    accepted: list[tuple[str, str, int]] = field(default_factory=list)  # (order id, sku, quantity)
    refused_buyers: list[str] = field(default_factory=list)  # one buyer per order: finds a refused one
    unpaid: list[str] = field(default_factory=list)  # placed, but the payment never got a 201
    receipts_accepted: list[str] = field(default_factory=list)  # references
    receipts_refused: list[str] = field(default_factory=list)
    dispatched: list[str] = field(default_factory=list)  # shipment ids dispatched (200)
    held_back: set = field(default_factory=set)  # shipment ids the clerk leaves to the test
    to_complain: queue.Queue = field(default_factory=queue.Queue)  # (order id, buyer) paid
    complaints_accepted: list[str] = field(default_factory=list)  # order ids
    complaints_refused: list[str] = field(default_factory=list)
    tracking: itertools.count = field(default_factory=itertools.count)  # tracking numbers, never twice
    lied: list[str] = field(default_factory=list)  # orders whose payment was applied after a 503 said not
    in_doubt: list[tuple] = field(default_factory=list)  # ("place", buyer, key, sku, qty) / ("receive", ref, key)
    resolved: Counter = field(default_factory=Counter)  # how the in-doubt requests turned out
    producers: list[threading.Thread] = field(default_factory=list)
    payers: list[threading.Thread] = field(default_factory=list)

    def start(self) -> None:
        self.producers = [threading.Thread(target=self.buyer, args=(k,), daemon=True) for k in range(BUYERS)]
        if self.clerk:
            self.producers.append(threading.Thread(target=self.receive, daemon=True))
        if self.warehouse:
            self.producers.append(threading.Thread(target=self.dispatcher, daemon=True))
        if self.complainers:
            self.producers.append(threading.Thread(target=self.complain, daemon=True))
        self.payers = [threading.Thread(target=self.payer, daemon=True) for _ in range(PAYERS)]
        for t in self.producers + self.payers:
            t.start()

    def finish(self) -> None:
        """Stop placing; resolve the requests in doubt; the payers pay what was placed, then stop."""
        self.stop.set()
        for t in self.producers:
            t.join(30)
        self.resolve()
        for _ in self.payers:
            self.to_pay.put(None)
        for t in self.payers:
            t.join(PAY_TRIES_FOR + 30)
        assert not any(t.is_alive() for t in self.producers + self.payers)

    def call(self, kind: str, send) -> requests.Response | None:
        started = time.monotonic()
        outcome, held = None, False
        try:
            resp = send()
            status, ctype = resp.status_code, resp.headers.get("Content-Type", "")
            if status == 503 and ctype.startswith("application/problem+json"):
                outcome = resp.json().get("outcome")
            held = status == 409 and self.key_verdict(resp) == "not applied"
        except requests.RequestException as exc:
            resp, status, ctype = None, 0, type(exc).__name__
        with self.lock:
            self.answers.append(Answer(kind, started, time.monotonic(), status, ctype, outcome, held))
        return resp

    @staticmethod
    def in_doubt_answer(resp) -> bool:
        return resp is not None and resp.status_code == 503 and resp.json().get("outcome") == "unknown"

    @staticmethod
    def key_verdict(resp) -> str | None:
        """What a 409 to a repeat with the same Idempotency-Key says about the first request (None: a
        409 of another kind)."""
        said = resp.json().get("errors", {}).get("Idempotency-Key", [None])[0]
        return {"Already processed.": "applied", "Request in progress.": "not applied"}.get(said)

    def verdict(self, resp) -> str:
        verdict = self.key_verdict(resp)
        assert verdict is not None, resp.text
        return verdict

    def buyer(self, k: int) -> None:
        n = 0
        while not self.stop.is_set():
            n += 1
            buyer, key = f"c{k}b{n}", uuid.uuid4().hex
            sku, qty = ("DBO-1", "DBO-2")[n % 2], 1 + (n + k) % 3
            placed = self.place(buyer, key, sku, qty)
            if placed is not None and placed.status_code == 201:
                self.to_pay.put((placed.json()["order_id"], buyer, sku, qty))
            else:
                with self.lock:
                    if self.in_doubt_answer(placed):
                        self.in_doubt.append(("place", buyer, key, sku, qty))
                    else:
                        self.refused_buyers.append(buyer)
            self.stop.wait(PAUSE)

    def place(self, buyer: str, key: str, sku: str, qty: int, kind: str = "place"):
        return self.call(
            kind, lambda: self.saga.place([{"sku_code": sku, "quantity": qty}], buyer=buyer, idempotency_key=key)
        )

    def payer(self) -> None:
        while (item := self.to_pay.get()) is not None:
            oid, buyer, sku, qty = item
            paid = self.pay(oid, buyer)
            with self.lock:
                (self.accepted.append((oid, sku, qty)) if paid else self.unpaid.append(oid))
            if paid and self.complainers:
                self.to_complain.put((oid, buyer))

    def pay(self, oid: str, buyer: str) -> bool:
        """Pay, retrying a 503 with the same key, as a client does. With billing's database away, a
        try that had claimed its key before the database went cannot release it: the same key then
        answers 409 in progress for up to 60 s. Nothing was applied (the 503 said so), so the payer
        pays again with a new key; a second payment could not be made anyway (one active payment per
        order: it would be refused, and the order left unpaid, which the test checks). A payment
        lost at its COMMIT (503 `outcome: unknown`) is repeated with its key until billing says:
        already processed, it is paid; in progress, it was not applied, and it is paid again with a
        new key. Already processed after 503s that all said nothing was changed would be a 503 that
        lied: noted in `lied`."""
        key, kind = uuid.uuid4().hex, "pay"  # the same key for every try of this payment
        deadline = time.monotonic() + PAY_TRIES_FOR
        while time.monotonic() < deadline:
            paid = self.call(kind, lambda: self.saga.pay(oid, buyer=buyer, idempotency_key=key))
            if paid is None:
                return False
            verdict = self.key_verdict(paid) if paid.status_code == 409 else None
            if kind == "repeat" and (paid.status_code == 201 or verdict):
                with self.lock:
                    self.resolved[f"pay: {verdict or 'not applied, applied now'}"] += 1
            if paid.status_code == 201 or verdict == "applied":
                if verdict == "applied" and kind != "repeat":
                    with self.lock:
                        self.lied.append(oid)
                return True
            if verdict == "not applied":
                key, kind = uuid.uuid4().hex, "pay"
                continue
            if paid.status_code != 503:
                return False
            if self.in_doubt_answer(paid):
                kind = "repeat"
            time.sleep(0.2)
        return False

    def receive(self) -> None:
        n = 0
        while not self.stop.is_set():
            n += 1
            ref, key = f"GRN-{n}", uuid.uuid4().hex
            resp = self.post_receipt(ref, key)
            with self.lock:
                if resp is not None and resp.status_code == 201:
                    self.receipts_accepted.append(ref)
                elif self.in_doubt_answer(resp):
                    self.in_doubt.append(("receive", ref, key))
                else:
                    self.receipts_refused.append(ref)
            self.stop.wait(0.1)

    def post_receipt(self, ref: str, key: str, kind: str = "receive"):
        return self.call(
            kind,
            lambda: self.saga["inventory"].post(
                f"/api/v1/stock/{RECEIPT_SKU}/adjustments",
                role="warehouse",
                sub="wang",
                shop_id="S1",
                headers={"Idempotency-Key": key},
                json={"kind": "inbound", "quantity": 1, "reason": "采购入库", "reference": ref},
            ),
        )

    def dispatcher(self) -> None:
        """The warehouse: list the pending shipments, dispatch them one by one, list again. A shipment
        whose dispatch was refused is still pending and is dispatched again (a new key and tracking
        number) from a later list."""
        while not self.stop.is_set():
            listed = self.call(
                "shipments",
                lambda: self.saga["logistics"].get(
                    "/api/v1/shipments", role="warehouse", sub="wang", shop_id="S1", params={"status": "pending"}
                ),
            )
            pending = listed.json()["items"] if listed is not None and listed.status_code == 200 else []
            for item in pending:
                if self.stop.is_set():
                    break
                if item["shipment_id"] in self.held_back:
                    continue
                sid, key, tracking_no = item["shipment_id"], uuid.uuid4().hex, self.tracking_no()
                resp = self.post_dispatch(sid, key, tracking_no)
                with self.lock:
                    if resp is not None and resp.status_code == 200:
                        self.dispatched.append(sid)
                    elif self.in_doubt_answer(resp):
                        self.in_doubt.append(("dispatch", sid, key, tracking_no))
                self.stop.wait(0.05)
            self.stop.wait(0.2)

    def complain(self) -> None:
        """Each buyer complains once about the order just paid (a complaint refused with 503 is not
        sent again: it must not exist)."""
        while not self.stop.is_set():
            try:
                oid, buyer = self.to_complain.get(timeout=0.1)
            except queue.Empty:
                continue
            key = uuid.uuid4().hex
            resp = self.post_complaint(oid, buyer, key)
            with self.lock:
                if resp is not None and resp.status_code == 201:
                    self.complaints_accepted.append(oid)
                elif self.in_doubt_answer(resp):
                    self.in_doubt.append(("complain", oid, buyer, key))
                else:
                    self.complaints_refused.append(oid)

    def post_complaint(self, oid: str, buyer: str, key: str, kind: str = "complain"):
        return self.call(
            kind,
            lambda: self.saga["aftersales"].post(
                "/api/v1/complaints",
                role="buyer",
                sub=buyer,
                headers={"Idempotency-Key": key},
                json={"order_id": oid, "tier": "general", "text": "付款了还没发货，什么时候发？"},
            ),
        )

    def tracking_no(self) -> str:
        with self.lock:
            return f"SF{next(self.tracking):010d}"

    def post_dispatch(self, sid: str, key: str, tracking_no: str, kind: str = "dispatch"):
        return self.call(
            kind,
            lambda: self.saga["logistics"].post(
                f"/api/v1/shipments/{sid}/dispatch",
                role="warehouse",
                sub="wang",
                shop_id="S1",
                headers={"Idempotency-Key": key},
                json={"tracking_no": tracking_no},
            ),
        )

    def resolve(self) -> None:
        """What a client does with a request in doubt once the service is back: the same request with
        the same key. 409 already processed: it was applied (an order is looked up and paid); 409 in
        progress: it was not (the key stays held for a while; a shipment not dispatched is still
        pending and is dispatched at the end); a success: it was not, and now it is."""
        repeat = {
            "place": self.place,
            "receive": self.post_receipt,
            "dispatch": self.post_dispatch,
            "complain": self.post_complaint,
        }
        for item in self.in_doubt:
            resp = repeat[item[0]](*item[1:], kind="repeat")
            if resp.status_code == 409:
                verdict = self.verdict(resp)
            else:
                assert resp.status_code == OK[item[0]], resp.text
                verdict = "not applied, applied now"
            self.resolved[f"{item[0]}: {verdict}"] += 1
            if item[0] == "receive":
                (self.receipts_refused if verdict == "not applied" else self.receipts_accepted).append(item[1])
                continue
            if item[0] == "dispatch":
                if verdict != "not applied":
                    self.dispatched.append(item[1])
                continue
            if item[0] == "complain":
                (self.complaints_refused if verdict == "not applied" else self.complaints_accepted).append(item[1])
                continue
            _, buyer, _, sku, qty = item
            if verdict == "not applied":
                self.refused_buyers.append(buyer)
                continue
            mine = self.saga["orders"].get("/api/v1/orders", role="buyer", sub=buyer).json()["items"]
            assert len(mine) == 1, mine
            self.to_pay.put((mine[0]["order_id"], buyer, sku, qty))


def outcomes(outcome: str, service: str | None = None) -> float:
    return sum(
        sample.value
        for family in metrics.EVENTS_HANDLED.collect()
        for sample in family.samples
        if sample.name.endswith("_total")
        and sample.labels.get("outcome") == outcome
        and (service is None or sample.labels.get("service") == service)
    )


def _redeliver(p, producer_service: str, routing_key: str, order_id: str) -> None:
    from kombu import Producer

    from ecom_common import bus

    config = p[producer_service].config
    with p[producer_service].db.engine.connect() as conn:
        rows = conn.execute(
            sa.select(outbox.c.event_id, outbox.c.body).where(outbox.c.routing_key == routing_key)
        ).all()
    event_id, body = next((e, b) for e, b in rows if json.loads(b)["payload"]["order_id"] == order_id)
    with bus.connect(config, role="test-redeliver") as conn:
        bus.publish_raw(
            Producer(conn.channel()), bus.topology_for(config).exchange, routing_key, body, message_id=event_id
        )


def _payment_webhook(p, saga, order_id: str):
    """The sandbox provider sending the payment event of `order_id` again (read from its books now,
    signed when sent), as it resends a webhook that got no 2xx."""
    from billing import domain
    from billing.models import SandboxEvent, SandboxIntent
    from billing.settings import WEBHOOK_PATH, Settings
    from ecom_common.settings import settings_of

    billing = p["billing"]
    with billing.db.Session() as s:
        body = (
            s.execute(
                sa.select(SandboxEvent.body)
                .join(SandboxIntent, SandboxIntent.intent_id == SandboxEvent.intent_id)
                .where(SandboxIntent.order_id == order_id)
            )
            .scalar_one()
            .encode()
        )

    def send():
        secret = settings_of(billing.config, Settings).signing_secret(billing.config.jwt_secret)
        signature = domain.sign(secret, body, int(billing.config.clock.now().timestamp()))
        return requests.post(
            billing.url + WEBHOOK_PATH,
            data=body,
            timeout=HTTP_TIMEOUT,
            headers={"Content-Type": "application/json", domain.SIGNATURE_HEADER: signature},
        )

    return send


WARM_TRACKING_NO = "SFWARM000001"


def _dispatch_warm(p, saga, order_id: str) -> None:
    """The warehouse dispatches `order_id`'s parcel; wait until every consumer of ShipmentDispatched
    has handled it (so that its copy redelivered during the outage is a duplicate for each)."""
    from ecom_common.db import inbox

    def handled(name: str) -> bool:
        with p[name].db.engine.connect() as conn:
            return (
                conn.execute(
                    sa.select(sa.func.count())
                    .select_from(inbox)
                    .where(inbox.c.event_type == "logistics.ShipmentDispatched")
                ).scalar_one()
                == 1
            )

    saga.dispatch(saga.shipment_for(order_id)["shipment_id"], WARM_TRACKING_NO)
    saga.wait_status(order_id, "shipped")
    for name in ("inventory", "aftersales"):
        eventually(lambda: handled(name), message=f"{name} handled the warm order's ShipmentDispatched")


def _carrier_webhook(p, saga, order_id: str):
    """The carrier's report that `order_id`'s parcel (dispatched) is in transit: one event id, resent
    until it gets a 2xx."""
    carrier = saga.shipment_for(order_id)["carrier"]
    event_id = uuid.uuid4().hex
    return lambda: saga.carrier_reports(carrier, WARM_TRACKING_NO, "in_transit", event_id=event_id)


def _dispatch_pending(saga, traffic) -> int:
    """The warehouse's last round: every shipment still pending dispatched (200 each)."""
    pending = (
        saga["logistics"]
        .get(
            "/api/v1/shipments", role="warehouse", sub="wang", shop_id="S1", params={"status": "pending", "limit": 200}
        )
        .json()["items"]
    )
    for item in pending:
        saga.dispatch(item["shipment_id"], traffic.tracking_no())
    return len(pending)


@dataclass(frozen=True)
class Outage:
    """One case of the table: whose database goes away, and what that changes in the traffic and in
    what is checked."""

    service: str
    needs: frozenset[str]  # the kinds of request that need its database (placing also needs logistics')
    warm_copy: tuple[str, str]  # (producer, routing key) of a consumed event redelivered during the outage
    end: str = "awaiting_shipment"  # where every accepted order ends ("shipped": a warehouse clerk dispatches)
    webhook: Callable | None = None  # the signed webhook the service takes: (p, saga, order) -> send()
    settings: dict = field(default_factory=dict)  # on top of the saga's
    clerk: bool = False  # a clerk posts inbound receipts (a write of its own during the outage)
    complainers: bool = False  # buyers complain about the orders they paid
    held_dispatch: bool = False  # one paid order's parcel dispatched by the test right after the cut


OUTAGES = {
    case.service: case
    for case in (
        Outage("orders", frozenset({"place", "pay"}), ("billing", "billing.PaymentSucceeded")),
        Outage("inventory", frozenset({"receive"}), ("orders", "orders.OrderPaid"), clerk=True),
        # billing's provider retries an intent still pending 1 s after its confirmation (30 s by
        # default), once the test runs its retry job after the restore
        Outage(
            "billing",
            frozenset({"pay", "webhook"}),
            ("orders", "orders.OrderPlaced"),
            webhook=_payment_webhook,
            settings={"BILLING_SANDBOX_RETRY_AFTER_SECONDS": "1"},
        ),
        Outage(
            "logistics",
            frozenset({"place", "shipments", "dispatch", "webhook"}),
            ("orders", "orders.OrderReadyToShip"),
            end="shipped",
            webhook=_carrier_webhook,
            held_dispatch=True,
        ),
        Outage(
            "aftersales",
            frozenset({"complain"}),
            ("logistics", "logistics.ShipmentDispatched"),
            end="shipped",
            complainers=True,
        ),
    )
}


@pytest.mark.parametrize("service", list(OUTAGES))
def test_a_services_database_lost_while_orders_flow(service, reliability_report):
    case = OUTAGES[service]
    real = sa.engine.make_url(database_url())
    proxy = TcpProxy(real.host or "127.0.0.1", real.port or 5432).start()
    proxied = real.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    try:
        with Platform(
            scenarios.ALL_SERVICES, settings={**scenarios.SAGA_SETTINGS, **case.settings}, db_urls={service: proxied}
        ) as p:
            try:
                _scenario(case, p, proxy, reliability_report)
            finally:
                proxy.restore()  # the schemas are dropped through it
    finally:
        proxy.close()


def _scenario(case: Outage, p, proxy, reliability_report):
    from billing.models import SandboxEvent, SandboxIntent, WebhookReceipt
    from inventory.models import StockMovement
    from logistics.models import Shipment, TrackingEvent
    from orders.models import Order

    service, end = case.service, case.end
    saga = scenarios.Saga(p)
    for sku, units in SKUS.items():
        saga.product(sku, price_fen=9900, stock=units)
    warm = saga.placed_and_paid("DBO-1")  # every consumer up and the saga flowing
    saga.wait_status(warm, "awaiting_shipment")
    if end == "shipped":  # its parcel dispatched (ShipmentDispatched handled by orders, inventory, aftersales)
        _dispatch_warm(p, saga, warm)
    webhook = case.webhook(p, saga, warm) if case.webhook else None
    traffic = Traffic(saga, clerk=case.clerk, warehouse=end == "shipped", complainers=case.complainers)
    held = None
    if case.held_dispatch:  # a paid order whose parcel the test dispatches right after the cut
        held = saga.placed_and_paid("DBO-2")
        saga.wait_status(held, "awaiting_shipment")
        held_dispatch = (saga.shipment_for(held)["shipment_id"], uuid.uuid4().hex, "SFHELD000001")
        traffic.held_back.add(held_dispatch[0])
    before = {o: outcomes(o) for o in ("retried", "dead_lettered", "duplicate")}
    before.update({f"{o}:{service}": outcomes(o, service) for o in ("retried", "requeued")})

    traffic.start()
    time.sleep(BEFORE_CUT)
    # With both cores busy, placing and paying one order can take longer than BEFORE_CUT: the cut
    # waits for one, so that orders accepted before it are always part of the scenario.
    eventually(lambda: traffic.accepted, timeout=120, interval=0.05, message="an order accepted before the cut")
    accepted_when_cut = len(traffic.accepted)
    cut_at = time.monotonic()
    proxy.cut()
    # Whether traffic happens to bring the service's consumer a message in these 3 s depends on
    # timing; a redelivered copy of one it handled before (the warm order's) always does: it must be
    # requeued while the database is away, then dropped as a duplicate. The same for the webhook.
    _redeliver(p, *case.warm_copy, warm)
    if webhook:
        traffic.call("webhook", webhook)
    if held:
        traffic.post_dispatch(*held_dispatch)
    time.sleep(OUTAGE_SECONDS)
    # and the restore waits for a request that needs the database to have been answered during the
    # outage (however slow the machine), so that there is always one whose answer is checked below
    eventually(
        lambda: any(a.kind in case.needs and a.started > cut_at for a in list(traffic.answers)),
        timeout=120,
        interval=0.05,
        message="a request that needs the database answered during the outage",
    )
    proxy.restore()
    back_at = time.monotonic()
    time.sleep(AFTER_RESTORE)
    traffic.finish()
    # The sender of the webhook refused during the outage sends it again (twice: once applied, a
    # duplicate); billing's copy is of an event received before the outage: a duplicate both times.
    resent = [traffic.call("repeat", webhook) for _ in range(2)] if webhook else []
    assert all(r.status_code == 200 for r in resent), [r.text for r in resent]
    assert [r.json()["duplicate"] for r in resent] == {"billing": [True, True], "logistics": [False, True]}.get(
        service, []
    )
    if held:  # the dispatch refused during the outage left nothing: the same request, same key, runs now
        again = [traffic.post_dispatch(*held_dispatch, kind="repeat") for _ in range(2)]
        assert [r.status_code for r in again] == [200, 200], [r.text for r in again]
        assert again[0].json()["status"] == "dispatched" and again[1].json() == again[0].json()  # then replayed
    accepted = [(warm, "DBO-1", 1), *([(held, "DBO-2", 1)] if held else []), *traffic.accepted]
    ids = [oid for oid, _, _ in accepted]

    # Answers: success or 503 problem+json, nothing else; while the database was away, every request
    # that needed it got a 503; those that did not need it were served.
    answers = [a for a in traffic.answers if a.kind != "repeat"]  # (the repeats are checked where made)
    with guarantee("every request answered with its success or 503 problem+json, truthfully"):
        # (a payment retried with a key still held, see Traffic.pay, is answered 409 in progress)
        assert [a for a in answers if a.status not in (OK[a.kind], 503) and not (a.kind == "pay" and a.held)] == []
        assert traffic.lied == []
        assert all(a.content_type.startswith("application/problem+json") for a in answers if a.status == 503)
        # Writes build their answer before the commit: none is lost after it.
        assert not any(a.outcome == "saved" for a in answers)
    during = [a for a in answers if a.kind in case.needs and cut_at < a.started and a.ended < back_at]
    with guarantee("503 for what needs the database while it is away, service as usual for the rest"):
        assert during and all(a.status == 503 for a in during)
        assert all(a.status == OK[a.kind] for a in answers if a.kind not in case.needs)
        assert [a.status for a in answers if a.kind == "webhook"] == ([503] if webhook else [])
        if held:  # (whatever the clerk's timing, a dispatch met the outage)
            assert any(a.kind == "dispatch" for a in during)
        assert traffic.unpaid == []
        assert accepted_when_cut > 0 and len(traffic.accepted) > accepted_when_cut
        # placing needs orders' database, and logistics' for the shipping quote
        assert bool(traffic.refused_buyers) == ("place" in case.needs)
        if case.clerk:
            assert traffic.receipts_refused

    # Every accepted order reaches its end state (awaiting_shipment; with a warehouse: shipped), each step
    # once. Billing: the provider's retry job resolves the intents it could not while the database
    # was away and resends their webhooks (in production every 10 s, after 30 s).
    resent_by_provider = []

    def provider_retry():
        if service == "billing":
            resent_by_provider.append(p.run_job("billing", "sandbox-webhook-retry") or 0)

    last_round = 0
    if end == "shipped":  # the warehouse dispatches what is still pending once every shipment exists
        eventually(
            lambda: shipments_per_order(p) == Counter(ids), timeout=90, interval=0.25, message="one shipment per order"
        )
        last_round = _dispatch_pending(saga, traffic)
    wait_each_order_reached(p, ids, end, poll=provider_retry)
    drained_at = time.monotonic()
    assert_each_order_reached(p, saga, ids, end)

    # Nothing of a refused order anywhere.
    refused = traffic.refused_buyers
    assert_nothing_of(p, refused)
    with p["orders"].db.Session() as s:
        assert s.execute(sa.select(sa.func.count()).select_from(Order)).scalar_one() == len(ids)

    # No second charge (and no payment row left by a refused attempt); the provider's books agree:
    # one intent per payment, succeeded, its one webhook event delivered and received once.
    billing = p["billing"].db
    eventually(
        lambda: (
            provider_retry()
            or scenarios.count(billing, SandboxEvent.__table__, SandboxEvent.delivered_at.is_(None)) == 0
        ),
        timeout=30,
        interval=0.25,
        message="every provider webhook event delivered",
    )
    assert_no_double_charge(p, ids, every_attempt=True)
    with guarantee("the payment provider's books agree"), billing.Session() as s:
        intents = Counter(
            s.execute(sa.select(SandboxIntent.order_id).where(SandboxIntent.status == "succeeded")).scalars()
        )
        all_intents = s.execute(sa.select(sa.func.count()).select_from(SandboxIntent)).scalar_one()
        provider_events = Counter(s.execute(sa.select(SandboxEvent.intent_id)).scalars())
        received = Counter(s.execute(sa.select(WebhookReceipt.intent_id)).scalars())
        assert intents == Counter(ids) and all_intents == len(ids)
        assert len(provider_events) == len(ids) and set(provider_events.values()) == {1}
        assert received == provider_events

    # No stock taken twice; the receipts refused left nothing. Logistics: every reservation deducted
    # once the inventory worker has consumed the dispatches.
    taken = "deducted" if end == "shipped" else "reserved"
    wait_reservations(p, ids, taken)
    stock_received = {
        sku: units + (len(traffic.receipts_accepted) if sku == RECEIPT_SKU else 0) for sku, units in SKUS.items()
    }
    assert_no_double_reservation(p, accepted, stock_received, taken)
    with guarantee("an inbound receipt refused with 503 left nothing"), p["inventory"].db.Session() as s:
        receipts = Counter(
            s.execute(sa.select(StockMovement.reference).where(StockMovement.reference.like("GRN-%"))).scalars()
        )
        assert receipts == Counter(traffic.receipts_accepted)

    # One shipment per order, created once (logistics: dispatched once; the carrier's report once).
    assert_one_shipment_per_order(p, ids, dispatched=end == "shipped")
    if end == "shipped":
        with guarantee("each carrier report applied once"), p["logistics"].db.Session() as s:
            statuses = Counter(s.execute(sa.select(Shipment.order_id, Shipment.status)).all())
            reports = Counter(s.execute(sa.select(TrackingEvent.carrier_event_id)).scalars())
            in_transit = {warm} if service == "logistics" else set()
            assert statuses == Counter({(oid, "in_transit" if oid in in_transit else "dispatched"): 1 for oid in ids})
            assert list(reports.values()) == ([1] if service == "logistics" else [])

    # Every complaint accepted exists once, the refused ones not at all.
    assert_each_complaint_once(p, traffic.complaints_accepted)
    if case.complainers:
        assert traffic.complaints_refused and traffic.complaints_accepted

    # Requeued, never retried or dead-lettered; every outbox drained.
    assert_outboxes_drained_and_dlqs_empty(p)
    requeued = outcomes("requeued", service) - before[f"requeued:{service}"]
    with guarantee("what met the outage was requeued, without spending a retry"):
        assert requeued > 0  # the consumer met the outage (at least the redelivered copy)
        eventually(
            lambda: outcomes("duplicate") - before["duplicate"] >= 1,
            timeout=30,
            message="the redelivered copy dropped as a duplicate once the database was back",
        )
        assert outcomes("retried", service) == before[f"retried:{service}"]  # and spent no retry on it
        assert outcomes("dead_lettered") == before["dead_lettered"]

    needing = [a for a in answers if a.kind in case.needs]
    first_ok = min((a.ended for a in needing if a.started > back_at and a.status == OK[a.kind]), default=None)
    reliability_report(
        {
            "scenario": f"{service} database lost while orders flow (saga)",
            "proves": f"503 problem+json while it is away; every accepted order reaches {end} once; "
            "refused ones exist nowhere; no stock taken twice, no second charge, nothing dead-lettered",
            "outage_seconds": OUTAGE_SECONDS,
            "orders_accepted": len(ids),
            "orders_accepted_when_cut": accepted_when_cut + len(accepted) - len(traffic.accepted),
            "orders_refused_503": len(refused),  # nothing of them anywhere
            "payments_503_retried": sum(1 for a in answers if a.kind == "pay" and a.status == 503),
            # retried with a key that the outage left held (409 in progress), then paid with a new key
            **(
                {"payment_keys_left_held": sum(1 for a in answers if a.kind == "pay" and a.held)}
                if service == "billing"
                else {}
            ),
            **(
                {
                    "receipts_accepted": len(traffic.receipts_accepted),
                    "receipts_refused_503": len(traffic.receipts_refused),
                }
                if case.clerk
                else {}
            ),
            **(
                {
                    "dispatches_accepted": len(traffic.dispatched),
                    "dispatches_refused_503": sum(1 for a in answers if a.kind == "dispatch" and a.status == 503),
                    "shipment_lists_refused_503": sum(1 for a in answers if a.kind == "shipments" and a.status == 503),
                    "dispatched_at_the_end": last_round,
                }
                if end == "shipped"
                else {}
            ),
            **(
                {"held_back_dispatch": "503 during the outage, then 200 with the same key, then replayed"}
                if held
                else {}
            ),
            **(
                {
                    "complaints_accepted": len(traffic.complaints_accepted),
                    "complaints_refused_503": len(traffic.complaints_refused),
                }
                if case.complainers
                else {}
            ),
            **(
                {
                    "webhook_during_outage": 503,
                    "webhook_resent_after": " then ".join(
                        "duplicate" if r.json()["duplicate"] else "applied" for r in resent
                    ),
                }
                if webhook
                else {}
            ),
            **({"webhooks_resent_by_provider_retry": sum(resent_by_provider)} if service == "billing" else {}),
            "requests_needing_it_during_outage": len(during),
            "answers_503_problem_json": sum(1 for a in answers if a.status == 503),
            # lost at their COMMIT (503 outcome=unknown), then repeated with the same Idempotency-Key
            "answers_503_in_doubt": sum(1 for a in answers if a.outcome == "unknown"),
            "in_doubt_applied": sum(n for k, n in traffic.resolved.items() if k.endswith(": applied")),
            "in_doubt_not_applied": sum(n for k, n in traffic.resolved.items() if not k.endswith(": applied")),
            "answers_other_than_success_or_503": 0,
            "slowest_answer_during_outage_s": round(max(a.ended - a.started for a in during), 2),
            "messages_requeued": int(requeued),
            "messages_retried_by_it": 0,
            # other services' retries (e.g. billing's OrderPlaced racing POST /payments for the order copy)
            "messages_retried_elsewhere": int(outcomes("retried") - before["retried"]),
            "messages_dead_lettered": 0,
            "duplicates_absorbed_by_inboxes": int(outcomes("duplicate") - before["duplicate"]),
            "seconds_to_first_success_after_restore": round(first_ok - back_at, 2) if first_ok else None,
            f"seconds_from_restore_to_all_{end}": round(drained_at - back_at, 2),
        },
        scenario=f"saga_database_outage_{service}",
    )


def assert_each_complaint_once(p, order_ids: list[str]) -> None:
    from aftersales.models import Complaint

    with guarantee("a complaint accepted exists once, a refused one not at all"), p["aftersales"].db.Session() as s:
        assert Counter(s.execute(sa.select(Complaint.order_id)).scalars()) == Counter(order_ids)


# The database lost at and right after a write's commit ---------------------------------------------
WRITES = {"orders": "orders", "billing": "payments", "inventory": "stock_movements"}  # service -> table written


@contextmanager
def cut_at_commit(db, proxy: TcpProxy, table: str, moment: str, applied=None):
    """Cut `proxy` when a web request's transaction that inserted into `table` commits, in one of
    three ways (hooks in the request's own thread):
    - "after": once the commit is acknowledged (session after_commit): everything the request does
      after its commit meets a database that is gone;
    - "at": just before the COMMIT is sent (engine commit event): it never reaches the server;
    - "applied": the COMMIT reaches the server, which applies it, but its answer is held back
      (`hold_replies`) until `applied()` (read directly, not through the proxy) sees the change,
      and then the connection is cut: the request cannot know that it was applied.
    Restored on leaving the block."""
    local = threading.local()
    fired: list[float] = []

    def on_execute(conn, cursor, statement, parameters, context, executemany):
        if has_request_context() and statement.lstrip().startswith(f"INSERT INTO {table} "):
            local.wrote = True

    def cut_when_applied():
        eventually(applied, timeout=30, message="the COMMIT applied by the server")
        # noted before the cut: the request answers as soon as its connection is cut, and the test
        # may look at `fired` before this thread runs again
        fired.append(time.monotonic())
        proxy.cut()

    def cut(*_args):
        if getattr(local, "wrote", False):
            local.wrote = False
            if moment == "applied":
                proxy.hold_replies()
                threading.Thread(target=cut_when_applied, daemon=True).start()
            else:
                fired.append(time.monotonic())
                proxy.cut()

    target, event = (db.Session, "after_commit") if moment == "after" else (db.engine, "commit")
    sa.event.listen(db.engine, "after_cursor_execute", on_execute)
    sa.event.listen(target, event, cut)
    try:
        yield fired
    finally:
        sa.event.remove(target, event, cut)
        sa.event.remove(db.engine, "after_cursor_execute", on_execute)
        proxy.restore()


def test_the_database_lost_at_or_right_after_a_commit_is_answered_truthfully(reliability_report):
    """A request whose change is committed is answered 201 with what it did even if the database goes
    away right after its commit (write views read nothing after it; storing the Idempotency-Key
    answer is best effort): a 503 would tell the client that nothing was changed when it was. A
    repeat with the same Idempotency-Key is refused as already processed, never run twice.

    A request whose connection is lost at the COMMIT cannot know whether it was applied: it answers
    503 with `outcome: unknown` (not "nothing was changed"), and the same key tells the client once
    the database is back: when the COMMIT never reached the server, nothing exists, and a repeat
    runs it now, once (the key the request could not release with the database away is released
    by the process's next keyed request); when the server applied it, the order exists once,
    complete with its OrderPlaced, and a repeat is refused as already processed. Never run twice."""
    real = sa.engine.make_url(database_url())
    proxies = {name: TcpProxy(real.host or "127.0.0.1", real.port or 5432).start() for name in WRITES}
    urls = {
        name: real.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
        for name, proxy in proxies.items()
    }
    answers = {}
    try:
        with Platform(
            ["catalog", "orders", "inventory", "logistics", "billing", "marketing"],
            settings=scenarios.SAGA_SETTINGS,
            db_urls=urls,
        ) as p:
            try:
                saga = scenarios.Saga(p)
                saga.product("AC-1", price_fen=9900, stock=10)

                def write(
                    service: str, send, moment: str = "after", status: int = 201, applied=None, repeated: int = 409
                ):
                    key = uuid.uuid4().hex
                    with cut_at_commit(p[service].db, proxies[service], WRITES[service], moment, applied) as fired:
                        first = send(key)
                    assert fired, f"{service}: no commit seen"
                    assert first.status_code == status, f"{service}: {first.status_code} {first.text}"
                    again = send(key)  # the database is back
                    assert again.status_code == repeated, f"{service}: {again.status_code} {again.text}"
                    label = {
                        "after": "lost_after_commit",
                        "at": "lost_at_commit_not_applied",
                        "applied": "lost_at_commit_applied",
                    }[moment]
                    said = (
                        f"409 {again.json()['errors']['Idempotency-Key'][0].rstrip('.').lower()}"
                        if again.status_code == 409
                        else f"{again.status_code}, run now"
                    )
                    answers[f"{service}_{label}"] = f"{first.status_code} then {said}"
                    return first.json(), (again.json().get("errors") if again.status_code == 409 else again.json())

                order, again = write(
                    "orders",
                    lambda key: saga.place([{"sku_code": "AC-1", "quantity": 2}], buyer="ann", idempotency_key=key),
                )
                assert again == {"Idempotency-Key": ["Already processed."]}
                assert order["status"] == "pending_payment" and [e["status"] for e in order["timeline"]] == [
                    "pending_payment"
                ]
                assert saga.order(order["order_id"])["payable_fen"] == order["payable_fen"]
                assert _rows(p["orders"].db, "SELECT count(*) FROM orders WHERE buyer_id = 'ann'") == 1

                payment, again = write(
                    "billing", lambda key: saga.pay(order["order_id"], buyer="ann", idempotency_key=key)
                )
                assert again == {"Idempotency-Key": ["Already processed."]}
                assert payment["order_id"] == order["order_id"] and payment["amount_fen"] == order["payable_fen"]
                assert (
                    _rows(p["billing"].db, f"SELECT count(*) FROM payments WHERE order_id = '{order['order_id']}'") == 1
                )

                receipt, again = write(
                    "inventory",
                    lambda key: p["inventory"].post(
                        "/api/v1/stock/AC-1/adjustments",
                        role="warehouse",
                        sub="wang",
                        shop_id="S1",
                        headers={"Idempotency-Key": key},
                        json={"kind": "inbound", "quantity": 5, "reason": "采购入库"},
                    ),
                )
                assert again == {"Idempotency-Key": ["Already processed."]}
                assert receipt["movement"]["on_hand_delta"] == 5
                assert saga.stock("AC-1")["on_hand"] == receipt["stock"]["on_hand"] == 15

                lost, placed = write(
                    "orders",
                    lambda key: saga.place([{"sku_code": "AC-1", "quantity": 1}], buyer="cid", idempotency_key=key),
                    moment="at",
                    status=503,
                    repeated=201,
                )
                assert lost["outcome"] == "unknown" and "may or may not" in lost["detail"]
                # not applied: the repeat placed it, once
                assert placed["status"] == "pending_payment"
                assert _rows(p["orders"].db, "SELECT count(*) FROM orders WHERE buyer_id = 'cid'") == 1
                assert [e["payload"]["order_id"] for e in recorded_events(p["orders"].db, "orders.OrderPlaced")].count(
                    placed["order_id"]
                ) == 1

                direct = sa.create_engine(with_search_path(database_url(), f"{p.prefix}_orders"))
                try:
                    dees = lambda: _rows_on(direct, "SELECT count(*) FROM orders WHERE buyer_id = 'dee'")  # noqa: E731
                    lost, again = write(
                        "orders",
                        lambda key: saga.place([{"sku_code": "AC-1", "quantity": 1}], buyer="dee", idempotency_key=key),
                        moment="applied",
                        status=503,
                        applied=lambda: dees() == 1,
                    )
                finally:
                    direct.dispose()
                assert lost["outcome"] == "unknown" and "may or may not" in lost["detail"]
                assert again == {"Idempotency-Key": ["Already processed."]}
                [mine] = p["orders"].get("/api/v1/orders", role="buyer", sub="dee").json()["items"]
                assert mine["status"] == "pending_payment"
                assert [e["payload"]["order_id"] for e in recorded_events(p["orders"].db, "orders.OrderPlaced")].count(
                    mine["order_id"]
                ) == 1
            finally:
                for proxy in proxies.values():
                    proxy.restore()
    finally:
        for proxy in proxies.values():
            proxy.close()
    reliability_report(
        {
            "scenario": "database lost at or right after a write's commit (orders, billing, inventory)",
            "proves": "a committed write is answered 201 with what it did, not 503; a write lost at its COMMIT "
            "answers 503 outcome=unknown, not 'nothing was changed'; a repeat with the same "
            "Idempotency-Key is refused (409) when it was applied and runs once when it was not; "
            "never run twice",
            **answers,
        },
        scenario="database_lost_at_commit",
    )


def _rows(db, sql: str) -> int:
    return _rows_on(db.engine, sql)


def _rows_on(engine, sql: str) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.text(sql)).scalar_one()
