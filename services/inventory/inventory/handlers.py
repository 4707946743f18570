"""inventory handlers: one function per consumed event, and the scheduled jobs.

Each handler runs inside the consumer's unit of work (inbox row + changes + outbox in one
transaction); it reads the event, asks the stock book (operations.py) to move stock, and records events.
It never commits. Duplicates of one event are dropped by the inbox; a second, different event for
the same order is made harmless by the reservation row (one per order).
"""

from __future__ import annotations

import logging

import sqlalchemy as sa

from ecom_common.consumer import Subscription
from ecom_common.db import UnitOfWork
from ecom_common.events import Envelope
from ecom_common.jobs import Job

from . import domain
from .models import ReservationLine, StockItem
from .operations import StockBook

log = logging.getLogger("inventory.handlers")


def on_product_listed(uow: UnitOfWork, event: Envelope) -> None:
    """A listed product's SKUs get a stock item (0 on hand) in the default warehouse; known SKUs
    keep their stock and take the new threshold, unless a newer catalog event already set one."""
    book = StockBook(uow, actor="catalog")
    said_at = domain.parse_time(event.occurred_at, book.now)
    for sku in domain.skus_from_listing(event.payload):
        known = uow.session.execute(
            sa.update(StockItem)
            .where(StockItem.shop_id == sku.shop_id, StockItem.sku_code == sku.sku_code)
            .values(sellable=True, updated_at=book.now)
        ).rowcount
        if known:
            _apply_threshold(uow, book, sku.shop_id, sku.sku_code, sku.low_stock_threshold, said_at)
            continue
        book.ensure_item(
            sku.shop_id,
            sku.sku_code,
            domain.DEFAULT_WAREHOUSE,
            cause=f"product:{event.payload['product_id']}",
            threshold=sku.low_stock_threshold,
            threshold_as_of=said_at,
        )


def on_price_changed(uow: UnitOfWork, event: Envelope) -> None:
    """Prices are catalog's business; a threshold carried along (when present) is ours. Only a product
    that was listed has its prices changed, so a SKU we do not know yet (its ProductListed is still on
    the way) gets its stock item now, exactly as the listing would have made it."""
    book = StockBook(uow, actor="catalog")
    said_at = domain.parse_time(event.occurred_at, book.now)
    shop_id = event.payload["shop_id"]
    for sku in event.payload.get("skus", []):
        if "low_stock_threshold" not in sku:
            continue
        threshold = int(sku["low_stock_threshold"])
        if not _apply_threshold(uow, book, shop_id, sku["sku_code"], threshold, said_at):
            book.ensure_item(
                shop_id,
                sku["sku_code"],
                domain.DEFAULT_WAREHOUSE,
                cause=f"product:{event.payload['product_id']}",
                threshold=threshold,
                threshold_as_of=said_at,
            )


def _apply_threshold(uow: UnitOfWork, book: StockBook, shop_id: str, sku_code: str, threshold: int, said_at) -> bool:
    """Take catalog's threshold only if it is newer than the one we have (events may arrive out of
    order): one conditional UPDATE on threshold_as_of. False when the shop has no stock item for the SKU."""
    updated = uow.session.execute(
        sa.update(StockItem)
        .where(
            StockItem.shop_id == shop_id,
            StockItem.sku_code == sku_code,
            sa.or_(StockItem.threshold_as_of.is_(None), StockItem.threshold_as_of <= said_at),
        )
        .values(low_stock_threshold=threshold, threshold_as_of=said_at, updated_at=book.now)
    ).rowcount
    if updated:
        book.recheck_low_stock(shop_id, sku_code)
        return True
    return (
        uow.session.execute(
            sa.select(sa.func.count()).where(StockItem.shop_id == shop_id, StockItem.sku_code == sku_code)
        ).scalar_one()
        > 0
    )


def on_order_paid(uow: UnitOfWork, event: Envelope) -> None:
    """Reserve every line or none -> StockReserved, or StockShortage with the shop's policy."""
    p = event.payload
    book = StockBook(uow, actor="orders")
    paid_at = domain.parse_time(p.get("paid_at"), fallback=domain.parse_time(event.occurred_at, book.now))
    outcome = book.reserve_order(p["order_id"], p["shop_id"], p["lines"], paid_at)
    log.info("order %s: %s", p["order_id"], outcome.status)


def on_order_cancelled(uow: UnitOfWork, event: Envelope) -> None:
    """Release what the order reserved (or drop it from the waiting queue); idempotent."""
    p = event.payload
    book = StockBook(uow, actor="orders")
    result = book.release_order(p["order_id"], p["shop_id"], p.get("reason") or "order cancelled")
    log.info("order %s cancelled: %s", p["order_id"], result)


def on_shipment_dispatched(uow: UnitOfWork, event: Envelope) -> None:
    """Deduct the order's reservation; an exchange's replacement (case_id), or a parcel dispatched for an
    order cancelled meanwhile, comes off on-hand directly."""
    p = event.payload
    book = StockBook(uow, actor="logistics")
    if p.get("case_id"):
        book.ship_replacement(p["case_id"], p["order_id"], p["shop_id"], p["shipment_id"], p["lines"])
    else:
        book.deduct_order(p["order_id"], p["shop_id"], p["shipment_id"], p.get("lines"))


def on_return_received(uow: UnitOfWork, event: Envelope) -> None:
    """Resellable returns go back on hand (to the warehouse they were shipped from when known);
    unsellable ones change nothing but leave a note in the ledger."""
    p = event.payload
    book = StockBook(uow, actor="aftersales")
    cause = f"case:{p['case_id']}"
    reference = f"return:{p['case_id']}"
    for line in domain.merge_lines(p["lines"]):
        shipped_from = uow.session.execute(
            sa.select(ReservationLine.warehouse_code).where(
                ReservationLine.order_id == p["order_id"], ReservationLine.sku_code == line.sku_code
            )
        ).scalar_one_or_none()
        warehouses = book.warehouses_of(p["shop_id"], line.sku_code)
        warehouse = shipped_from or (warehouses[0][1] if warehouses else domain.DEFAULT_WAREHOUSE)
        if p["resellable"]:
            book.receive(
                p["shop_id"],
                line.sku_code,
                warehouse,
                line.quantity,
                cause,
                f"resellable return of order {p['order_id']}",
                reference,
            )
        else:
            book.note(
                p["shop_id"],
                line.sku_code,
                warehouse,
                cause,
                f"return of {line.quantity} not resellable (order {p['order_id']})",
                reference,
            )


HANDLERS = {
    "catalog.ProductListed": on_product_listed,
    "catalog.PriceChanged": on_price_changed,
    "orders.OrderPaid": on_order_paid,
    "orders.OrderCancelled": on_order_cancelled,
    "logistics.ShipmentDispatched": on_shipment_dispatched,
    "aftersales.ReturnReceived": on_return_received,
}

SUBSCRIPTIONS = [Subscription("inventory.events", HANDLERS)]
# The replenishment report is computed on request from the clock and the ledger; no periodic job is
# needed (LowStock is emitted by the movement that crosses the threshold).
JOBS: list[Job] = []
