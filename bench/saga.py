"""End-to-end saga: orders placed over HTTP and taken through the six real services to settlement.

The six services run as deployed (bench/stack.py: per service a gunicorn web with
deploy/gunicorn.conf.py and an `ecom worker`, like deploy/Procfile) on PostgreSQL (a schema each)
and RabbitMQ (a bus namespace of their own), on loopback. Products are created, submitted and
approved through catalog's API and stocked through inventory's; then each order goes the way a buyer,
the warehouse and the carrier take it:

    POST /orders (buyer) -> POST /payments (buyer; the sandbox provider confirms BILLING_SANDBOX_CONFIRM_DELAY_MS
    later through billing's webhook) -> paid, reserved, audited: awaiting_shipment (orders.OrderReadyToShip)
    -> shipment created (logistics.ShipmentCreated) -> POST /shipments/{id}/dispatch (warehouse)
    -> orders.OrderShipped -> carrier webhook `delivered` (signed) -> orders.OrderDelivered
    -> POST /orders/{id}/confirm-receipt (buyer) -> completed -> billing.SettlementScheduled
    -> `ecom job billing settle-due` -> billing.SettlementPaid.

Settlement is T+N days after completion (BILLING_SETTLEMENT_DAYS, 7): the benchmark sets it to 0 so
that the settlements are due at once, and runs the job as an operator (or its schedule) would, once
after every order of the run is scheduled; the workers' own schedule is set to an hour
(ECOM_JOB_INTERVAL) so that only that run settles. Every step after placing and paying is driven by
the events themselves: an observer queue bound to `#` on the namespace's exchange timestamps every
event (and counts them: the saga's messages), and reactor threads do the warehouse's, the carrier's and
the buyer's HTTP calls when the event they wait for is seen.

Per run (at least 3; interleaved with the baseline):
1. closed loop: N orders (300; --quick 40) placed and paid by CLIENTS threads as fast as answered,
   the rest of the chain running meanwhile: orders/s to awaiting_shipment (N / last ReadyToShip -
   first POST), to settlement scheduled, and to settled (the job's end); latency p50/p95/p99 of
   POST /orders, POST /payments and of the chain (POST -> ReadyToShip, POST -> SettlementScheduled);
   CPU ms per order (all twelve service processes, gunicorn's worker children included, plus the job);
   saga messages/s (events published in the namespace / elapsed);
2. baseline: raw kombu loop with confirms per batch (bench/raw_loop.loop_once(., batch=100), the
   relay's way of publishing) -> ratio saga msg/s / raw msg/s (target >= 0.3);
3. POST /orders alone, open loop at RATE/s (50; bench/load.py: the i-th request is due at start +
   i/RATE and its latency counts from then), every process running: p50/p95/p99 (target p99 <= 50 ms).
   (The whole saga cannot run at 50 orders/s on this machine: see the CPU per order.)
Targets (issue 8): >= 100 orders/s end to end on PostgreSQL; p99 POST /orders <= 50 ms at 50 orders/s;
saga msg/s >= 0.3 of the raw loop.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import http.client
import itertools
import json
import os
import queue
import resource
import subprocess
import threading
import time
import uuid

from kombu import Connection, Consumer, Queue, binding

from ecom_common import bus
from ecom_testkit import token

from . import raw_loop
from .common import BIN, REPO, cpu_seconds, percentile, scratch
from .load import drive
from .stack import Stack

NAME = "saga"
SERVICES = ["catalog", "orders", "inventory", "aftersales", "logistics", "billing"]
SHOP = "S-BENCH"
CARRIER_SECRET = "bench-carrier-webhook-secret"
PRODUCTS = 20  # SKUs the orders are spread over (one stock row each)
BUYERS = 50
RATE = 50.0  # orders/s of the open-loop run
TARGETS = {"orders_s": 100.0, "post_p99_ms_at_rate": 50.0, "msg_ratio": 0.3}
# The services' settings for the benchmark (besides addresses and secrets).
SETTINGS = {
    "LOGISTICS_CARRIER_WEBHOOK_SECRET": CARRIER_SECRET,
    "BILLING_SANDBOX_CONFIRM_DELAY_MS": 20,
    "BILLING_SETTLEMENT_DAYS": 0,  # settlements due at completion; the job is run by the benchmark
    "ECOM_JOB_INTERVAL": 3600,  # no scheduled job runs during a measurement
    "ECOM_LOG_LEVEL": "INFO",
}
ADDRESS = {
    "name": "张三",
    "province": "浙江",
    "city": "杭州",
    "district": "西湖区",
    "street": "文三路",
    "detail": "100号3幢501",
}
FAILED = ("orders.OrderHeld", "orders.OrderCancelled", "inventory.StockShortage", "billing.PaymentFailed")
# What the reactors do on seeing an event (the order's next HTTP step).
STEPS = {"logistics.ShipmentCreated": "dispatch", "orders.OrderShipped": "deliver", "orders.OrderDelivered": "confirm"}


# HTTP -------------------------------------------------------------------------------------------
class Http:
    """JSON over keep-alive http.client connections, one per thread and service (cheap on the client,
    which shares the two cores with the services)."""

    def __init__(self, stack: Stack):
        self.stack = stack
        self.local = threading.local()

    def _conn(self, service: str, fresh: bool = False) -> http.client.HTTPConnection:
        conns = self.local.__dict__.setdefault("conns", {})
        if fresh and service in conns:
            conns.pop(service).close()
        if service not in conns:
            conns[service] = http.client.HTTPConnection("127.0.0.1", self.stack.port(service), timeout=30)
        return conns[service]

    def call(
        self, service: str, method: str, path: str, body=None, headers: dict | None = None, raw: bytes | None = None
    ) -> tuple[int, dict | None]:
        payload = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        h = {"Content-Type": "application/json", **(headers or {})}
        for attempt in (0, 1):
            conn = self._conn(service, fresh=attempt > 0)
            try:
                conn.request(method, path, body=payload, headers=h)
                resp = conn.getresponse()
                data = resp.read()
                break
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                # an idle keep-alive connection the server closed: nothing was handled, send again
                if attempt:
                    raise
        if resp.getheader("Connection", "").lower() == "close":
            self._conn(service, fresh=True)
        try:
            return resp.status, json.loads(data) if data else None
        except ValueError:
            return resp.status, {"raw": data[:200].decode(errors="replace")}

    def close(self) -> None:
        for conn in self.local.__dict__.get("conns", {}).values():
            conn.close()


def bearer(role: str, sub: str, shop_id: str | None = None) -> dict:
    return {"Authorization": f"Bearer {token(role=role, sub=sub, shop_id=shop_id)}"}


def expect(status, wanted, data, what):
    if status != wanted:
        raise RuntimeError(f"{what}: {status} {data}")


def create_products(http: Http, count: int, prefix: str = "BENCH") -> list[str]:
    """`count` phones of one SKU each, created, submitted and approved through catalog's API."""
    merchant = bearer("ops", "bench-merchant", SHOP)
    reviewer = bearer("reviewer", "bench-reviewer")
    skus = []
    for i in range(count):
        sku = f"{prefix}-{i:03d}"
        body = {
            "category_id": "digital-phones",
            "title": f"轻薄5G手机 {sku}",
            "brand": "Acme",
            "description": "全新正品",
            "attributes": {"网络类型": "5G", "存储容量": ["128GB"]},
            "images": [{"url": "https://img.example/p.jpg", "width": 800, "height": 800}],
            "skus": [
                {
                    "sku_code": sku,
                    "spec": {"存储容量": "128GB"},
                    "list_price_fen": 9900,
                    "weight_g": 400,
                    "low_stock_threshold": 2,
                }
            ],
        }
        status, data = http.call("catalog", "POST", "/api/v1/products", body, merchant)
        expect(status, 201, data, "create product")
        pid = data["product_id"]
        status, data = http.call("catalog", "POST", f"/api/v1/products/{pid}/submit", {}, merchant)
        expect(status, 200, data, "submit product")
        status, data = http.call("catalog", "POST", f"/api/v1/products/{pid}/approve", {}, reviewer)
        expect(status, 200, data, "approve product")
        skus.append(sku)
    return skus


