"""Fixtures for inventory's unit and API tests: SQLite + in-memory bus (`config`, `db`, `client` from
ecom_testkit.plugin), events read from the outbox."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from ecom_common.clock import iso
from ecom_common.consumer import EventConsumer
from ecom_common.events import make_event
from ecom_common.usecase import Actor, for_job
from ecom_testkit import recorded_events
from inventory import domain, operations
from inventory.handlers import SUBSCRIPTIONS
from inventory.ledger import StockKey
from inventory.models import StockItem, StockMovement
from inventory.settings import Settings

SHOP = "S1"
T0 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)


@pytest.fixture
def service_name():
    return "inventory"


@pytest.fixture
def deliver(db):
    """Hand an event to inventory's consumer exactly as the worker would (inbox + handler + commit)."""
    consumer = EventConsumer(db, SUBSCRIPTIONS[0])

    def _deliver(routing_key: str, payload: dict, envelope=None):
        envelope = envelope or make_event(routing_key, payload)
        return consumer.handle(envelope), envelope

    return _deliver


@pytest.fixture
def list_sku(deliver):
    def _list(*sku_codes, shop_id=SHOP, threshold=10, product_id="P1"):
        deliver(
            "catalog.ProductListed",
            {
                "product_id": product_id,
                "shop_id": shop_id,
                "skus": [{"sku_code": s, "list_price_fen": 1000, "low_stock_threshold": threshold} for s in sku_codes],
            },
        )

    return _list


@pytest.fixture
def receive(db):
    """Goods in (as an inbound adjustment does), committed."""

    def _receive(sku_code, quantity, shop_id=SHOP, warehouse_code="WH1"):
        with for_job(db, Settings, actor=Actor("test")) as ctx:
            adjustment = domain.Adjustment("inbound", quantity=quantity, reason="receipt")
            operations.adjust(ctx, StockKey(shop_id, sku_code, warehouse_code), adjustment)

    return _receive


@pytest.fixture
def pay(deliver):
    """Deliver orders.OrderPaid; paid_at is T0 + `minute` minutes."""

    def _pay(order_id, lines, shop_id=SHOP, minute=0, envelope=None):
        payload = {
            "order_id": order_id,
            "shop_id": shop_id,
            "payable_fen": 1000,
            "paid_at": iso(T0 + timedelta(minutes=minute)),
            "lines": [{"sku_code": s, "quantity": q} for s, q in lines],
        }
        return deliver("orders.OrderPaid", payload, envelope)

    return _pay


@pytest.fixture
def stock(db):
    """(on_hand, reserved) of one stock row."""

    def _stock(sku_code, shop_id=SHOP, warehouse_code="WH1"):
        with db.engine.connect() as conn:
            row = conn.execute(
                sa.select(StockItem.on_hand, StockItem.reserved).where(
                    StockItem.shop_id == shop_id,
                    StockItem.sku_code == sku_code,
                    StockItem.warehouse_code == warehouse_code,
                )
            ).one()
        return row.on_hand, row.reserved

    return _stock


@pytest.fixture
def events(db):
    def _events(routing_key):
        return [e["payload"] for e in recorded_events(db, routing_key)]

    return _events


@pytest.fixture
def ledger_matches_stock(db):
    """The ledger sums to the stock, row by row."""

    def _check():
        with db.engine.connect() as conn:
            items = conn.execute(
                sa.select(
                    StockItem.shop_id,
                    StockItem.sku_code,
                    StockItem.warehouse_code,
                    StockItem.on_hand,
                    StockItem.reserved,
                )
            ).all()
            for it in items:
                sums = conn.execute(
                    sa.select(
                        sa.func.coalesce(sa.func.sum(StockMovement.on_hand_delta), 0),
                        sa.func.coalesce(sa.func.sum(StockMovement.reserved_delta), 0),
                    ).where(
                        StockMovement.shop_id == it.shop_id,
                        StockMovement.sku_code == it.sku_code,
                        StockMovement.warehouse_code == it.warehouse_code,
                    )
                ).one()
                assert tuple(sums) == (it.on_hand, it.reserved), it
        return True

    return _check
