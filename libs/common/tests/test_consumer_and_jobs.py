import pytest
import sqlalchemy as sa

from ecom_common.consumer import EventConsumer, Outcome, Subscription
from ecom_common.db import inbox
from ecom_common.events import make_event
from ecom_common.jobs import Job, acquire_lease, release_lease, run_once
from ecom_common.outbox import outbox


def listed(sku="A"):
    return make_event(
        "catalog.ProductListed",
        {"product_id": "P1", "shop_id": "S1", "skus": [{"sku_code": sku, "list_price_fen": 100}]},
    )


def count(db, table):
    with db.engine.connect() as c:
        return c.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()


def test_handler_and_inbox_commit_together_and_duplicates_are_skipped(db):
    calls = []

    def handler(uow, event):
        calls.append(event.event_id)
        uow.record(make_event("inventory.StockItemCreated", {"sku_code": "A", "shop_id": "S1"}))

    consumer = EventConsumer(db, Subscription("inventory.events", {"catalog.ProductListed": handler}))
    event = listed()
    assert consumer.handle(event) == Outcome.HANDLED
    assert consumer.handle(event) == Outcome.DUPLICATE
    assert calls == [event.event_id]
    assert count(db, inbox) == 1 and count(db, outbox) == 1


def test_a_failing_handler_leaves_nothing_behind(db):
    def handler(uow, event):
        uow.record(make_event("inventory.StockItemCreated", {"sku_code": "A", "shop_id": "S1"}))
        raise RuntimeError("boom")

    consumer = EventConsumer(db, Subscription("inventory.events", {"catalog.ProductListed": handler}))
    event = listed()
    with pytest.raises(RuntimeError):
        consumer.handle(event)
    # no inbox row (so a retry runs the handler again) and no event published for the rolled-back change
    assert count(db, inbox) == 0 and count(db, outbox) == 0


def test_inbox_is_keyed_by_consumer_and_event(db):
    seen = []
    a = EventConsumer(db, Subscription("inventory.events", {"catalog.ProductListed": lambda u, e: seen.append("a")}))
    b = EventConsumer(db, Subscription("catalog.events", {"catalog.ProductListed": lambda u, e: seen.append("b")}))
    event = listed()
    assert a.handle(event) == Outcome.HANDLED and b.handle(event) == Outcome.HANDLED
    assert seen == ["a", "b"]


def test_unsubscribed_types_are_ignored(db):
    consumer = EventConsumer(db, Subscription("inventory.events", {}))
    assert consumer.handle(listed()) == Outcome.IGNORED


def test_job_lease_lets_one_holder_run(db):
    assert acquire_lease(db, "settle", 60, holder="one")
    assert not acquire_lease(db, "settle", 60, holder="two")
    assert acquire_lease(db, "settle", 60, holder="one")  # renewal by the holder
    release_lease(db, "settle", holder="one")
    assert acquire_lease(db, "settle", 60, holder="two")


def test_run_once_skips_when_another_process_holds_the_lease(db):
    runs = []
    job = Job("purge", lambda d: runs.append(1) or 1)
    assert acquire_lease(db, "purge", 60, holder="elsewhere")
    assert run_once(db, job) is None and runs == []
    release_lease(db, "purge", holder="elsewhere")
    assert run_once(db, job) == 1 and runs == [1]


