"""Hot SKU (flash sale) at the inventory level: 100 units, 200 / 1,000 / 2,000 concurrent buyers.

Written against the event contract, not against inventory's code: each buyer is one
`orders.OrderPaid` event (a distinct order, one line of quantity 1, payload validated by events.py)
published onto the bus of a namespace of its own; inventory's real workers (`ecom worker
inventory`, WORKERS processes, as deployed) consume them on PostgreSQL; the outcome of each attempt
is the `inventory.StockReserved` or `inventory.StockShortage` event that inventory publishes for that
order, counted by an observer queue bound to the namespace's exchange.

Per level and run, a new SKU with 100 units on hand. Figures:
- attempts/s: outcomes / (last outcome - first publish);
- latency of one attempt (publish of OrderPaid -> its outcome on the bus) p50/p95/p99;
- CPU ms per attempt of the inventory workers;
- correctness: exactly 100 StockReserved, every other order a StockShortage, one outcome per order,
  `reserved` of the SKU = 100 at the end (GET /api/v1/stock/{sku} of inventory's own app), and
  on_hand - reserved never negative in the samples taken every 20 ms while it runs.

Target: at least 300 attempts/s with correctness.
"""

from __future__ import annotations

import contextlib
import subprocess
import threading
import time
import uuid
from datetime import UTC, datetime

import sqlalchemy as sa
from kombu import Connection, Consumer, Producer, Queue, binding

from ecom_common import bus
from ecom_common.events import make_event
from ecom_testkit import auth

from .common import BIN, REPO, Text, cpu_seconds, percentile, scratch, spread, stop_process

NAME = "hot_sku"
UNITS = 100
TARGET_ATTEMPTS_S = 300
OUTCOMES = ("inventory.StockReserved", "inventory.StockShortage")
SHOP = "S-FLASH"


def order_paid(order_id: str, sku: str):
    return make_event(
        "orders.OrderPaid",
        {
            "order_id": order_id,
            "shop_id": SHOP,
            "buyer_id": f"B{order_id}",
            "payable_fen": 9900,
            "paid_at": datetime.now(UTC).isoformat(),
            "lines": [{"sku_code": sku, "quantity": 1, "unit_price_fen": 9900, "category_id": "C-FLASH"}],
        },
    )


def seed(db, sku: str) -> None:
    """100 units on hand of a new SKU. Through inventory's table (no receiving endpoint is in the
    contract yet): the same row the ProductListed handler creates, with its ledger entry."""
    from inventory.models import StockItem, StockMovement

    now = datetime.now(UTC)
    with db.Session() as s:
        s.add(
            StockItem(
                sku_code=sku,
                warehouse_code="WH1",
                shop_id=SHOP,
                on_hand=UNITS,
                reserved=0,
                low_stock_threshold=10,
                sellable=True,
                created_at=now,
                updated_at=now,
            )
        )
        s.add(
            StockMovement(
                shop_id=SHOP,
                sku_code=sku,
                warehouse_code="WH1",
                kind="in",
                on_hand_delta=UNITS,
                reserved_delta=0,
                cause="bench:flash-sale",
                actor="bench",
                created_at=now,
            )
        )
        s.commit()


class Observer:
    """Counts outcome events per order from a queue bound to the namespace's exchange."""

    def __init__(self, config):
        self.config = config
        self.topology = bus.topology_for(config)
        self.queue = Queue(
            self.topology.name("bench.outcomes"),
            durable=False,
            auto_delete=True,
            bindings=[binding(self.topology.exchange, routing_key=rk) for rk in OUTCOMES],
        )
        self.seen: dict[str, list] = {}
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def on_message(self, body, message):
        data = bus.body_json(message)
        now = time.monotonic()
        order_id = data["payload"]["order_id"]
        with self.lock:
            self.seen.setdefault(order_id, []).append((message.delivery_info["routing_key"], now))
        message.ack()

    def run(self):
        with Connection(self.config.broker_url, heartbeat=0) as conn:
            channel = conn.channel()
            self.topology.declare(channel)
            self.queue(channel).declare()
            channel.basic_qos(0, 200, False)
            with Consumer(channel, [self.queue], callbacks=[self.on_message], accept=None):
                self.ready.set()
                while not self.stop.is_set():
                    with contextlib.suppress(TimeoutError):
                        conn.drain_events(timeout=0.2)

    def outcomes(self, orders: set[str]) -> int:
        with self.lock:
            return sum(1 for o in orders if o in self.seen)


