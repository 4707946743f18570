"""The worker process as deployments run it (`ecom worker inventory`, a real process on the real
RabbitMQ and PostgreSQL): SIGTERM while a handler is running lets that handler finish, the message
is acknowledged exactly once, and the process exits 0.

The handler is made to block from outside, with no hook in production code: this test holds an
ACCESS EXCLUSIVE lock on inventory's stock_items table, so the catalog.ProductListed handler waits
inside its transaction (after its inbox row) until the lock is released."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from kombu import Connection, Producer

from ecom_common.events import make_event
from ecom_common.topology import Topology
from ecom_testkit import (
    TEST_SECRET,
    amqp_url,
    create_schema,
    database_url,
    delete_bus_namespace,
    drop_schema,
    eventually,
)

pytestmark = pytest.mark.integration

BIN = Path(sys.executable).parent


@pytest.fixture
def namespace(tmp_path):
    prefix = f"t{uuid.uuid4().hex[:10]}"
    schema = f"{prefix}_inventory"
    db_url = create_schema(database_url(), schema)
    env = {
        **os.environ,
        "INVENTORY_DATABASE_URL": db_url,
        "BROKER_URL": amqp_url(),
        "ECOM_BUS_PREFIX": f"{prefix}.",
        "ECOM_JWT_SECRET": TEST_SECRET,
        "ECOM_VAR_DIR": str(tmp_path),
        "ECOM_JOB_INTERVAL": "3600",
    }
    env.pop("ECOM_QUEUE_TYPE", None)
    yield {"prefix": f"{prefix}.", "schema": schema, "db_url": db_url, "env": env}
    drop_schema(database_url(), schema)
    delete_bus_namespace(amqp_url(), f"{prefix}.")


def _queue_depth(topology: Topology, name: str) -> int:
    with Connection(amqp_url()) as conn:
        return conn.channel().queue_declare(topology.name(name), passive=True).message_count


def test_sigterm_finishes_the_message_in_hand_acks_it_once_and_exits_0(namespace, tmp_path):
    env = namespace["env"]
    migrate = subprocess.run(
        [str(BIN / "ecom"), "migrate", "inventory"], env=env, capture_output=True, text=True, timeout=120
    )
    assert migrate.returncode == 0, migrate.stderr

    topology = Topology(namespace["prefix"])
    with Connection(amqp_url()) as conn:
        topology.declare(conn.channel())  # what the worker declares too: nothing published is lost

    engine = sa.create_engine(namespace["db_url"])
    locker = engine.connect()
    log = open(tmp_path / "worker.log", "w")  # noqa: SIM115 - closed in the finally below
    worker = subprocess.Popen([str(BIN / "ecom"), "worker", "inventory"], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        locker.execute(sa.text("LOCK TABLE stock_items IN ACCESS EXCLUSIVE MODE"))

        event = make_event(
            "catalog.ProductListed",
            {
                "product_id": "P-sigterm",
                "shop_id": "S1",
                "title": "Thermos",
                "skus": [{"sku_code": "TH-500", "list_price_fen": 9900, "low_stock_threshold": 4}],
            },
        )
        with Connection(amqp_url(), transport_options={"confirm_publish": True}) as conn:
            Producer(conn.channel()).publish(
                event.to_json(),
                exchange=topology.name("ecom.events"),
                routing_key="catalog.ProductListed",
                content_type="application/json",
                content_encoding="utf-8",
                delivery_mode=2,
                message_id=event.event_id,
            )

        # The handler is running: its transaction waits for our lock.
        # Only a write waiting counts: the worker's jobs (e.g. check-safety-stock) read stock_items
        # too and would wait on the lock as well, before the handler has the message.
        waiting = sa.text(
            "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
            " WHERE NOT l.granted AND l.relation = to_regclass(:t) AND a.query NOT ILIKE 'SELECT%'"
        )

        def handler_blocked() -> bool:
            # a transaction of its own each time: pg_stat_activity is a snapshot per transaction
            with engine.connect() as probe:
                return probe.execute(waiting, {"t": f'"{namespace["schema"]}".stock_items'}).scalar() >= 1

        eventually(handler_blocked, timeout=30, message="the handler blocked on stock_items")

        worker.send_signal(signal.SIGTERM)
        time.sleep(2.0)
        assert worker.poll() is None, "the worker exited with a message in hand"
        locker.rollback()  # release: the handler completes, commits, acks
        assert worker.wait(timeout=60) == 0
    finally:
        locker.close()
        if worker.poll() is None:
            worker.kill()
            worker.wait()
        log.close()

    output = (tmp_path / "worker.log").read_text()
    assert "finishing the message in hand" in output, output[-2000:]
    with engine.connect() as conn:
        items = conn.execute(sa.text("SELECT shop_id, sku_code, low_stock_threshold FROM stock_items")).all()
        inbox = conn.execute(sa.text("SELECT consumer, event_id FROM inbox")).all()
    engine.dispose()
    assert [tuple(r) for r in items] == [("S1", "TH-500", 4)]
    assert [tuple(r) for r in inbox] == [("inventory.events", event.event_id)]
    # Acked, not requeued: an unacked message would be back in the queue once the worker's
    # connection closed. Nor retried or dead-lettered.
    assert _queue_depth(topology, "inventory.events") == 0
    assert _queue_depth(topology, "inventory.events.retry.1") == 0
    assert _queue_depth(topology, "inventory.events.dlq") == 0