def test_poison_bodies_are_dead_lettered_at_once_and_the_queue_keeps_flowing(db):
    """Broken JSON sent as application/json fails in kombu's decoding, before on_message: it must be
    dead-lettered like any unparseable message, not stop the consumer (found by the reliability suite)."""
    import threading
    import uuid

    from kombu import Producer, Queue

    from ecom_common import bus
    from ecom_common.db import Database
    from ecom_testkit import eventually

    config = db.config.with_(bus_prefix=f"u{uuid.uuid4().hex[:8]}.")  # the memory bus is per process
    database = Database(config, engine=db.engine)
    handled = []
    consumer = EventConsumer(
        database, Subscription("inventory.events", {"catalog.ProductListed": lambda u, e: handled.append(e.event_id)})
    )
    topology = bus.topology_for(config)
    work = topology.name("inventory.events")
    good = listed()
    with bus.connect(config) as conn:
        channel = conn.channel()
        topology.declare(channel)
        producer = Producer(channel)
        producer.publish(
            "not json {", exchange="", routing_key=work, content_type="application/json", content_encoding="utf-8"
        )
        producer.publish(
            b"\xff\xfe not utf-8",
            exchange="",
            routing_key=work,
            content_type="application/octet-stream",
            content_encoding="binary",
        )
        producer.publish(
            '{"hello": "not an envelope"}',
            exchange="",
            routing_key=work,
            content_type="application/json",
            content_encoding="utf-8",
        )
        bus.publish_raw(producer, topology.exchange, good.routing_key, good.to_json(), message_id=good.event_id)
    thread = threading.Thread(target=consumer.run, daemon=True)
    thread.start()
    try:
        eventually(lambda: handled == [good.event_id], timeout=10, message="the good event behind the poison")
    finally:
        consumer.stop.set()
        thread.join(5)
    with bus.connect(config) as conn:
        dead = Queue(topology.name("inventory.events.dlq"), no_declare=True)(conn.channel())
        letters = []
        while (message := dead.get(no_ack=True)) is not None:
            letters.append(message)
    assert len(letters) == 3
    assert all(m.headers["x-attempts"] == 0 and m.headers["x-original-queue"] == "inventory.events" for m in letters)
    assert b"\xff\xfe not utf-8" in [m.body for m in letters]


class _FakeConfirmChannel:
    """An AMQP channel that delivers scripted confirms (tag, multiple, ack?) on drain_events."""

    def __init__(self, script):
        from collections import defaultdict
        from types import SimpleNamespace

        self.events = defaultdict(set)
        self.script = list(script)
        self.connection = SimpleNamespace(drain_events=self._drain)

    def confirm_select(self):
        pass

    def _drain(self, timeout=None):
        if not self.script:
            raise TimeoutError("no more confirms")
        tag, multiple, ack = self.script.pop(0)
        for callback in self.events["basic_ack" if ack else "basic_nack"]:
            callback(tag, multiple)


@pytest.mark.parametrize(
    "script, acked, nacked",
    [
        ([(1, False, True), (2, False, True), (3, False, True)], {1, 2, 3}, set()),
        ([(3, True, True)], {1, 2, 3}, set()),
        # out of order: a nack (full queue) before the acks of earlier persisted messages
        ([(3, False, False), (2, True, True)], {1, 2}, {3}),
        ([(2, False, True), (3, False, False), (1, False, True)], {1, 2}, {3}),
    ],
)
def test_confirm_tracker_settles_out_of_order_and_multiple_confirms(script, acked, nacked):
    from ecom_common.outbox import ConfirmTracker

    tracker = ConfirmTracker(_FakeConfirmChannel(script))
    for _ in range(3):
        tracker.next_tag()
    tracker.wait(3, timeout=1)
    assert tracker.settled_upto == 3 and tracker.acked == acked and tracker.nacked == nacked


def test_confirm_tracker_gives_up_when_confirms_stop_coming():
    from ecom_common.outbox import ConfirmTracker

    tracker = ConfirmTracker(_FakeConfirmChannel([(1, False, True)]))
    tracker.next_tag(), tracker.next_tag()
    with pytest.raises(TimeoutError):
        tracker.wait(2, timeout=1)


