"""Baseline: a raw kombu confirmed publish + consume loop (the broker's physical limit here).

What the services do with each message, and nothing else: persistent messages (delivery_mode=2) on a
durable queue, every publish waiting for the broker's confirm (kombu `confirm_publish`, as
ecom_common.bus does), a consumer with the services' prefetch acknowledging each message. No
database, no envelope parsing, no handler.

Figures per run:
- loop msg/s: a publisher and a consumer process running at once, N messages from the first publish
  to the last ack (what a steady stream of events can reach), each publish waiting for its confirm;
- the same loop with confirms awaited per batch of 100 (as the outbox relay publishes): the
  broker's limit for the platform's own publishing;
- drain msg/s: N messages already queued, consumed and acked (what a consumer can reach when it
  has a backlog); the consumer benchmark compares against this one.
"""

from __future__ import annotations

import contextlib
import threading
import time
import uuid

from kombu import Connection, Consumer, Producer, Queue

from ecom_common.config import Config
from ecom_common.events import make_event
from ecom_testkit import amqp_url

from .common import PREFETCH, new_prefix

NAME = "raw_loop"
BATCH = Config.__dataclass_fields__["relay_batch"].default  # the relay's batch


def sample_body(i: int = 0) -> str:
    """A realistic message: an orders.OrderPaid envelope with two lines (~500 bytes)."""
    return make_event(
        "orders.OrderPaid",
        {
            "order_id": f"O{i:010d}",
            "shop_id": "S1",
            "buyer_id": "B1",
            "payable_fen": 25800,
            "paid_at": "2026-11-23T10:00:00Z",
            "lines": [
                {"sku_code": "RED-M", "quantity": 1, "unit_price_fen": 12900, "category_id": "C1"},
                {"sku_code": "BLUE-L", "quantity": 1, "unit_price_fen": 12900, "category_id": "C1"},
            ],
        },
    ).to_json()


def connection(confirm: bool = True) -> Connection:
    options = {"confirm_publish": True} if confirm else {}
    options["client_properties"] = {"connection_name": "bench:raw"}
    return Connection(amqp_url(), heartbeat=0, connect_timeout=5, transport_options=options)


def publish(producer: Producer, queue: str, body: str) -> None:
    producer.publish(
        body,
        exchange="",
        routing_key=queue,
        content_type="application/json",
        content_encoding="utf-8",
        delivery_mode=2,
        message_id=str(uuid.uuid4()),
        retry=False,
    )


class Counter:
    """Consumes and acks; notes when the first and the n-th message were acked."""

    def __init__(self, n: int, on_progress=None):
        self.n = n
        self.count = 0
        self.first = self.last = None
        self.done = threading.Event()
        self.on_progress = on_progress

    def __call__(self, body, message):
        message.ack()
        self.count += 1
        now = time.monotonic()  # system-wide: comparable with the publisher's in another process
        if self.count == 1:
            self.first = now
        if self.on_progress and self.count % 100 == 0:
            self.on_progress(100)
        if self.count >= self.n:
            self.last = now
            self.done.set()


def consume(queue: str, counter: Counter, ready: threading.Event | None = None, timeout: float = 120) -> None:
    with connection(confirm=False) as conn:
        channel = conn.channel()
        channel.basic_qos(0, PREFETCH, False)
        with Consumer(channel, [Queue(queue, no_declare=True)], callbacks=[counter], accept=None):
            if ready:
                ready.set()
            deadline = time.monotonic() + timeout
            while not counter.done.is_set() and time.monotonic() < deadline:
                with contextlib.suppress(TimeoutError):
                    conn.drain_events(timeout=1)


class Queued:
    """A durable queue of its own for one measurement, deleted afterwards."""

    def __init__(self, confirm_each: bool = True):
        self.name = f"{new_prefix()}.bench.raw"
        self.confirm_each = confirm_each

    def __enter__(self):
        self.conn = connection(confirm=self.confirm_each)
        self.channel = self.conn.channel()
        Queue(self.name, durable=True)(self.channel).declare()
        self.producer = Producer(self.channel)
        return self

    def __exit__(self, *exc):
        try:
            self.channel.queue_delete(self.name)
        finally:
            self.conn.release()