def queue_state(config) -> tuple[int, int]:
    """(messages ready, consumers) of inventory.events in the namespace."""
    topology = bus.topology_for(config)
    with Connection(config.broker_url, heartbeat=0) as conn:
        _, messages, consumers = conn.channel().queue_declare(topology.name("inventory.events"), passive=True)
        return messages, consumers


def handles_order_paid() -> bool:
    from ecom_common.service import load

    return any("orders.OrderPaid" in sub.handlers for sub in load("inventory").subscriptions)


def sampler(db, sku: str, stop: threading.Event, out: dict) -> None:
    from inventory.models import StockItem

    stmt = sa.select(sa.func.sum(StockItem.on_hand), sa.func.sum(StockItem.reserved)).where(
        StockItem.shop_id == SHOP, StockItem.sku_code == sku
    )
    with db.engine.connect() as conn:
        while not stop.is_set():
            on_hand, reserved = conn.execute(stmt).one()
            conn.rollback()
            if on_hand is not None:
                out["min_available"] = min(out.get("min_available", on_hand), on_hand - reserved)
                out["samples"] = out.get("samples", 0) + 1
            stop.wait(0.02)


def one_level(sc, observer, producer, workers, buyers: int, bar, timeout: float) -> dict:
    config, db = sc.configs["inventory"], sc.dbs["inventory"]
    sku = f"FLASH-{uuid.uuid4().hex[:8]}"
    seed(db, sku)
    orders = [f"O{uuid.uuid4().hex[:16]}" for _ in range(buyers)]
    bodies = [order_paid(o, sku) for o in orders]
    sample: dict = {}
    stop = threading.Event()
    threading.Thread(target=sampler, args=(db, sku, stop, sample), daemon=True).start()
    published: dict[str, float] = {}
    cpu0 = cpu_seconds([w.pid for w in workers])
    start = time.monotonic()
    exchange = bus.topology_for(config).exchange
    for _k, (order_id, event) in enumerate(zip(orders, bodies, strict=False)):
        published[order_id] = time.monotonic()
        bus.publish_raw(producer, exchange, event.routing_key, event.to_json(), message_id=event.event_id)
    order_set = set(orders)
    deadline = time.monotonic() + timeout
    done_before = 0
    idle_since = None
    while time.monotonic() < deadline:
        done = observer.outcomes(order_set)
        bar.update(done - done_before)
        done_before = done
        if done >= buyers:
            break
        # Nothing left to handle and no outcome for a while: the handler emits none (or lost some).
        ready, _ = queue_state(config)
        if ready == 0:
            idle_since = idle_since or time.monotonic()
            if time.monotonic() - idle_since > 3:
                break
        else:
            idle_since = None
        time.sleep(0.1)
    time.sleep(0.3)  # late duplicates, if any, are counted too
    cpu1 = cpu_seconds([w.pid for w in workers])
    stop.set()
    bar.update(max(0, buyers - done_before))

    with observer.lock:
        seen = {o: list(observer.seen.get(o, [])) for o in orders}
    reserved_events = sum(1 for o in orders for rk, _ in seen[o] if rk == "inventory.StockReserved")
    shortage_events = sum(1 for o in orders for rk, _ in seen[o] if rk == "inventory.StockShortage")
    answered = [o for o in orders if seen[o]]
    twice = [o for o in orders if len(seen[o]) > 1]
    last = max((t for o in answered for _, t in seen[o]), default=None)
    latencies = [(min(t for _, t in seen[o]) - published[o]) * 1000 for o in answered]
    stock = stock_via_api(sc, sku)
    correct = (
        reserved_events == UNITS
        and len(answered) == buyers
        and not twice
        and stock.get("reserved") == UNITS
        and sample.get("min_available", 0) >= 0
        and stock.get("available", -1) >= 0
    )
    return {
        "buyers": buyers,
        "outcomes": len(answered),
        "reserved_events": reserved_events,
        "shortage_events": shortage_events,
        "orders_with_two_outcomes": len(twice),
        "db_on_hand": stock.get("on_hand"),
        "db_reserved": stock.get("reserved"),
        "min_available_seen": sample.get("min_available"),
        "stock_samples": sample.get("samples", 0),
        "attempts_s": len(answered) / (last - start) if answered and last > start else None,
        "p50_ms": percentile(latencies, 50),
        "p95_ms": percentile(latencies, 95),
        "p99_ms": percentile(latencies, 99),
        "worker_cpu_ms_per_attempt": (cpu1 - cpu0) * 1000 / buyers,
        "correct": correct,
    }