@pytest.mark.parametrize("attempts_so_far", [0, 2], ids=["first-delivery", "retries-spent"])
@pytest.mark.parametrize("ack_error", ["connection-reset", "channel-closed"])
def test_an_ack_that_fails_after_the_commit_is_not_a_handler_failure(db, ack_error, attempts_so_far):
    """The broker goes away (or closes the channel) between the handler's commit and the ack. Before,
    the ack was inside the handler's `try`, so its error was taken for the handler's: "handler failed",
    and a copy of the handled message was sent to a retry queue or, retries spent, to the DLQ (found by
    the broker restart scenario). Now the error reaches the consumer loop, which reconnects; the broker
    redelivers the unacked message and the inbox skips it."""
    import uuid

    from amqp.exceptions import RecoverableConnectionError
    from kombu import Producer, Queue

    from ecom_common import bus
    from ecom_common.db import Database

    config = db.config.with_(bus_prefix=f"u{uuid.uuid4().hex[:8]}.")  # the memory bus is per process
    database = Database(config, engine=db.engine)
    handled = []
    consumer = EventConsumer(
        database, Subscription("inventory.events", {"catalog.ProductListed": lambda u, e: handled.append(e.event_id)})
    )
    topology = bus.topology_for(config)
    event = listed()
    # what py-amqp raises from basic_ack: on a socket the broker reset; on a channel it closed (e.g. its
    # consumer_timeout) while the connection, and the producer's channel, live on
    error = (
        ConnectionResetError(104, "Connection reset by peer")
        if ack_error == "connection-reset"
        else RecoverableConnectionError("connection already closed")
    )
    with bus.connect(config) as conn:
        channel = conn.channel()
        topology.declare(channel)
        consumer._producer = Producer(conn.channel())  # as run() sets it: a publish would go through
        bus.publish_raw(
            consumer._producer,
            "",
            topology.name("inventory.events"),
            event.to_json(),
            headers={"x-attempts": attempts_so_far},
            message_id=event.event_id,
        )
        message = Queue(topology.name("inventory.events"), no_declare=True)(channel).get(no_ack=False)

        def ack_fails(*args, **kwargs):
            raise error

        message.ack = ack_fails
        with pytest.raises(type(error)):
            consumer.on_message(message.payload, message)

        assert handled == [event.event_id] and count(database, inbox) == 1  # committed once
        parked = [
            topology.name(q) for q in ("inventory.events.retry.1", "inventory.events.retry.2", "inventory.events.dlq")
        ]
        assert [channel.queue_declare(q, passive=True).message_count for q in parked] == [0, 0, 0]
        # the redelivery is a duplicate
        assert consumer.handle(event) == Outcome.DUPLICATE and handled == [event.event_id]


# Batches: messages already waiting are handled in one transaction ------------------------------------
def _published(db, events, *, raw=()):
    """Publish `events` (and raw bodies) on a bus namespace of this test; return the consumer's config
    and database, and a function that takes every waiting message of inventory.events (unacked)."""
    import uuid

    from kombu import Producer, Queue

    from ecom_common import bus
    from ecom_common.db import Database

    config = db.config.with_(bus_prefix=f"u{uuid.uuid4().hex[:8]}.")  # the memory bus is per process
    database = Database(config, engine=db.engine)
    topology = bus.topology_for(config)
    conn = bus.connect(config)
    channel = conn.channel()
    topology.declare(channel)
    producer = Producer(channel)
    for body in raw:
        producer.publish(
            body,
            exchange="",
            routing_key=topology.name("inventory.events"),
            content_type="application/json",
            content_encoding="utf-8",
        )
    for event in events:
        bus.publish_raw(producer, topology.exchange, event.routing_key, event.to_json(), message_id=event.event_id)

    def take():
        queue = Queue(topology.name("inventory.events"), no_declare=True)(channel)
        messages = []
        while (message := queue.get(no_ack=False)) is not None:
            messages.append(message)
        return messages

    def parked(name):
        return Queue(topology.name(name), no_declare=True)(conn.channel()).queue_declare(passive=True).message_count

    return database, conn, producer, take, parked


def test_a_batch_is_one_transaction_and_a_copy_inside_it_is_a_duplicate(db):
    from sqlalchemy import event as sa_event

    calls = []

    def handler(uow, event):
        calls.append(event.event_id)
        uow.record(
            make_event(
                "inventory.StockItemCreated", {"sku_code": event.payload["skus"][0]["sku_code"], "shop_id": "S1"}
            )
        )

    consumer = EventConsumer(db, Subscription("inventory.events", {"catalog.ProductListed": handler}))
    a, b = listed("A"), listed("B")
    commits = []
    sa_event.listen(db.engine, "commit", lambda conn: commits.append(1))
    outcomes = consumer.handle_batch(
        [a, b, a, make_event("inventory.StockItemCreated", {"sku_code": "Z", "shop_id": "S1"})]
    )
    assert outcomes == [Outcome.HANDLED, Outcome.HANDLED, Outcome.DUPLICATE, Outcome.IGNORED]
    assert calls == [a.event_id, b.event_id] and len(commits) == 1
    assert count(db, inbox) == 2 and count(db, outbox) == 2
    # handled already: a later batch of the same events changes nothing and commits nothing
    assert consumer.handle_batch([b, a]) == [Outcome.DUPLICATE, Outcome.DUPLICATE]
    assert len(commits) == 1 and calls == [a.event_id, b.event_id]