def order_body(sku: str, phone_seq: int) -> dict:
    return {
        "shop_id": SHOP,
        "lines": [{"sku_code": sku, "quantity": 1}],
        "address": {**ADDRESS, "phone": f"139{phone_seq:08d}"},
    }


class PlaceOrders:
    """load.drive's request maker for POST /api/v1/orders: one line, a new Idempotency-Key and
    receiver phone each, over SKUs listed in catalog by `seed(stack)` (or given)."""

    def __init__(self, skus: list[str] | None = None, prefix: str = "PLACE", phone_base: int = 50_000_000):
        self.skus = list(skus or [])
        self.prefix = prefix
        self.phone_base = phone_base
        self.buyers = [
            {**bearer("buyer", f"{prefix.lower()}-buyer-{i}"), "Content-Type": "application/json"} for i in range(20)
        ]
        self.phones = itertools.count(phone_base)  # a new receiver each order (repeat-phone audit rule)

    def seed(self, stack) -> None:
        http = Http(stack)
        self.skus = create_products(http, 10, prefix=self.prefix)
        http.close()

    def __call__(self, i: int) -> tuple:
        body = json.dumps(order_body(self.skus[i % len(self.skus)], next(self.phones))).encode()
        return (
            "POST",
            "/api/v1/orders",
            body,
            {**self.buyers[i % len(self.buyers)], "Idempotency-Key": uuid.uuid4().hex},
        )