def stock_via_api(sc, sku: str) -> dict:
    """The SKU's stock as inventory's own API reports it (in-process app, contract-level figures)."""
    from ecom_common.service import load

    app = load("inventory").create_app(sc.configs["inventory"], sc.dbs["inventory"])
    resp = app.test_client().get(f"/api/v1/stock/{sku}?shop_id={SHOP}", headers=auth("ops", sub="bench", shop_id=SHOP))
    return resp.get_json() if resp.status_code == 200 else {"status": resp.status_code}


def start_workers(sc, count: int) -> list[subprocess.Popen]:
    env = sc.env("inventory", ECOM_LOG_LEVEL="INFO")
    procs = [
        subprocess.Popen(
            [str(BIN / "ecom"), "worker", "inventory"],
            cwd=REPO,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(count)
    ]
    config = sc.configs["inventory"]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for p in procs:
            if p.poll() is not None:
                raise RuntimeError(f"inventory worker exited with {p.returncode}")
        try:
            if queue_state(config)[1] >= count:
                return procs
        except Exception:
            pass
        time.sleep(0.3)
    for p in procs:
        stop_process(p)
    raise RuntimeError("inventory workers did not start consuming within 60s")


def levels(args) -> list[int]:
    return [int(x) for x in str(args.levels).split(",") if x.strip()]


def steps(args) -> int:
    return args.runs * sum(levels(args))


def run(args, bar) -> dict:
    per_level: dict[int, list[dict]] = {}
    notes = []
    has_handler = handles_order_paid()
    if not has_handler:
        notes.append(
            "inventory on this branch has no orders.OrderPaid handler: no attempt gets an outcome, "
            "so correctness is NO until the reservation handler is merged"
        )
    with scratch(["inventory"]) as sc:
        observer = Observer(sc.configs["inventory"])
        observer.thread.start()
        observer.ready.wait(10)
        workers = start_workers(sc, args.workers)
        try:
            with bus.connect(sc.configs["inventory"], role="bench-buyers") as conn:
                producer = Producer(conn.channel())
                for buyers in levels(args):
                    for k in range(args.runs):
                        spy = contextlib.nullcontext()
                        if args.profile and k == 0 and buyers == levels(args)[-1]:
                            from .common import RESULTS
                            from .spy import Spy

                            spy = Spy(
                                {f"inventory worker {i + 1}": w.pid for i, w in enumerate(workers)},
                                RESULTS / "hot_sku.pyspy",
                            )
                            notes.append(
                                f"the first run of {buyers} buyers profiled with py-spy (its figures "
                                "include py-spy's overhead): bench/results/hot_sku.pyspy.txt"
                            )
                        with spy:
                            per_level.setdefault(buyers, []).append(
                                one_level(sc, observer, producer, workers, buyers, bar, timeout=max(60, buyers / 20))
                            )
        finally:
            for w in workers:
                stop_process(w)
            observer.stop.set()
    rows = []
    summary = {}
    for buyers, runs in per_level.items():
        summary[buyers] = {
            k: spread([r[k] for r in runs])
            for k in (
                "attempts_s",
                "p50_ms",
                "p95_ms",
                "p99_ms",
                "reserved_events",
                "shortage_events",
                "min_available_seen",
                "worker_cpu_ms_per_attempt",
            )
        }
        summary[buyers]["all_correct"] = all(r["correct"] for r in runs)
        rows += [
            (f"{buyers} buyers: attempts/s (target >= {TARGET_ATTEMPTS_S})", summary[buyers]["attempts_s"]),
            (f"{buyers} buyers: p99 ms", summary[buyers]["p99_ms"]),
            (f"{buyers} buyers: StockReserved (must be {UNITS})", summary[buyers]["reserved_events"]),
            (f"{buyers} buyers: min available seen (>= 0)", summary[buyers]["min_available_seen"]),
            (f"{buyers} buyers: worker CPU ms/attempt", summary[buyers]["worker_cpu_ms_per_attempt"]),
            (f"{buyers} buyers: correct in every run", Text("yes" if summary[buyers]["all_correct"] else "NO")),
        ]
    return {
        "settings": {
            "units": UNITS,
            "levels": levels(args),
            "runs": args.runs,
            "workers": args.workers,
            "prefetch": sc.configs["inventory"].prefetch,
            "database": "postgresql",
            "inventory_handles_order_paid": has_handler,
        },
        "runs": [r for runs in per_level.values() for r in runs],
        "levels": summary,
        "targets": {
            "attempts_s": f">= {TARGET_ATTEMPTS_S}",
            "reserved": f"exactly {UNITS}",
            "available": "never negative",
        },
        "rows": rows,
        "notes": notes,
        "status": "measured" if has_handler else "no OrderPaid handler on this branch",
    }
