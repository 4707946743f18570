import pytest
import sqlalchemy as sa

from ecom_common.consumer import EventConsumer, Outcome, Subscription
from ecom_common.db import inbox, outbox
from ecom_common.events import make_event
from ecom_common.jobs import Job, acquire_lease, release_lease, run_once


def listed(sku="A"):
    return make_event("catalog.ProductListed",
                      {"product_id": "P1", "shop_id": "S1", "skus": [{"sku_code": sku, "list_price_fen": 100}]})


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
