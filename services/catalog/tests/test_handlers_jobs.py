"""The purge job (clock-driven) and the inventory.LowStock handler."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from catalog import domain, handlers, operations, store
from catalog.app import SERVICE
from catalog.models import Product, Sku, TimelineEntry
from catalog.settings import Settings
from ecom_common.consumer import EventConsumer, Outcome
from ecom_common.errors import ConcurrentChange
from ecom_common.events import make_event
from ecom_common.jobs import run_once
from ecom_common.usecase import Actor, for_job
from ecom_testkit import auth

OPS = auth("ops", "alice", "S1")


def count(db, model, **where):
    with db.Session() as s:
        stmt = sa.select(sa.func.count()).select_from(model)
        for k, v in where.items():
            stmt = stmt.where(getattr(model, k) == v)
        return s.execute(stmt).scalar()


def test_purge_removes_products_deleted_more_than_30_days_ago(steps, client, db, config, dress):
    old = steps.create()
    client.delete(f"/api/v1/products/{old['product_id']}", headers=OPS)
    config.clock.advance(days=10)
    recent = steps.create(dress(skus=[{"sku_code": "KEEP", "list_price_fen": 100}]))
    client.delete(f"/api/v1/products/{recent['product_id']}", headers=OPS)
    alive = steps.create(dress(skus=[{"sku_code": "ALIVE", "list_price_fen": 100}]))

    config.clock.advance(days=19)  # old deleted 29 days ago: still restorable
    assert run_once(db, SERVICE.job("purge-deleted-products")) == 0
    config.clock.advance(days=1, minutes=1)  # 30 days + 1 minute
    assert run_once(db, SERVICE.job("purge-deleted-products")) == 1
    assert count(db, Product, id=old["product_id"]) == 0
    assert count(db, Sku, product_id=old["product_id"]) == 0
    assert count(db, TimelineEntry, product_id=old["product_id"]) == 0
    assert count(db, Product, id=recent["product_id"]) == 1 and count(db, Product, id=alive["product_id"]) == 1
    assert client.get(f"/api/v1/products/{old['product_id']}", headers=OPS).status_code == 404
    # The purged product's SKU codes are free again.
    assert steps.create()["skus"][0]["sku_code"] == "DRESS-RED-S"
    assert run_once(db, SERVICE.job("purge-deleted-products")) == 0  # idempotent


def test_purge_respects_the_setting(steps, client, db, config):
    p = steps.create()
    client.delete(f"/api/v1/products/{p['product_id']}", headers=OPS)
    short = db.__class__(config.with_(settings={"CATALOG_RESTORE_DAYS": "1"}), engine=db.engine)
    config.clock.advance(days=1, minutes=1)
    assert handlers.purge_deleted_products(short) == 1


def test_restored_product_is_not_purged(steps, client, db, config):
    p = steps.create()
    client.delete(f"/api/v1/products/{p['product_id']}", headers=OPS)
    config.clock.advance(days=29)
    steps.act(p["product_id"], "restore")
    config.clock.advance(days=5)
    assert handlers.purge_deleted_products(db) == 0


def test_low_stock_alert_is_shown_on_the_sku(steps, client, db):
    p = steps.listed()
    consumer = EventConsumer(db, handlers.SUBSCRIPTIONS[0])
    event = make_event(
        "inventory.LowStock", {"sku_code": "DRESS-RED-S", "shop_id": "S1", "available": 3, "threshold": 5}
    )
    assert consumer.handle(event) == Outcome.HANDLED
    assert consumer.handle(event) == Outcome.DUPLICATE
    # Another shop's SKU with the same code is untouched.
    other = make_event(
        "inventory.LowStock", {"sku_code": "DRESS-RED-M", "shop_id": "S2", "available": 0, "threshold": 5}
    )
    consumer.handle(other)
    skus = client.get(f"/api/v1/products/{p['product_id']}", headers=OPS).get_json()["skus"]
    assert skus[0]["low_stock_available"] == 3 and skus[0]["low_stock_alert_at"] is not None
    assert skus[1]["low_stock_available"] is None


def test_sku_code_race_is_409_not_500(steps, client, monkeypatch, dress):
    """The pre-check can miss a code inserted meanwhile; the unique constraint still answers 409."""
    steps.create()
    monkeypatch.setattr(store, "codes_taken", lambda *a, **k: [])
    r = client.post("/api/v1/products", json=dress(), headers=OPS)
    assert r.status_code == 409, r.get_json()
    assert r.get_json()["errors"] == {"skus": ["sku_code_taken"]}


# Operations outside HTTP: a job's or a handler's context is the service itself ------------------
def test_an_operation_in_a_job_context_acts_as_the_service(steps, db):
    p = steps.submitted()
    with for_job(db, Settings, Actor("rita", ("reviewer",))) as ctx:
        assert operations.approve(ctx, p["product_id"]).status == "listed"
    assert [e["payload"]["reviewer"] for e in steps.events("catalog.ProductApproved")] == ["rita"]


def test_a_lost_guarded_update_is_a_concurrent_change(steps, db):
    p = steps.create()
    with pytest.raises(ConcurrentChange) as lost, for_job(db, Settings, Actor("alice", ("ops",))) as ctx:
        product = ctx.session.get(Product, p["product_id"])
        # Someone else's write, which this session's copy of the product does not see.
        ctx.session.execute(
            sa.update(Product).values(version=Product.version + 1).execution_options(synchronize_session=False)
        )
        store.apply(ctx, product, domain.submit(store.state_of(product)))
    assert lost.value.errors == {"version": ["Expected version 1."]}
