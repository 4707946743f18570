"""The outbox relay's batch confirms over RabbitMQ: a row is marked published only once the broker
has acked it, a nacked or unconfirmed row is retried with back-off, nothing is lost."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from kombu import Connection, Producer, Queue, binding

from ecom_common import bus
from ecom_common import outbox as outbox_module
from ecom_common.events import make_event
from ecom_common.outbox import MessagesNacked, Relay, outbox
from ecom_testkit import Platform

pytestmark = pytest.mark.integration


def listed(i: int):
    return make_event(
        "catalog.ProductListed",
        {"product_id": f"P{i}", "shop_id": "S1", "skus": [{"sku_code": f"SKU-{i}", "list_price_fen": 100}]},
    )


def record(db, events):
    with db.uow() as uow:
        for e in events:
            uow.record(e)
        uow.commit()


def rows(db):
    with db.engine.connect() as conn:
        return {r.event_id: r for r in conn.execute(sa.select(outbox))}


def queued_ids(config, queue="inventory.events") -> list[str]:
    name = bus.topology_for(config).name(queue)
    ids = []
    with Connection(config.broker_url) as conn:
        q = Queue(name, no_declare=True)(conn.channel())
        while (m := q.get(no_ack=True)) is not None:
            ids.append(bus.body_json(m)["event_id"])
    return ids


def test_a_batch_is_published_then_confirmed_as_a_whole_and_marked_once_acked():
    with Platform(["catalog"], workers=False) as p:
        db = p["catalog"].db
        events = [listed(i) for i in range(250)]
        record(db, events)
        relay = Relay(db)
        with relay.connect() as conn:
            channel = conn.channel()
            relay.topology.declare(channel)
            producer = Producer(channel)
            assert relay.drain(producer) == 250
            # one pass per batch of relay_batch rows, all on the same channel's confirm sequence
            assert relay._confirms.last_tag == 250 and relay._confirms.settled_upto == 250
        assert all(r.published_at is not None and r.attempts == 0 for r in rows(db).values())
        assert queued_ids(p["catalog"].config) == [e.event_id for e in events]  # each once, in order


def test_nacked_messages_stay_unpublished_and_are_retried_with_backoff():
    with Platform(["catalog"], workers=False) as p:
        db, _config = p["catalog"].db, p["catalog"].config
        relay = Relay(db)
        with relay.connect() as conn:
            channel = conn.channel()
            relay.topology.declare(channel)
            # A queue that refuses what it has no room for: the broker nacks those publishes.
            full = Queue(
                relay.topology.name("test.full"),
                durable=False,
                auto_delete=True,
                bindings=[binding(relay.topology.exchange, routing_key="catalog.ProductListed")],
                queue_arguments={"x-max-length": 5, "x-overflow": "reject-publish"},
            )
            full(channel).declare()
            events = [listed(i) for i in range(20)]
            record(db, events)
            with pytest.raises(MessagesNacked):
                relay.publish_batch(Producer(channel))
            state = rows(db)
            published = [e.event_id for e in events if state[e.event_id].published_at is not None]
            refused = [e.event_id for e in events if state[e.event_id].published_at is None]
            assert published == [e.event_id for e in events[:5]]
            assert len(refused) == 15
            assert all(state[i].attempts == 1 and state[i].last_error for i in refused)
            assert all(state[i].available_at > state[i].created_at for i in refused)
            # not yet due: the next pass leaves them alone
            assert relay.publish_batch(Producer(channel)) == 0
            full(channel).delete()
        # once due (clock moved past the back-off) and with room again, they go out
        p.clock.advance(seconds=5)
        with relay.connect() as conn:
            channel = conn.channel()
            assert relay.drain(Producer(channel)) == 15
        assert all(r.published_at is not None for r in rows(db).values())


def test_a_publish_failing_mid_batch_marks_only_what_the_broker_acked(monkeypatch):
    with Platform(["catalog"], workers=False) as p:
        db, config = p["catalog"].db, p["catalog"].config
        events = [listed(i) for i in range(100)]
        record(db, events)
        relay = Relay(db)
        real_publish = bus.publish_raw
        calls = []

        def failing(*args, **kwargs):
            calls.append(1)
            if len(calls) == 40:
                raise ConnectionResetError("connection cut mid-batch")
            return real_publish(*args, **kwargs)

        monkeypatch.setattr(outbox_module.bus, "publish_raw", failing)
        with relay.connect() as conn:
            channel = conn.channel()
            relay.topology.declare(channel)
            with pytest.raises(ConnectionResetError):
                relay.publish_batch(Producer(channel))
        state = rows(db)
        marked = {i for i, r in state.items() if r.published_at is not None}
        at_broker = queued_ids(config)
        assert marked <= set(at_broker)  # nothing marked that the broker does not have
        assert len(at_broker) == 39
        failed = [r for r in state.values() if r.attempts == 1]
        assert len(failed) == 1 and "connection cut mid-batch" in failed[0].last_error
        monkeypatch.setattr(outbox_module.bus, "publish_raw", real_publish)
        p.clock.advance(seconds=5)
        with relay.connect() as conn:  # a new connection, as Relay.run reconnects
            channel = conn.channel()
            relay.drain(Producer(channel))
        assert all(r.published_at is not None for r in rows(db).values())
        # everything at the broker at least once (the unconfirmed ones possibly twice: consumers dedupe)
        assert set(queued_ids(config)) | set(at_broker) == {e.event_id for e in events}
