"""Consumer throughput: events through the real EventConsumer with inbox dedupe on PostgreSQL.

N catalog.ProductListed envelopes are queued on inventory.events of a namespace of its own; an
`ecom_common.consumer.EventConsumer` (the services' consumer: parse the envelope, one transaction
with the inbox INSERT + the handler + commit, then ack; JSON log line per event, metrics) drains
them with a handler that does one small INSERT. Its msg/s is compared with the raw kombu drain of
the same N messages measured in the same run (`raw_loop.drain_once`: consume + ack only).

The queue holds all N when the consumer starts (a backlog), so it takes them in batches of up to
`Config.consumer_batch` per transaction; each run also drains the same N with `consumer_batch=1`
(one transaction per message, as before batches), interleaved, for the before/after.
"""

from __future__ import annotations

import threading
import time

import sqlalchemy as sa
from kombu import Producer

from ecom_common import bus
from ecom_common.consumer import EventConsumer, Subscription
from ecom_common.db import inbox

from . import raw_loop
from .common import PREFETCH, RESULTS, quiet_service_logs, scratch
from .outbox_relay import _profiler, listing

NAME = "consumer_inbox"

HANDLED = sa.table("bench_handled", sa.column("event_id"), sa.column("sku_count"))


def handler(uow, event) -> None:
    uow.session.execute(HANDLED.insert().values(event_id=event.event_id, sku_count=len(event.payload["skus"])))


class TimedConsumer(EventConsumer):
    """The real consumer, timing from the first message handled to the n-th."""

    def __init__(self, *a, n: int, on_progress=None, **kw):
        super().__init__(*a, **kw)
        self.n = n
        self.count = 0
        self.first = self.last = None
        self.on_progress = on_progress

    def _settled(self, message, envelope, outcome, started) -> None:
        # called once per message, handled alone or in a batch
        super()._settled(message, envelope, outcome, started)
        self.count += 1
        now = time.perf_counter()
        if self.count == 1:
            self.first = now
        if self.on_progress and self.count % 100 == 0:
            self.on_progress(100)
        if self.count >= self.n:
            self.last = now
            self.stop.set()


def steps(args) -> int:
    return args.runs * 3 * args.messages


def run(args, bar) -> dict:
    n = args.messages
    profile_path = None
    quiet_service_logs()
    runs = []
    with scratch(["inventory"]) as sc:
        db, config = sc.dbs["inventory"], sc.configs["inventory"]
        with db.engine.begin() as conn:
            conn.execute(
                sa.text(
                    "CREATE TABLE bench_handled (id bigserial PRIMARY KEY, event_id text NOT NULL, "
                    "sku_count int NOT NULL)"
                )
            )
        sub = Subscription("inventory.events", {"catalog.ProductListed": handler})
        for _ in range(args.runs):
            raw = raw_loop.drain_once(n, bar.update)
            one = _drain(args, db.__class__(config.with_(consumer_batch=1), engine=db.engine), sub, n, bar)
            batched = _drain(args, db, sub, n, bar, profile=args.profile and not runs)
            runs.append(
                {
                    "raw_drain_msg_s": raw["drain_msg_s"],
                    "consumer_one_msg_s": one["rate"],
                    "ratio_one": one["rate"] / raw["drain_msg_s"],
                    "consumer_msg_s": batched["rate"],
                    "ratio": batched["rate"] / raw["drain_msg_s"],
                    "commits_per_message": batched["commits"] / n,
                    "batched_over_one": batched["rate"] / one["rate"],
                }
            )
            profile_path = profile_path or batched["profile"]
    return {
        "settings": {
            "messages": n,
            "prefetch": PREFETCH,
            "consumer_batch": config.consumer_batch,
            "runs": args.runs,
            "database": "postgresql",
            "handler": "one INSERT",
            "log_level": "INFO (to /dev/null)",
        },
        "runs": runs,
        "notes": [f"profile of the first consumer drain: {profile_path.name}"] if profile_path else [],
        "rows": [
            ("raw kombu drain msg/s", "raw_drain_msg_s"),
            ("EventConsumer, one transaction per message, msg/s (before)", "consumer_one_msg_s"),
            ("ratio one-per-transaction/raw", "ratio_one"),
            ("EventConsumer, batches (after), msg/s", "consumer_msg_s"),
            ("ratio consumer/raw", "ratio"),
            ("commits per message, batches", "commits_per_message"),
            ("batches / one per transaction", "batched_over_one"),
        ],
    }


def _drain(args, db, sub, n: int, bar, profile: bool = False) -> dict:
    """Queue N listings, drain them with the real consumer, check each was handled once; msg/s."""
    from sqlalchemy import event as sa_event

    config = db.config
    with bus.connect(config, role="bench") as conn:
        channel = conn.channel()
        topology = bus.topology_for(config)
        topology.declare(channel)
        producer = Producer(channel)
        for k in range(n):
            e = listing(k)
            bus.publish_raw(producer, topology.exchange, e.routing_key, e.to_json(), message_id=e.event_id)
    commits = []

    def count_commit(conn):
        commits.append(1)

    sa_event.listen(db.engine, "commit", count_commit)
    consumer = TimedConsumer(db, sub, threading.Event(), n=n, on_progress=bar.update)
    guard = threading.Timer(300, consumer.stop.set)  # bounded even if messages went missing
    guard.start()
    profiler = _profiler() if profile else None
    try:
        consumer.run()  # in this thread (the profiler sees this thread only); stops itself at n
    finally:
        guard.cancel()
        sa_event.remove(db.engine, "commit", count_commit)
    profile_path = None
    if profiler:
        profiler.stop()
        RESULTS.mkdir(parents=True, exist_ok=True)
        profile_path = RESULTS / "consumer_inbox.profile.txt"
        profile_path.write_text(profiler.output_text(unicode=True, color=False))
    if consumer.count < n:
        raise RuntimeError(f"consumer handled {consumer.count} of {n}")
    with db.engine.begin() as conn:
        handled = conn.execute(sa.select(sa.func.count()).select_from(HANDLED)).scalar_one()
        inbox_rows = conn.execute(sa.select(sa.func.count()).select_from(inbox)).scalar_one()
        if handled != n or inbox_rows != n:
            raise RuntimeError(f"expected {n} handled rows and inbox rows, got {handled} and {inbox_rows}")
        conn.execute(HANDLED.delete())
        conn.execute(inbox.delete())
    return {"rate": (n - 1) / (consumer.last - consumer.first), "commits": len(commits), "profile": profile_path}