def _consume_in_child(queue: str, n: int, pipe) -> None:
    counter = Counter(n)
    ready = threading.Event()
    threading.Thread(target=lambda: (ready.wait(30), pipe.send(("ready",))), daemon=True).start()
    consume(queue, counter, ready)
    pipe.send(("done", counter.count, counter.last))


def loop_once(n: int, on_progress=None, batch: int | None = None) -> dict:
    """Publisher and consumer at once, in two processes (as a service's web and worker are):
    msg/s from the first publish to the n-th ack. In one process the two threads would mostly
    measure the GIL handing over between them.

    batch=None: every publish waits for its confirm (what bus.publish_raw does).
    batch=B: B publishes, then one wait for all their confirms (what the outbox relay does)."""
    import multiprocessing

    from ecom_common.outbox import ConfirmTracker

    body = sample_body()
    with Queued(confirm_each=batch is None) as q:
        tracker = ConfirmTracker(q.channel) if batch else None
        ctx = multiprocessing.get_context("spawn")
        parent, child = ctx.Pipe()
        proc = ctx.Process(target=_consume_in_child, args=(q.name, n, child), daemon=True)
        proc.start()
        try:
            if not parent.poll(60) or parent.recv() != ("ready",):
                raise RuntimeError("raw loop: the consumer process did not start")
            start = time.monotonic()
            for k in range(n):
                publish(q.producer, q.name, body)
                if tracker:
                    tracker.next_tag()
                    if (k + 1) % batch == 0 or k == n - 1:
                        tracker.wait(tracker.last_tag)
                        if tracker.nacked:
                            raise RuntimeError(f"raw loop: {len(tracker.nacked)} publishes nacked")
                if on_progress and k % 100 == 99:
                    on_progress(100)
            published = time.monotonic()
            if not parent.poll(120):
                raise RuntimeError("raw loop: the consumer process did not finish")
            _, count, last = parent.recv()
        finally:
            proc.join(10)
            if proc.is_alive():
                proc.kill()
        if count < n:
            raise RuntimeError(f"raw loop: only {count} of {n} messages came back")
        return {
            "loop_msg_s": n / (last - start),
            "publish_confirmed_msg_s": n / (published - start),
        }


def drain_once(n: int, on_progress=None) -> dict:
    """n messages already queued: consume and ack them all."""
    body = sample_body()
    with Queued() as q:
        for _ in range(n):
            publish(q.producer, q.name, body)
        counter = Counter(n, on_progress)
        consume(q.name, counter)
        if counter.count < n:
            raise RuntimeError(f"raw drain: only {counter.count} of {n} messages came back")
        return {"drain_msg_s": (n - 1) / (counter.last - counter.first)}


def run(args, bar) -> dict:
    n = args.messages
    runs = []
    for _ in range(args.runs):
        result = loop_once(n, bar.update)
        batched = loop_once(n, bar.update, batch=BATCH)
        result["loop_batched_msg_s"] = batched["loop_msg_s"]
        result["publish_batched_msg_s"] = batched["publish_confirmed_msg_s"]
        result.update(drain_once(n, bar.update))
        runs.append(result)
    return {
        "settings": {
            "messages": n,
            "prefetch": PREFETCH,
            "confirm_batch": BATCH,
            "persistent": True,
            "publisher_confirms": True,
            "body_bytes": len(sample_body()),
            "runs": args.runs,
        },
        "runs": runs,
        "rows": [
            ("loop msg/s (publish+consume at once)", "loop_msg_s"),
            ("publish with confirms msg/s", "publish_confirmed_msg_s"),
            (f"loop msg/s, confirms per {BATCH}", "loop_batched_msg_s"),
            (f"publish msg/s, confirms per {BATCH}", "publish_batched_msg_s"),
            ("drain msg/s (backlog consumed)", "drain_msg_s"),
        ],
    }


def steps(args) -> int:
    return args.runs * 3 * args.messages
