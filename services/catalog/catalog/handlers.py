"""catalog handlers: one function per consumed event, and the scheduled job.

Handlers run inside the consumer's unit of work (inbox row + changes + outbox in one transaction);
they map the payload and call one operation, and never commit.
"""

from __future__ import annotations

import logging

from ecom_common import clock
from ecom_common.consumer import Subscription
from ecom_common.db import Database, UnitOfWork
from ecom_common.events import Envelope
from ecom_common.jobs import Job
from ecom_common.usecase import for_event, for_job

from . import domain, operations, sweeps
from .settings import Settings

log = logging.getLogger("catalog.handlers")


def on_low_stock(uow: UnitOfWork, event: Envelope) -> None:
    """inventory.LowStock: the alert shows on the SKU (stamped with when it happened)."""
    ctx = for_event(uow, event, Settings)
    p = event.payload
    at = clock.parse_iso(event.occurred_at) or ctx.now
    operations.note_low_stock(ctx, p["sku_code"], shop_id=p.get("shop_id"), available=p["available"], at=at)


HANDLERS = {
    "inventory.LowStock": on_low_stock,
}

SUBSCRIPTIONS = [Subscription("catalog.events", HANDLERS)]


def purge_deleted_products(db: Database) -> int:
    """Job `purge-deleted-products`: products deleted longer ago than the restore window
    (CATALOG_RESTORE_DAYS, 30) are removed for good, with their SKUs (freeing their codes) and
    timeline. Each product in its own transaction, claimed by a conditional UPDATE so that a restore
    racing the purge wins or loses cleanly."""
    with for_job(db, Settings) as ctx:
        cutoff = domain.purge_cutoff(ctx.now, ctx.settings)
        product_ids = operations.purgeable(ctx, cutoff=cutoff)
    purged = 0
    for product_id in product_ids:
        with for_job(db, Settings) as ctx:
            done = operations.purge(ctx, product_id, cutoff=cutoff)
        if done:
            purged += 1
            log.info("purged product %s (deleted before %s)", product_id, cutoff.isoformat())
    return purged


def sweep_compliance(db: Database) -> int:
    """Job `sweep-compliance`: queue this slot's periodic sweep (once per CATALOG_SWEEP_EVERY_HOURS,
    however many replicas ask), then run every queued sweep (a banned word added, the periodic one):
    each claimed by one conditional UPDATE with a lease, so two replicas never run one sweep at once
    and a sweep whose worker died is taken over (sweeps.py). Returns the products reported."""
    with for_job(db, Settings) as ctx:
        sweeps.queue_periodic(ctx)
    reported = 0
    while True:
        with for_job(db, Settings) as ctx:
            mine = sweeps.claim(ctx)
        if mine is None:
            return reported
        reported += sweeps.run(db, mine)


JOBS: list[Job] = [
    Job("purge-deleted-products", purge_deleted_products),
    Job("sweep-compliance", sweep_compliance),
]