# The bus ----------------------------------------------------------------------------------------
class Observer:
    """Every event of the namespace (a queue bound to `#`): first time seen per (order, type), the
    count, and each reaction handed to the reactors."""

    def __init__(self, config, on_event):
        self.config = config
        self.topology = bus.topology_for(config)
        self.queue = Queue(
            self.topology.name("bench.saga.observer"),
            durable=False,
            auto_delete=True,
            bindings=[binding(self.topology.exchange, routing_key="#")],
        )
        self.on_event = on_event
        self.seen: dict[str, dict[str, float]] = {}
        self.times: list[float] = []  # every event's arrival
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True, name="saga-observer")

    def on_message(self, body, message):
        now = time.monotonic()
        data = bus.body_json(message)
        rk = message.delivery_info["routing_key"]
        payload = data.get("payload") or {}
        order_ids = payload.get("order_ids") or ([payload["order_id"]] if payload.get("order_id") else [])
        with self.lock:
            self.times.append(now)
            for oid in order_ids:
                self.seen.setdefault(oid, {}).setdefault(rk, now)
        message.ack()
        self.on_event(rk, payload, now)

    def run(self):
        with Connection(self.config.broker_url, heartbeat=0) as conn:
            channel = conn.channel()
            self.topology.declare(channel)
            self.queue(channel).declare()
            channel.basic_qos(0, 500, False)
            with Consumer(channel, [self.queue], callbacks=[self.on_message], accept=None):
                self.ready.set()
                while not self.stop.is_set():
                    with contextlib.suppress(TimeoutError):
                        conn.drain_events(timeout=0.2)

    def first(self, order_id: str, rk: str) -> float | None:
        with self.lock:
            return self.seen.get(order_id, {}).get(rk)

    def count_between(self, start: float, end: float) -> int:
        with self.lock:
            return sum(1 for t in self.times if start <= t <= end)


