"""Outbox relay throughput against publishing directly after commit.

N events are recorded in catalog's outbox on PostgreSQL (committed before the clock starts), then
the real `ecom_common.outbox.Relay` drains them: claim a batch (`FOR UPDATE SKIP LOCKED`), publish
each with publisher confirms, mark the batch published, commit; until none is left.

Measured twice: as the relay runs now (publish the batch, then wait for the broker's confirms of all
of it) and one confirm per message (how it ran before; its figures before/after: docs/perf-log.md).

The baseline, in the same run and on the same broker namespace, is what a service without an outbox
would do after committing: publish the same N envelopes one by one, each waiting for its confirm.
Neither side counts the business commit (it is the same on both sides; the outbox only adds one
INSERT to it). Ratio = relay msg/s / direct msg/s; target >= 0.7.

The events are catalog.ProductListed, routed to inventory.events of the namespace, which is purged
after each measurement (nothing consumes them).
"""

from __future__ import annotations

import time

from kombu import Producer

from ecom_common import bus
from ecom_common.events import make_event
from ecom_common.outbox import Relay, pending_count

from .common import RESULTS, Timer, scratch

NAME = "outbox_relay"
TARGET = 0.7


def listing(i: int):
    return make_event(
        "catalog.ProductListed",
        {
            "product_id": f"P{i:08d}",
            "shop_id": "S1",
            "title": "Cotton T-shirt",
            "skus": [
                {"sku_code": f"SKU-{i}-M", "list_price_fen": 12900, "low_stock_threshold": 5},
                {"sku_code": f"SKU-{i}-L", "list_price_fen": 12900, "low_stock_threshold": 5},
            ],
        },
    )


def record(db, events, per_transaction: int = 100) -> None:
    for start in range(0, len(events), per_transaction):
        with db.uow() as uow:
            for event in events[start : start + per_transaction]:
                uow.record(event)
            uow.commit()
    db.outbox_signal.clear()


def steps(args) -> int:
    return args.runs * 3 * args.messages


def drain_with(relay, producer, n: int, bar) -> float:
    """Seconds for `relay` to publish n recorded rows through `producer`."""
    with Timer() as t:
        published = 0
        while published < n:
            got = relay.publish_batch(producer)
            if got == 0:
                break
            published += got
            bar.update(got)
    left = pending_count(relay.db)
    if published != n or left:
        raise RuntimeError(f"relay published {published} of {n}; {left} left unpublished")
    return t.elapsed


def run(args, bar) -> dict:
    n = args.messages
    profile_path = None
    runs = []
    with scratch(["catalog"]) as sc:
        db, config = sc.dbs["catalog"], sc.configs["catalog"]
        relay = Relay(db)
        # The relay's own connection (batch confirms) as Relay.run opens it; a confirm-per-publish
        # connection for the direct baseline and for the relay's per-message mode (its behaviour
        # before the batch confirms, kept for the embedded bus and shown here for comparison).
        with relay.connect() as relay_conn, bus.connect(config, role="direct") as direct_conn:
            relay_channel = relay_conn.channel()
            relay.topology.declare(relay_channel)
            relay_producer = Producer(relay_channel)
            channel = direct_conn.channel()
            producer = Producer(channel)
            work_queue = relay.topology.name("inventory.events")
            for i in range(args.runs):
                # Direct: publish right after the (already committed) business change.
                events = [listing(k) for k in range(n)]
                with Timer() as direct:
                    for k, e in enumerate(events):
                        bus.publish_raw(
                            producer, relay.topology.exchange, e.routing_key, e.to_json(), message_id=e.event_id
                        )
                        if k % 100 == 99:
                            bar.update(100)
                channel.queue_purge(work_queue)

                # Relay, one confirm per message (the relay before batch confirms).
                record(db, [listing(k) for k in range(n)])
                per_message = drain_with(Relay(db), producer, n, bar)
                channel.queue_purge(work_queue)

                # Relay as it runs: publish the batch, then wait for all its confirms.
                record(db, [listing(k) for k in range(n)])
                profiler = _profiler() if args.profile and i == 0 else None
                batched = drain_with(relay, relay_producer, n, bar)
                if profiler:
                    profiler.stop()
                    profile_path = RESULTS / "outbox_relay.profile.txt"
                    RESULTS.mkdir(parents=True, exist_ok=True)
                    profile_path.write_text(profiler.output_text(unicode=True, color=False))
                channel.queue_purge(work_queue)
                direct_rate = n / direct.elapsed
                runs.append(
                    {
                        "direct_msg_s": direct_rate,
                        "relay_msg_s": n / batched,
                        "relay_per_message_msg_s": n / per_message,
                        "ratio": (n / batched) / direct_rate,
                        "ratio_per_message": (n / per_message) / direct_rate,
                    }
                )
                time.sleep(0.2)
    notes = []
    if profile_path:
        notes.append(f"profile of the first relay drain: {profile_path.name}")
    return {
        "settings": {
            "messages": n,
            "relay_batch": config.relay_batch,
            "runs": args.runs,
            "database": "postgresql",
            "publisher_confirms": True,
        },
        "runs": runs,
        "targets": {"ratio": f">= {TARGET}"},
        "rows": [
            ("direct publish after commit msg/s", "direct_msg_s"),
            ("outbox relay msg/s (batch confirms)", "relay_msg_s"),
            (f"ratio relay/direct (target >= {TARGET})", "ratio"),
            ("relay, confirm per message msg/s (before)", "relay_per_message_msg_s"),
            ("ratio per-message relay/direct (before)", "ratio_per_message"),
        ],
        "notes": notes,
    }


def _profiler():
    from pyinstrument import Profiler

    profiler = Profiler(interval=0.0005)
    profiler.start()
    return profiler
