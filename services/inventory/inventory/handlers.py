"""inventory handlers: one function per consumed event, and the scheduled jobs.

Each handler runs inside the consumer's unit of work (inbox row + changes + outbox in one
transaction); it loads, calls the domain, saves, records events. It never commits.
"""
from __future__ import annotations

import sqlalchemy as sa

from ecom_common.consumer import Subscription
from ecom_common.db import UnitOfWork
from ecom_common.events import Envelope
from ecom_common.jobs import Job

from . import domain
from .models import StockItem, StockMovement


def on_product_listed(uow: UnitOfWork, event: Envelope) -> None:
    """A listed product's SKUs get a stock item (0 on hand) in the default warehouse; known SKUs
    keep their stock and take the new threshold."""
    now = uow.db.config.clock.now()
    session = uow.session
    for sku in domain.skus_from_listing(event.payload):
        item = session.execute(
            sa.select(StockItem).where(StockItem.shop_id == sku.shop_id, StockItem.sku_code == sku.sku_code,
                                       StockItem.warehouse_code == domain.DEFAULT_WAREHOUSE)
        ).scalar_one_or_none()
        if item is not None:
            item.low_stock_threshold = sku.low_stock_threshold
            item.sellable = True
            item.updated_at = now
            continue
        session.add(StockItem(
            sku_code=sku.sku_code, warehouse_code=domain.DEFAULT_WAREHOUSE, shop_id=sku.shop_id,
            on_hand=0, reserved=0, low_stock_threshold=sku.low_stock_threshold, sellable=True,
            created_at=now, updated_at=now,
        ))
        session.add(StockMovement(
            shop_id=sku.shop_id, sku_code=sku.sku_code, warehouse_code=domain.DEFAULT_WAREHOUSE, kind=domain.Movement.CREATE,
            on_hand_delta=0, reserved_delta=0, cause=f"product:{event.payload['product_id']}",
            actor="catalog", created_at=now,
        ))


HANDLERS = {
    "catalog.ProductListed": on_product_listed,
}

SUBSCRIPTIONS = [Subscription("inventory.events", HANDLERS)]
JOBS: list[Job] = []