def _statements(engine):
    """The statements sent on `engine` from now on (an executemany counts once: one round trip)."""
    from sqlalchemy import event as sa_event

    sent = []
    sa_event.listen(
        engine,
        "before_cursor_execute",
        lambda conn, cursor, statement, params, context, many: sent.append(statement.split("(")[0].strip()),
    )
    return sent


def test_a_batch_writes_its_inbox_rows_and_its_events_in_one_statement_each(db):
    """What a batch of N messages sends besides its handlers' own statements: one INSERT into the
    inbox and one into the outbox, whatever N; the events keep the order the handlers recorded them
    in (the relay publishes by outbox id)."""

    def handler(uow, event):
        sku = event.payload["skus"][0]["sku_code"]
        uow.record(make_event("inventory.StockItemCreated", {"sku_code": sku, "shop_id": "S1"}))
        uow.record(make_event("inventory.LowStock", {"sku_code": sku, "shop_id": "S1", "available": 0, "threshold": 5}))

    consumer = EventConsumer(db, Subscription("inventory.events", {"catalog.ProductListed": handler}))
    events = [listed(f"SKU{i}") for i in range(20)]
    sent = _statements(db.engine)
    assert consumer.handle_batch(events) == [Outcome.HANDLED] * 20
    assert sent.count("INSERT INTO inbox") == 1 and sent.count("INSERT INTO outbox") == 1, sent
    with db.engine.connect() as c:
        rows = c.execute(sa.select(outbox.c.routing_key, outbox.c.body).order_by(outbox.c.id)).all()
        assert c.execute(sa.select(sa.func.count()).select_from(inbox)).scalar_one() == 20
    import json

    assert [(rk, json.loads(body)["payload"]["sku_code"]) for rk, body in rows] == [
        (rk, f"SKU{i}") for i in range(20) for rk in ("inventory.StockItemCreated", "inventory.LowStock")
    ]


def test_events_recorded_by_a_unit_of_work_that_rolls_back_are_never_written(db):
    sent = _statements(db.engine)
    with db.uow() as uow:
        uow.record(make_event("inventory.StockItemCreated", {"sku_code": "A", "shop_id": "S1"}))
        uow.rollback()
        uow.record(make_event("inventory.StockItemCreated", {"sku_code": "B", "shop_id": "S1"}))
        uow.commit()
    with db.uow() as uow:
        uow.record(make_event("inventory.StockItemCreated", {"sku_code": "C", "shop_id": "S1"}))
        # leaving the block without commit() rolls back
    assert "INSERT INTO outbox" in sent
    with db.engine.connect() as c:
        bodies = c.execute(sa.select(outbox.c.body)).scalars().all()
    assert len(bodies) == 1 and '"B"' in bodies[0]


def test_a_failing_handler_rolls_back_its_whole_batch(db):
    def handler(uow, event):
        uow.record(make_event("inventory.StockItemCreated", {"sku_code": "A", "shop_id": "S1"}))
        if event.payload["skus"][0]["sku_code"] == "BAD":
            raise RuntimeError("boom")

    consumer = EventConsumer(db, Subscription("inventory.events", {"catalog.ProductListed": handler}))
    with pytest.raises(RuntimeError):
        consumer.handle_batch([listed("A"), listed("BAD"), listed("C")])
    assert count(db, inbox) == 0 and count(db, outbox) == 0


