"""Helpers of the reliability scenarios: events to record or publish, counts and invariants read from
a service's database, the state of a queue, a worker process's environment. Tests import the module
(`from ecom_testkit import scenarios`) and call `scenarios.listed(...)`, `scenarios.queue_state(...)`."""

from __future__ import annotations

import os

from .saga import ALL_SERVICES, Saga  # noqa: F401  (the scenarios' platform, named here for them)
from .tokens import TEST_SECRET
from .world import SAGA_SETTINGS  # noqa: F401


def listed(product_id: str, *skus: str, shop_id: str = "S1", threshold: int = 3):
    from ecom_common.events import make_event

    return make_event(
        "catalog.ProductListed",
        {
            "product_id": product_id,
            "shop_id": shop_id,
            "skus": [{"sku_code": s, "list_price_fen": 1000, "low_stock_threshold": threshold} for s in skus],
        },
    )


def record(service, *events) -> None:
    with service.db.uow() as uow:
        for event in events:
            uow.record(event)
        uow.commit()


def count(db, table, *where) -> int:
    import sqlalchemy as sa

    with db.engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(table).where(*where)).scalar_one()


def movements(db, sku: str, shop_id: str | None = None) -> int:
    import sqlalchemy as sa

    from inventory.models import StockMovement

    stmt = sa.select(sa.func.count()).where(StockMovement.sku_code == sku)
    if shop_id:
        stmt = stmt.where(StockMovement.shop_id == shop_id)
    with db.Session() as s:
        return s.execute(stmt).scalar_one()


def stock_items(db, sku: str) -> int:
    import sqlalchemy as sa

    from inventory.models import StockItem

    with db.Session() as s:
        return s.execute(sa.select(sa.func.count()).where(StockItem.sku_code == sku)).scalar_one()


def ledger_matches_stock(db) -> bool:
    """Inventory's ledger sums to its stock: per SKU and warehouse, the movements' on-hand and reserved
    deltas add up to the stock item's on hand and reserved."""
    import sqlalchemy as sa

    from inventory.models import StockItem, StockMovement

    with db.Session() as s:
        sums = {
            (r.sku_code, r.warehouse_code): (r.on_hand, r.reserved)
            for r in s.execute(
                sa.select(
                    StockMovement.sku_code,
                    StockMovement.warehouse_code,
                    sa.func.sum(StockMovement.on_hand_delta).label("on_hand"),
                    sa.func.sum(StockMovement.reserved_delta).label("reserved"),
                ).group_by(StockMovement.sku_code, StockMovement.warehouse_code)
            )
        }
        items = {
            (r.sku_code, r.warehouse_code): (r.on_hand, r.reserved) for r in s.execute(sa.select(StockItem)).scalars()
        }
    return sums == items


def queue_state(config, queue: str = "inventory.events") -> tuple[int, int]:
    """(messages ready, consumers) of one of the namespace's queues; (0, 0) while no process has
    declared it yet (a worker or relay just started: tests poll this until it is what they want)."""
    from amqp.exceptions import NotFound
    from kombu import Connection

    from ecom_common import bus

    with Connection(config.broker_url, heartbeat=0) as conn:
        try:
            _, messages, consumers = conn.channel().queue_declare(bus.topology_for(config).name(queue), passive=True)
        except NotFound:
            return 0, 0
        return messages, consumers


def publish(config, events_or_bodies, routing_key: str | None = None, to_queue: str | None = None) -> None:
    """Publish envelopes (or raw bodies) with confirms: to the namespace's exchange, or straight onto
    one of its queues (`to_queue`, through the default exchange) as a misbehaving producer would."""
    from kombu import Producer

    from ecom_common import bus

    topology = bus.topology_for(config)
    with bus.connect(config, role="test-publisher") as conn:
        channel = conn.channel()
        topology.declare(channel)  # as every process does before it publishes: nothing is unroutable
        producer = Producer(channel)
        for item in events_or_bodies:
            body = item if isinstance(item, (str, bytes)) else item.to_json()
            rk = routing_key or getattr(item, "routing_key", "")
            if to_queue:
                producer.publish(
                    body,
                    exchange="",
                    routing_key=topology.name(to_queue),
                    delivery_mode=2,
                    content_type="application/json",
                    retry=False,
                )
            else:
                bus.publish_raw(producer, topology.exchange, rk, body, message_id=item.event_id)


def worker_env(platform, service: str, tmp_path) -> dict:
    rs = platform[service]
    env = {k: v for k, v in os.environ.items() if not k.endswith("_DATABASE_URL")}
    env.update(
        {
            "BROKER_URL": platform.broker_url,
            f"{service.upper()}_DATABASE_URL": rs.config.database_url,
            "ECOM_BUS_PREFIX": rs.config.bus_prefix,
            "ECOM_JWT_SECRET": TEST_SECRET,
            "ECOM_VAR_DIR": str(tmp_path),
            "ECOM_RETRY_DELAYS": ",".join(str(d) for d in platform.retry_delays),
        }
    )
    return env
