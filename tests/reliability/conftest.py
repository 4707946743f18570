"""Reliability scenarios: the integration suite's servers (same `infrastructure` fixture: the
machine's RabbitMQ/PostgreSQL or testcontainers) and a report of each scenario's figures.

Each test records what it measured with `reliability_report(name, figures)`; the figures are merged
into bench/results/reliability.json (`make test-reliability` then renders docs/reliability.md's table
from it with `python -m bench.reliability_report`).
"""
from __future__ import annotations

import json
import os
import platform
from datetime import datetime, timezone
from pathlib import Path

import pytest

# The integration suite's session fixture (the real RabbitMQ and PostgreSQL), and its saga driver (six
# real services over HTTP, RabbitMQ and PostgreSQL) with the platform settings of these scenarios.
from ecom_testkit import Platform
from ecom_testkit.saga import ALL_SERVICES, Saga
from ecom_testkit.servers import infrastructure  # noqa: F401  (the session fixture, autouse)
from ecom_testkit.world import PLATFORM_SETTINGS, SAGA_SETTINGS, seed_world

REPO = Path(__file__).resolve().parents[2]
REPORT = REPO / "bench" / "results" / "reliability.json"


@pytest.fixture
def reliability_report(request):
    def write(figures: dict, scenario: str | None = None) -> None:
        name = scenario or request.node.name
        REPORT.parent.mkdir(parents=True, exist_ok=True)
        try:
            data = json.loads(REPORT.read_text())
        except (FileNotFoundError, ValueError):
            data = {}
        data.setdefault("scenarios", {})[name] = {
            "test": request.node.nodeid,
            "at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "machine": {"cpu_count": os.cpu_count(), "python": platform.python_version()},
            **figures,
        }
        REPORT.write_text(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")

    return write


@pytest.fixture
def private_broker():
    """A RabbitMQ node of this test's own (`ecom_testkit.PrivateRabbitMQ`: its own node name,
    AMQP and distribution ports, data, logs and config in a temporary directory), started, which the
    test may stop, kill (SIGKILL) and start at will; the machine's shared broker is never touched.
    Teardown always stops the node (or kills what is left of it) and removes its directory. Without
    rabbitmq-server installed the test is skipped, or fails when CI=true."""
    from ecom_testkit import PrivateRabbitMQ

    if PrivateRabbitMQ.scripts_dir() is None:
        message = "rabbitmq-server is not installed: this scenario needs a RabbitMQ node of its own"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    rabbit = PrivateRabbitMQ()
    try:
        rabbit.start()
        yield rabbit
    finally:
        rabbit.close()


# Helpers shared by the scenarios (a fixture: test modules cannot import each other in importlib mode)
def _listed(product_id: str, *skus: str, shop_id: str = "S1", threshold: int = 3):
    from ecom_common.events import make_event

    return make_event("catalog.ProductListed", {
        "product_id": product_id, "shop_id": shop_id,
        "skus": [{"sku_code": s, "list_price_fen": 1000, "low_stock_threshold": threshold} for s in skus],
    })


def _record(service, *events) -> None:
    with service.db.uow() as uow:
        for event in events:
            uow.record(event)
        uow.commit()


def _count(db, table, *where) -> int:
    import sqlalchemy as sa

    with db.engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(table).where(*where)).scalar_one()


def _movements(db, sku: str, shop_id: str | None = None) -> int:
    import sqlalchemy as sa
    from inventory.models import StockMovement

    stmt = sa.select(sa.func.count()).where(StockMovement.sku_code == sku)
    if shop_id:
        stmt = stmt.where(StockMovement.shop_id == shop_id)
    with db.Session() as s:
        return s.execute(stmt).scalar_one()


def _stock_items(db, sku: str) -> int:
    import sqlalchemy as sa
    from inventory.models import StockItem

    with db.Session() as s:
        return s.execute(sa.select(sa.func.count()).where(StockItem.sku_code == sku)).scalar_one()


def _ledger_matches_stock(db) -> bool:
    """Inventory's ledger sums to its stock: per SKU and warehouse, the movements' on-hand and reserved
    deltas add up to the stock item's on hand and reserved."""
    import sqlalchemy as sa
    from inventory.models import StockItem, StockMovement

    with db.Session() as s:
        sums = {(r.sku_code, r.warehouse_code): (r.on_hand, r.reserved) for r in s.execute(
            sa.select(StockMovement.sku_code, StockMovement.warehouse_code,
                      sa.func.sum(StockMovement.on_hand_delta).label("on_hand"),
                      sa.func.sum(StockMovement.reserved_delta).label("reserved"))
            .group_by(StockMovement.sku_code, StockMovement.warehouse_code))}
        items = {(r.sku_code, r.warehouse_code): (r.on_hand, r.reserved)
                 for r in s.execute(sa.select(StockItem)).scalars()}
    return sums == items


def _queue_state(config, queue: str = "inventory.events") -> tuple[int, int]:
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


def _publish(config, events_or_bodies, routing_key: str | None = None, to_queue: str | None = None) -> None:
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
                producer.publish(body, exchange="", routing_key=topology.name(to_queue), delivery_mode=2,
                                 content_type="application/json", retry=False)
            else:
                bus.publish_raw(producer, topology.exchange, rk, body, message_id=item.event_id)


def _worker_env(platform, service: str, tmp_path) -> dict:
    from ecom_testkit import TEST_SECRET

    rs = platform[service]
    env = {k: v for k, v in os.environ.items() if not k.endswith("_DATABASE_URL")}
    env.update({
        "BROKER_URL": platform.broker_url,
        f"{service.upper()}_DATABASE_URL": rs.config.database_url,
        "ECOM_BUS_PREFIX": rs.config.bus_prefix,
        "ECOM_JWT_SECRET": TEST_SECRET,
        "ECOM_VAR_DIR": str(tmp_path),
        "ECOM_RETRY_DELAYS": ",".join(str(d) for d in platform.retry_delays),
    })
    return env


@pytest.fixture
def h():
    from types import SimpleNamespace

    return SimpleNamespace(listed=_listed, record=_record, count=_count, movements=_movements,
                           stock_items=_stock_items, ledger_matches_stock=_ledger_matches_stock,
                           queue_state=_queue_state, publish=_publish,
                           worker_env=_worker_env, Saga=Saga, ALL_SERVICES=ALL_SERVICES,
                           saga_settings=dict(SAGA_SETTINGS))


@pytest.fixture(scope="module")
def two_shop_world():
    """One populated platform per test module (module scope: each module that asks gets its own,
    so one module's writes never reach another's): `seed_world`'s two shops, as (platform, ids by
    shop, the log output the seeding wrote through the services' own masking formatter)."""
    import io
    import logging

    with Platform(ALL_SERVICES, settings=PLATFORM_SETTINGS) as platform:
        root = logging.getLogger()
        written = io.StringIO()
        tap = logging.StreamHandler(written)
        tap.setFormatter(root.handlers[0].formatter)
        root.addHandler(tap)
        try:
            ids = seed_world(platform)
        finally:
            root.removeHandler(tap)
        yield platform, ids, written.getvalue()