def test_when_a_batch_fails_each_message_is_handled_alone_and_only_the_bad_one_is_retried(db):
    """The batch is rolled back, then every message gets its own transaction: the good ones commit
    (once: the batch left nothing behind), the failing one goes to its retry queue, all are acked."""
    seen = []

    def handler(uow, event):
        sku = event.payload["skus"][0]["sku_code"]
        seen.append(sku)
        uow.record(make_event("inventory.StockItemCreated", {"sku_code": sku, "shop_id": "S1"}))
        if sku == "BAD":
            raise RuntimeError("warehouse master data unavailable")

    events = [listed("A"), listed("BAD"), listed("C")]
    database, conn, producer, take, parked = _published(db, events, raw=["not json {"])
    with conn:
        consumer = EventConsumer(database, Subscription("inventory.events", {"catalog.ProductListed": handler}))
        consumer._producer = producer
        messages = take()
        assert len(messages) == 4
        consumer.on_messages(messages)
        # the batch (A, BAD: rolled back), then one by one: A, BAD (fails again), C
        assert seen == ["A", "BAD", "A", "BAD", "C"]
        assert count(database, inbox) == 2 and count(database, outbox) == 2
        assert take() == []  # every message settled: acked, the bad one after its copy went to retry.1
        assert parked("inventory.events.retry.1") == 1 and parked("inventory.events.dlq") == 1  # the poison body


def test_a_batch_that_commits_acks_every_message(db):
    handled = []
    events = [listed(s) for s in "ABCDE"]
    database, conn, producer, take, parked = _published(db, events)
    with conn:
        consumer = EventConsumer(
            database, Subscription("inventory.events", {"catalog.ProductListed": lambda u, e: handled.append(e)})
        )
        consumer._producer = producer
        consumer.on_messages(take())
        assert [e.event_id for e in handled] == [e.event_id for e in events]
        assert count(database, inbox) == 5 and take() == []


def test_a_backlog_is_consumed_in_batches_no_larger_than_the_setting(db):
    """The running consumer: messages already waiting when it starts are taken together, at most
    `consumer_batch` at a time, each handled once."""
    import threading

    from sqlalchemy import event as sa_event

    from ecom_testkit import eventually

    handled = []
    events = [listed(f"S{i}") for i in range(25)]
    database, conn, producer, take, parked = _published(db, events)
    conn.close()
    database = type(database)(database.config.with_(consumer_batch=10), engine=db.engine)
    commits = []
    sa_event.listen(db.engine, "commit", lambda c: commits.append(1))
    sizes = []
    consumer = EventConsumer(
        database, Subscription("inventory.events", {"catalog.ProductListed": lambda u, e: handled.append(e.event_id)})
    )
    original = consumer.on_messages
    consumer.on_messages = lambda messages: (sizes.append(len(messages)), original(messages))
    thread = threading.Thread(target=consumer.run, daemon=True)
    thread.start()
    try:
        eventually(lambda: len(handled) == 25, timeout=10, message="the backlog handled")
    finally:
        consumer.stop.set()
        thread.join(5)
    assert handled == [e.event_id for e in events]
    assert max(sizes) <= 10 and sum(sizes) == 25
    assert len(commits) == len(sizes) < 25


def test_a_batch_that_meets_a_database_outage_is_requeued_after_one_try_alone(db):
    """The database goes away: the batch fails, the first message alone fails the same way and is
    requeued (no retry spent), and the others are requeued untried instead of meeting the outage one
    second each."""
    calls = []

    def handler(uow, event):
        calls.append(event.payload["skus"][0]["sku_code"])
        raise sa.exc.OperationalError("INSERT ...", {}, Exception("server closed the connection"))

    database, conn, producer, take, parked = _published(db, [listed("A"), listed("B"), listed("C")])
    with conn:
        consumer = EventConsumer(database, Subscription("inventory.events", {"catalog.ProductListed": handler}))
        consumer._producer = producer
        consumer.stop.set()  # skips the one-second pause before a requeue
        consumer.on_messages(take())
        assert calls == ["A", "A"]  # in the batch, then alone
        assert sorted(m.payload["payload"]["skus"][0]["sku_code"] for m in take()) == ["A", "B", "C"]
        assert parked("inventory.events.retry.1") == 0 and count(database, inbox) == 0