# One run ----------------------------------------------------------------------------------------
class Bench:
    """The running platform, its seed, the observer and the reactors; `saga_once` runs N orders."""

    def __init__(self, sc, stack: Stack, clients: int, reactors: int):
        self.sc, self.stack = sc, stack
        self.http = Http(stack)
        self.clients, self.reactors = clients, reactors
        self.skus: list[str] = []
        self.buyers = [f"bench-buyer-{i}" for i in range(BUYERS)]
        self.buyer_auth = {b: bearer("buyer", b) for b in self.buyers}
        self.warehouse = bearer("warehouse", "bench-wh", SHOP)
        self.order_buyer: dict[str, str] = {}
        self.tasks: queue.Queue = queue.Queue()
        self.errors: list[str] = []
        self.errors_lock = threading.Lock()
        self.phone_seq = itertools.count(1)
        self.observer = Observer(sc.configs["orders"], self.react)
        self.workers = [
            threading.Thread(target=self.reactor, daemon=True, name=f"saga-reactor-{i}") for i in range(reactors)
        ]

    def start(self):
        self.observer.thread.start()
        if not self.observer.ready.wait(30):
            raise RuntimeError("the observer queue was not ready within 30s")
        for t in self.workers:
            t.start()

    def close(self):
        for _ in self.workers:
            self.tasks.put(None)
        self.observer.stop.set()

    def error(self, text: str) -> None:
        with self.errors_lock:
            self.errors.append(text[:300])

    # Seed ---------------------------------------------------------------------------------------
    def seed(self, units: int) -> None:
        """PRODUCTS phones listed in catalog; `units` of each received in inventory."""
        self.skus = create_products(self.http, PRODUCTS)
        store = bearer("warehouse", "bench-wh", SHOP)
        for sku in self.skus:
            deadline = time.monotonic() + 60
            while (
                self.http.call(
                    "inventory", "GET", f"/api/v1/stock/{sku}?shop_id={SHOP}", None, bearer("service", "bench")
                )[0]
                != 200
            ):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"no stock item for {sku} within 60s (ProductListed not handled)")
                time.sleep(0.1)
            status, data = self.http.call(
                "inventory",
                "POST",
                f"/api/v1/stock/{sku}/adjustments",
                {"kind": "inbound", "quantity": units, "reason": "采购入库"},
                store,
            )
            expect(status, 201, data, "stock in")

    # Reactions ----------------------------------------------------------------------------------
    def react(self, rk: str, payload: dict, now: float) -> None:
        step = STEPS.get(rk)
        if step:
            self.tasks.put((step, payload))

    def reactor(self) -> None:
        while (task := self.tasks.get()) is not None:
            step, payload = task
            try:
                getattr(self, f"_{step}")(payload)
            except Exception as exc:
                self.error(f"{step} {payload.get('order_id')}: {exc!r}")

    def _dispatch(self, p: dict) -> None:
        if p.get("case_id"):
            return
        tracking_no = f"BN{uuid.uuid4().int % 10**14:014d}"
        status, data = self.http.call(
            "logistics",
            "POST",
            f"/api/v1/shipments/{p['shipment_id']}/dispatch",
            {"tracking_no": tracking_no},
            self.warehouse,
        )
        if status != 200:
            self.error(f"dispatch {p['order_id']}: {status} {data}")

    def _deliver(self, p: dict) -> None:
        body = json.dumps(
            {
                "event_id": uuid.uuid4().hex,
                "carrier": p["carrier"],
                "tracking_no": p["tracking_no"],
                "status": "delivered",
                "location": "杭州",
            }
        ).encode()
        sig = "sha256=" + hmac.new(CARRIER_SECRET.encode(), body, hashlib.sha256).hexdigest()
        status, data = self.http.call(
            "logistics", "POST", "/api/v1/tracking/webhook", raw=body, headers={"X-Carrier-Signature": sig}
        )
        if status != 200:
            self.error(f"carrier webhook {p['order_id']}: {status} {data}")

    def _confirm(self, p: dict) -> None:
        buyer = self.order_buyer.get(p["order_id"])
        if buyer is None:
            return  # not an order of this benchmark
        status, data = self.http.call(
            "orders", "POST", f"/api/v1/orders/{p['order_id']}/confirm-receipt", {}, self.buyer_auth[buyer]
        )
        if status != 200:
            self.error(f"confirm {p['order_id']}: {status} {data}")

    # Placing and paying -------------------------------------------------------------------------
    def place_and_pay(self, i: int, t0: float, out: dict) -> None:
        buyer = self.buyers[i % BUYERS]
        body = order_body(self.skus[i % len(self.skus)], next(self.phone_seq))
        headers = {**self.buyer_auth[buyer], "Idempotency-Key": uuid.uuid4().hex}
        status, data = self.http.call("orders", "POST", "/api/v1/orders", body, headers)
        placed = time.monotonic()
        if status != 201:
            self.error(f"POST /orders: {status} {data}")
            return
        oid = data["order_id"]
        self.order_buyer[oid] = buyer
        headers = {**self.buyer_auth[buyer], "Idempotency-Key": uuid.uuid4().hex}
        status, data = self.http.call(
            "billing", "POST", "/api/v1/payments", {"order_id": oid, "method": "alipay"}, headers
        )
        paid = time.monotonic()
        if status != 201:
            self.error(f"POST /payments {oid}: {status} {data}")
            return
        out[oid] = (t0, placed - t0, paid - placed)

    def saga_once(self, n: int, rate: float | None, bar, timeout: float) -> dict:
        """N orders through the whole chain; rate=None: as fast as CLIENTS threads get answers."""
        orders: dict[str, tuple] = {}
        counter = itertools.count()
        pids = self.stack.pids()
        cpu0 = cpu_seconds(pids)
        by0 = self.stack.cpu_by_process()
        start = time.monotonic()

        def client():
            try:
                while (i := next(counter)) < n:
                    due = start + i / rate if rate else None
                    if due is not None and (delay := due - time.monotonic()) > 0:
                        time.sleep(delay)
                    self.place_and_pay(i, due if due is not None else time.monotonic(), orders)
            except Exception as exc:
                self.error(f"client: {exc!r}")

        threads = [threading.Thread(target=client, daemon=True) for _ in range(self.clients)]
        for t in threads:
            t.start()
        deadline = start + timeout
        done_before = 0
        while time.monotonic() < deadline:
            placing = any(t.is_alive() for t in threads)
            done = sum(1 for oid in list(orders) if self.observer.first(oid, "billing.SettlementScheduled"))
            failed = sum(1 for oid in list(orders) if any(self.observer.first(oid, rk) for rk in FAILED))
            bar.update(done - done_before)
            done_before = done
            if not placing and done + failed >= len(orders):
                break
            time.sleep(0.05)
        scheduled_at = time.monotonic()
        cpu1 = cpu_seconds(pids)
        by1 = self.stack.cpu_by_process()
        by_process = {k: round((by1[k] - by0[k]) * 1000 / n, 2) for k in by1}
        # Settlement: the job, once, as an operator or its schedule would run it.
        usage0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        job = subprocess.run(
            [str(BIN / "ecom"), "job", "billing", "settle-due"],
            cwd=REPO,
            env=self.stack.env("billing"),
            capture_output=True,
            text=True,
            timeout=300,
        )
        usage1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        job_cpu = (usage1.ru_utime - usage0.ru_utime) + (usage1.ru_stime - usage0.ru_stime)
        job_end = time.monotonic()
        if job.returncode != 0:
            self.error(f"settle-due: {job.returncode} {job.stdout[-200:]} {job.stderr[-300:]}")
        settle_deadline = time.monotonic() + 30
        while time.monotonic() < settle_deadline:
            paid_out = sum(1 for oid in list(orders) if self.observer.first(oid, "billing.SettlementPaid"))
            if paid_out >= done_before:
                break
            time.sleep(0.05)
        settled_seen = time.monotonic()
        cpu2 = cpu_seconds(pids)
        bar.update(max(0, n - done_before))
        out = self.figures(
            n, rate, orders, start, scheduled_at, job_end, settled_seen, cpu1 - cpu0, cpu2 - cpu1 + job_cpu
        )
        out[("at_rate_" if rate else "") + "cpu_ms_per_order_by_process"] = by_process
        return out

    def figures(self, n, rate, orders, start, scheduled_at, job_end, settled_seen, cpu_chain, cpu_settle) -> dict:
        obs = self.observer
        ids = list(orders)

        def stage(rk):
            return {oid: t for oid in ids if (t := obs.first(oid, rk)) is not None}

        ready = stage("orders.OrderReadyToShip")
        scheduled = stage("billing.SettlementScheduled")
        settled = stage("billing.SettlementPaid")
        failed = {oid for oid in ids if any(obs.first(oid, rk) for rk in FAILED)}
        last_ready = max(ready.values(), default=None)
        last_scheduled = max(scheduled.values(), default=None)
        chain_ready = [(ready[o] - orders[o][0]) * 1000 for o in ready]
        chain_scheduled = [(scheduled[o] - orders[o][0]) * 1000 for o in scheduled]
        place = [orders[o][1] * 1000 for o in ids]
        pay = [orders[o][2] * 1000 for o in ids]
        events = obs.count_between(start, last_scheduled) if last_scheduled else 0
        window = (last_scheduled - start) if last_scheduled else None
        complete = len(scheduled) == n and len(settled) == n and not failed
        out = {
            "mode": f"open loop {rate:g}/s" if rate else f"closed loop, {self.clients} clients",
            "orders": n,
            "placed_and_paid": len(ids),
            "ready": len(ready),
            "scheduled": len(scheduled),
            "settled": len(settled),
            "failed": len(failed),
            "complete": complete,
            "errors": len(self.errors),
            "orders_ready_s": len(ready) / (last_ready - start) if last_ready else None,
            "orders_scheduled_s": len(scheduled) / window if window else None,
            "orders_settled_s": len(settled) / (job_end - start) if settled else None,
            "settle_job_s": job_end - scheduled_at,
            "place_p50_ms": percentile(place, 50),
            "place_p95_ms": percentile(place, 95),
            "place_p99_ms": percentile(place, 99),
            "pay_p50_ms": percentile(pay, 50),
            "pay_p99_ms": percentile(pay, 99),
            "chain_ready_p50_ms": percentile(chain_ready, 50),
            "chain_ready_p95_ms": percentile(chain_ready, 95),
            "chain_ready_p99_ms": percentile(chain_ready, 99),
            "chain_scheduled_p50_ms": percentile(chain_scheduled, 50),
            "chain_scheduled_p95_ms": percentile(chain_scheduled, 95),
            "chain_scheduled_p99_ms": percentile(chain_scheduled, 99),
            "cpu_ms_per_order": (cpu_chain + cpu_settle) * 1000 / n,
            "cpu_ms_per_order_settle": cpu_settle * 1000 / n,
            "events": events,
            "events_per_order": events / n,
            "saga_msg_s": events / window if window else None,
            "achieved_rate": len(ids) / (max(o[0] for o in orders.values()) - start) if len(ids) > 1 else None,
        }
        if rate:
            out = {("at_rate_" + k if k not in ("mode",) else k): v for k, v in out.items()}
        return out


