"""catalog handlers: one function per consumed event, and the scheduled jobs.

Handlers run inside the consumer's unit of work (inbox row + changes + outbox in one transaction);
they never commit.
"""

from __future__ import annotations

import logging
from datetime import datetime

import sqlalchemy as sa

from ecom_common.clock import aware
from ecom_common.consumer import Subscription
from ecom_common.db import Database, UnitOfWork
from ecom_common.events import Envelope
from ecom_common.jobs import Job
from ecom_common.settings import settings_of

from . import domain
from .models import Product, Sku, TimelineEntry
from .settings import Settings

log = logging.getLogger("catalog.handlers")


def on_low_stock(uow: UnitOfWork, event: Envelope) -> None:
    """inventory.LowStock: remember the alert on the SKU so ops see it on the product. An older alert
    arriving late never overwrites a newer one."""
    p = event.payload
    occurred = event.occurred_at
    at = aware(datetime.fromisoformat(occurred.replace("Z", "+00:00"))) if occurred else uow.db.config.clock.now()
    stmt = (
        sa.update(Sku)
        .where(Sku.sku_code == p["sku_code"], sa.or_(Sku.low_stock_alert_at.is_(None), Sku.low_stock_alert_at <= at))
        .values(low_stock_available=p["available"], low_stock_alert_at=at)
        .execution_options(synchronize_session=False)
    )
    if p.get("shop_id"):
        stmt = stmt.where(Sku.shop_id == p["shop_id"])
    uow.session.execute(stmt)


HANDLERS = {
    "inventory.LowStock": on_low_stock,
}

SUBSCRIPTIONS = [Subscription("catalog.events", HANDLERS)]


def purge_deleted_products(db: Database) -> int:
    """Products deleted longer ago than the restore window (CATALOG_RESTORE_DAYS, 30) are removed
    for good, with their SKUs (freeing their codes) and timeline. Each product in its own
    transaction, claimed by a conditional UPDATE so that a restore racing the purge wins or loses
    cleanly."""
    rules = settings_of(db.config, Settings)
    cutoff = domain.purge_cutoff(db.config.clock.now(), rules)
    with db.Session() as session:
        ids = (
            session.execute(
                sa.select(Product.id)
                .where(Product.status == domain.DELETED, Product.deleted_at <= cutoff)
                .order_by(Product.deleted_at)
                .limit(500)
            )
            .scalars()
            .all()
        )
    purged = 0
    for product_id in ids:
        with db.uow() as uow:
            s = uow.session
            claimed = s.execute(
                sa.update(Product)
                .where(Product.id == product_id, Product.status == domain.DELETED, Product.deleted_at <= cutoff)
                .values(version=Product.version + 1)
                .execution_options(synchronize_session=False)
            ).rowcount
            if claimed != 1:
                continue
            s.execute(sa.delete(Sku).where(Sku.product_id == product_id))
            s.execute(sa.delete(TimelineEntry).where(TimelineEntry.product_id == product_id))
            s.execute(sa.delete(Product).where(Product.id == product_id))
            uow.commit()
            purged += 1
            log.info("purged product %s (deleted before %s)", product_id, cutoff.isoformat())
    return purged


JOBS: list[Job] = [
    Job("purge_deleted_products", purge_deleted_products),
]
