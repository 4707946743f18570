"""Consumer batches over the real RabbitMQ and PostgreSQL: a backlog is handled several messages per
transaction, and a batch that meets a deadlock with another batch is rolled back and handled again
message by message, each event once (ecom_common.consumer, "Batches")."""

from __future__ import annotations

import contextlib
import threading

import pytest
import sqlalchemy as sa
from kombu import Producer, Queue
from sqlalchemy import event as sa_event

from ecom_common import bus
from ecom_common.consumer import EventConsumer, Subscription
from ecom_common.db import inbox
from ecom_common.events import make_event
from ecom_testkit import Platform, eventually

pytestmark = pytest.mark.integration


def listed(sku: str):
    return make_event(
        "catalog.ProductListed",
        {
            "product_id": f"P-{sku}",
            "shop_id": "S1",
            "skus": [{"sku_code": sku, "list_price_fen": 1000, "low_stock_threshold": 3}],
        },
    )


def count(db, table, *where):
    with db.engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(table).where(*where)).scalar_one()


def test_a_backlog_is_handled_in_batches_by_the_real_handlers_each_event_once():
    from inventory.handlers import SUBSCRIPTIONS
    from inventory.models import StockItem

    with Platform(["inventory"], workers=False) as p:
        inv = p["inventory"]
        topology = bus.topology_for(inv.config)
        events = [listed(f"B-{i:03d}") for i in range(120)]
        with bus.connect(inv.config) as conn:
            channel = conn.channel()
            topology.declare(channel)
            producer = Producer(channel)
            for event in events + events[:10]:  # ten copies: the broker delivering twice
                bus.publish_raw(
                    producer, topology.exchange, event.routing_key, event.to_json(), message_id=event.event_id
                )
        commits, inbox_inserts = [], []
        sa_event.listen(inv.db.engine, "commit", lambda c: commits.append(1))
        sa_event.listen(
            inv.db.engine,
            "before_cursor_execute",
            lambda conn, cur, statement, *rest: statement.startswith("INSERT INTO inbox") and inbox_inserts.append(1),
        )
        consumer = EventConsumer(inv.db, SUBSCRIPTIONS[0])
        thread = threading.Thread(target=consumer.run, daemon=True)
        thread.start()
        try:
            eventually(lambda: count(inv.db, inbox) == 120, timeout=30, message="the backlog handled")
            with bus.connect(inv.config) as conn:
                work = Queue(topology.name("inventory.events"), no_declare=True)(conn.channel())
                eventually(
                    lambda: work.queue_declare(passive=True).message_count == 0,
                    timeout=10,
                    message="every message acked",
                )
        finally:
            consumer.stop.set()
            thread.join(10)
        assert count(inv.db, StockItem.__table__) == 120  # one stock item per event, none twice
        # 120 events in far fewer transactions (the copies commit nothing: all duplicates), and the
        # inbox rows of a batch in one INSERT (a batch of copies sends its INSERT, then commits nothing)
        assert len(commits) < 120 / 2
        assert len(inbox_inserts) < 130 / 2
        with bus.connect(inv.config) as conn:
            for parked in ("inventory.events.retry.1", "inventory.events.dlq"):
                q = Queue(topology.name(parked), no_declare=True)(conn.channel())
                assert q.queue_declare(passive=True).message_count == 0


def test_two_batches_that_deadlock_are_handled_again_one_by_one_each_event_once():
    """Batch 1 locks row A then row B; batch 2 locks B then A, at the same moment (a barrier): PostgreSQL
    breaks the deadlock by aborting one of them. Its batch is rolled back and its messages handled
    again one at a time; the other batch commits. Every event is applied once, nothing is retried or
    dead-lettered (a deadlock is the database's, not the message's, failure: requeue, no retry spent)."""
    with Platform(["inventory"], workers=False) as p:
        inv = p["inventory"]
        with inv.db.engine.begin() as conn:
            conn.execute(sa.text("CREATE TABLE counters (name text PRIMARY KEY, n int NOT NULL)"))
            conn.execute(sa.text("INSERT INTO counters VALUES ('A', 0), ('B', 0)"))
        barrier = threading.Barrier(2, timeout=10)
        first_pass = {"1": True, "2": True}
        deadlocks = []

        def bump(uow, event):
            row, batch = event.payload["skus"][0]["sku_code"].split("-")
            uow.session.execute(sa.text("UPDATE counters SET n = n + 1 WHERE name = :row"), {"row": row})
            if first_pass[batch]:
                first_pass[batch] = False  # only the batch's first statement waits for the other's
                barrier.wait()

        topology = bus.topology_for(inv.config)
        batches = {"1": [listed("A-1"), listed("B-1")], "2": [listed("B-2"), listed("A-2")]}
        conns, results = [], {}
        try:
            consumers = {}
            for name, events in batches.items():
                conn = bus.connect(inv.config)
                conns.append(conn)
                channel = conn.channel()
                topology.declare(channel)
                private = f"{p.prefix}.deadlock.{name}"  # each batch from a queue of its own
                Queue(private, durable=True, auto_delete=False)(channel).declare()
                producer = Producer(conn.channel())
                for event in events:
                    bus.publish_raw(producer, "", private, event.to_json(), message_id=event.event_id)
                messages = []
                queue = Queue(private, no_declare=True)(channel)
                while len(messages) < len(events):
                    message = queue.get(no_ack=False)
                    if message is not None:
                        messages.append(message)
                consumer = EventConsumer(inv.db, Subscription("inventory.events", {"catalog.ProductListed": bump}))
                consumer._producer = producer
                original = consumer.handle_batch

                def handle_batch(envelopes, original=original):
                    try:
                        return original(envelopes)
                    except sa.exc.OperationalError as exc:
                        deadlocks.append(exc)
                        raise

                consumer.handle_batch = handle_batch
                consumers[name] = (consumer, messages, queue)

            def run(name):
                consumer, messages, _ = consumers[name]
                try:
                    consumer.on_messages(messages)
                    results[name] = "ok"
                except Exception as exc:  # surfaced by the assertion below
                    results[name] = repr(exc)

            threads = [threading.Thread(target=run, args=(name,)) for name in batches]
            for t in threads:
                t.start()
            for t in threads:
                t.join(30)
            assert results == {"1": "ok", "2": "ok"}
            assert len(deadlocks) == 1 and "deadlock" in str(deadlocks[0]).lower()
            with inv.db.engine.connect() as conn:
                assert dict(conn.execute(sa.text("SELECT name, n FROM counters")).all()) == {"A": 2, "B": 2}
            assert count(inv.db, inbox) == 4
            for _consumer, _, queue in consumers.values():
                assert queue.queue_declare(passive=True).message_count == 0  # all acked, none requeued
            with bus.connect(inv.config) as conn:
                for parked in ("inventory.events.retry.1", "inventory.events.dlq"):
                    q = Queue(topology.name(parked), no_declare=True)(conn.channel())
                    assert q.queue_declare(passive=True).message_count == 0
        finally:
            for conn in conns:
                with contextlib.suppress(Exception):
                    conn.channel().queue_delete(f"{p.prefix}.deadlock.{conns.index(conn) + 1}")
                conn.close()