# The benchmark ----------------------------------------------------------------------------------
def sizes(args) -> tuple[int, int, int]:
    n = args.orders or (40 if args.quick else 300)
    at_rate = args.rate_orders or (100 if args.quick else 250)
    messages = 500 if args.quick else 2000
    return n, at_rate, messages


def steps(args) -> int:
    n, at_rate, messages = sizes(args)
    return args.runs * (n + at_rate + messages)


def settings_for(args) -> dict:
    return {**SETTINGS, **dict(kv.split("=", 1) for kv in (args.saga_env or []))}


def run(args, bar) -> dict:
    n, at_rate, messages = sizes(args)
    clients = args.clients or (8 if not args.quick else 4)
    settings = settings_for(args)
    runs = []
    notes = []
    with scratch(SERVICES) as sc:
        env_web = {k: os.environ[k] for k in ("WEB_CONCURRENCY", "GUNICORN_THREADS") if k in os.environ}
        with Stack(sc, SERVICES, settings=settings) as stack:
            bench = Bench(sc, stack, clients=clients, reactors=args.reactors or 8)
            bench.start()
            try:
                bench.seed(units=args.runs * n + 100)
                placer = PlaceOrders(bench.skus, phone_base=50_000_000)
                # warm-up: a few orders through everything (imports, pools, JITs of the first requests)
                bench.saga_once(min(10, n), None, _NullBar(), timeout=120)
                bench.errors.clear()
                for k in range(args.runs):
                    if args.profile and k == 0:
                        from .common import RESULTS
                        from .spy import Spy

                        with Spy(stack.named_pids(), RESULTS / "saga.pyspy"):
                            closed = bench.saga_once(n, None, bar, timeout=max(120, n))
                        notes.append(
                            "run 1 profiled with py-spy (its figures include py-spy's overhead): "
                            "bench/results/saga.pyspy.txt"
                        )
                    else:
                        closed = bench.saga_once(n, None, bar, timeout=max(120, n))
                    closed_errors = list(bench.errors)
                    bench.errors.clear()
                    raw = raw_loop.loop_once(messages, bar.update, batch=raw_loop.BATCH)
                    at = place_at_rate(stack, placer, at_rate, bar)
                    figures = {**closed, **at, "raw_loop_batched_msg_s": raw["loop_msg_s"]}
                    figures["msg_ratio"] = (
                        closed["saga_msg_s"] / raw["loop_msg_s"] if closed.get("saga_msg_s") else None
                    )
                    figures["error_samples"] = closed_errors[:5]
                    runs.append(figures)
                    if closed_errors or not closed["complete"] or at["at_rate_non_2xx"]:
                        notes.append(
                            f"run {len(runs)}: complete={closed['complete']}, errors={closed_errors[:3]}, "
                            f"non-2xx at {RATE:g}/s={at['at_rate_non_2xx']}"
                        )
            finally:
                bench.close()
    rows = [
        (f"orders/s to awaiting_shipment (target >= {TARGETS['orders_s']:g})", "orders_ready_s"),
        ("orders/s to settlement scheduled", "orders_scheduled_s"),
        ("orders/s to settled (settle-due job run once)", "orders_settled_s"),
        ("settle-due job s", "settle_job_s"),
        ("POST /orders p50 ms (closed loop)", "place_p50_ms"),
        ("POST /orders p95 ms (closed loop)", "place_p95_ms"),
        ("POST /orders p99 ms (closed loop)", "place_p99_ms"),
        ("POST /payments p50 ms", "pay_p50_ms"),
        ("chain POST->awaiting_shipment p50 ms", "chain_ready_p50_ms"),
        ("chain POST->awaiting_shipment p95 ms", "chain_ready_p95_ms"),
        ("chain POST->awaiting_shipment p99 ms", "chain_ready_p99_ms"),
        ("chain POST->settlement scheduled p50 ms", "chain_scheduled_p50_ms"),
        ("chain POST->settlement scheduled p95 ms", "chain_scheduled_p95_ms"),
        ("chain POST->settlement scheduled p99 ms", "chain_scheduled_p99_ms"),
        ("CPU ms per order (12 processes + job)", "cpu_ms_per_order"),
        ("events per order", "events_per_order"),
        ("saga msg/s", "saga_msg_s"),
        ("raw loop msg/s, confirms per 100 (baseline)", "raw_loop_batched_msg_s"),
        (f"ratio saga/raw msg/s (target >= {TARGETS['msg_ratio']})", "msg_ratio"),
        (f"POST /orders alone at {RATE:g}/s: achieved rps", "at_rate_rps"),
        (f"POST /orders alone at {RATE:g}/s: p50 ms", "at_rate_p50_ms"),
        (f"POST /orders alone at {RATE:g}/s: p95 ms", "at_rate_p95_ms"),
        (f"POST /orders alone at {RATE:g}/s: p99 ms (target <= {TARGETS['post_p99_ms_at_rate']:g})", "at_rate_p99_ms"),
        (f"POST /orders alone at {RATE:g}/s: CPU ms per order", "at_rate_cpu_ms_per_order"),
        ("orders failed (held/cancelled/shortage)", "failed"),
        ("HTTP/step errors", "errors"),
    ]
    return {
        "settings": {
            "orders": n,
            "orders_at_rate": at_rate,
            "rate": RATE,
            "clients": clients,
            "reactors": args.reactors or 8,
            "runs": args.runs,
            "products": PRODUCTS,
            "raw_loop_messages": messages,
            "service_settings": settings,
            "gunicorn": {
                "WEB_CONCURRENCY": env_web.get("WEB_CONCURRENCY", "2 (default)"),
                "GUNICORN_THREADS": env_web.get("GUNICORN_THREADS", "4 (default)"),
            },
            "relay_poll_interval": os.environ.get("ECOM_RELAY_POLL_INTERVAL", "0.5 (default)"),
            "database": "postgresql",
            "broker": "rabbitmq",
        },
        "runs": runs,
        "targets": {
            "orders_ready_s": f">= {TARGETS['orders_s']:g}",
            "at_rate_p99_ms": f"<= {TARGETS['post_p99_ms_at_rate']:g} at {RATE:g} orders/s",
            "msg_ratio": f">= {TARGETS['msg_ratio']}",
        },
        "rows": rows,
        "notes": notes
        + [
            "settlement: BILLING_SETTLEMENT_DAYS=0 and `ecom job billing settle-due` run once per run after "
            "every order's SettlementScheduled; 'to settled' includes that job",
            "saga msg/s: events on the namespace's exchange (observer queue bound to #) from the first POST "
            "to the last SettlementScheduled; the observer's copy is extra broker work not in the services",
        ],
    }


def place_at_rate(stack: Stack, placer: PlaceOrders, count: int, bar) -> dict:
    """POST /orders alone, open loop at RATE/s (load.drive: the i-th request is due at start + i/RATE
    and its latency counts from then), with every service and worker running: the issue's p99 at 50
    orders/s. The orders stay unpaid (only billing's copy of OrderPlaced follows)."""
    pids = stack.pids()
    cpu0 = cpu_seconds(pids)
    result = drive("127.0.0.1", stack.port("orders"), placer, count, threads=8, rate=RATE, on_progress=bar.update)
    cpu1 = cpu_seconds(pids)
    bar.update(count % 50)
    out = result.figures("at_rate")
    out["at_rate_cpu_ms_per_order"] = (cpu1 - cpu0) * 1000 / count
    return out


class _NullBar:
    def update(self, n=1):
        pass
