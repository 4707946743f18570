"""The foundation's promises over the real RabbitMQ and PostgreSQL (issue 2, "Must show").

Each test runs real services (HTTP + worker) on its own PostgreSQL schemas and bus namespace.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa
from kombu import Connection, Producer

from ecom_common import dlq
from ecom_common.consumer import Subscription
from ecom_common.db import inbox
from ecom_common.events import make_event
from ecom_common.outbox import outbox
from ecom_common.worker import Worker
from ecom_testkit import TEST_SECRET, Platform, close_broker_connections, eventually

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


def listed(product_id: str, *skus: str, shop_id: str = "S1"):
    return make_event(
        "catalog.ProductListed",
        {
            "product_id": product_id,
            "shop_id": shop_id,
            "skus": [{"sku_code": s, "list_price_fen": 1000, "low_stock_threshold": 3} for s in skus],
        },
    )


def record(service, event, commit=True):
    with service.db.uow() as uow:
        uow.record(event)
        if commit:
            uow.commit()


def stock_status(platform, sku, shop_id="S1"):
    return platform["inventory"].get(f"/api/v1/stock/{sku}", role="warehouse", shop_id=shop_id).status_code


def count(db, table, *where):
    with db.engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(table).where(*where)).scalar_one()


def movements(db, sku):
    from inventory.models import StockMovement

    with db.Session() as s:
        return s.execute(sa.select(sa.func.count()).where(StockMovement.sku_code == sku)).scalar_one()


def test_committed_event_is_delivered_to_another_service_and_rolled_back_one_never_is():
    with Platform(["catalog", "inventory"]) as p:
        record(p["catalog"], listed("P-rolled-back", "GHOST"), commit=False)
        record(p["catalog"], listed("P1", "RED-M"))
        eventually(lambda: stock_status(p, "RED-M") == 200, message="stock item from the committed event")
        # the committed event came after the rolled-back one: had the latter been published, it
        # would have been handled first
        assert stock_status(p, "GHOST") == 404
        assert count(p["catalog"].db, outbox) == 1
        assert eventually(lambda: count(p["catalog"].db, outbox, outbox.c.published_at.isnot(None)) == 1)


def test_the_same_message_twice_changes_state_once():
    with Platform(["catalog", "inventory"]) as p:
        event = listed("P1", "TWICE")
        record(p["catalog"], event)
        eventually(lambda: stock_status(p, "TWICE") == 200)
        # 1) the relay publishes the same row again (as after a lost confirm)
        with p["catalog"].db.engine.begin() as conn:
            conn.execute(outbox.update().values(published_at=None))
        p["catalog"].db.outbox_signal.set()
        # 2) and the broker redelivers a copy
        with Connection(p.broker_url) as conn:
            Producer(conn.channel()).publish(
                event.to_json(),
                exchange=f"{p.prefix}.ecom.events",
                routing_key=event.routing_key,
                content_type="application/json",
                delivery_mode=2,
            )
        inv = p["inventory"].db
        eventually(lambda: count(p["catalog"].db, outbox, outbox.c.published_at.is_(None)) == 0)
        # both copies are consumed (acknowledged) but the stock item was created once
        marker = listed("P2", "AFTER")
        record(p["catalog"], marker)
        eventually(lambda: stock_status(p, "AFTER") == 200)
        assert movements(inv, "TWICE") == 1
        assert count(inv, inbox, inbox.c.event_id == event.event_id) == 1


def test_failing_handler_is_retried_then_dead_lettered_and_replay_redrives_it(tmp_path):
    broken = threading.Event()
    broken.set()
    attempts = []
    from inventory.handlers import on_product_listed

    def flaky(uow, event):
        attempts.append(event.event_id)
        if broken.is_set():
            raise RuntimeError("warehouse master data unavailable")
        on_product_listed(uow, event)

    with Platform(["catalog", "inventory"], workers=False, retry_delays=(0.2, 0.4)) as p:
        inv = p["inventory"]
        worker = Worker(inv.db, [Subscription("inventory.events", {"catalog.ProductListed": flaky})]).start()
        relay = Worker(p["catalog"].db, []).start()
        try:
            event = listed("P1", "POISON")
            record(p["catalog"], event)
            dead = eventually(
                lambda: dlq.list_dead_letters(inv.config, "inventory.events"),
                timeout=20,
                message="message in inventory.events.dlq",
            )
            assert len(attempts) == 3  # the first try and two retries
            assert dead[0]["event_id"] == event.event_id
            assert "warehouse master data unavailable" in dead[0]["error"]
            assert dead[0]["attempts"] == 3
            # listing does not consume
            assert len(dlq.list_dead_letters(inv.config, "inventory.events")) == 1
            assert stock_status(p, "POISON") == 404

            broken.clear()  # the cause is fixed
            env = {
                **os.environ,
                "BROKER_URL": p.broker_url,
                "ECOM_BUS_PREFIX": inv.config.bus_prefix,
                "ECOM_JWT_SECRET": TEST_SECRET,
                "ECOM_VAR_DIR": str(tmp_path),
            }
            out = subprocess.run(
                [str(Path(sys.executable).parent / "ecom"), "dlq", "replay", "inventory.events"],
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert out.returncode == 0, out.stderr
            assert "replayed 1 message" in out.stdout
            eventually(lambda: stock_status(p, "POISON") == 200, message="replayed message handled")
            assert dlq.list_dead_letters(inv.config, "inventory.events") == []
            assert movements(inv.db, "POISON") == 1
        finally:
            worker.stop()
            relay.stop()


def test_relay_and_consumer_survive_a_broker_connection_cut():
    with Platform(["catalog", "inventory"]) as p:
        record(p["catalog"], listed("P0", "BEFORE"))
        eventually(lambda: stock_status(p, "BEFORE") == 200)
        closed = close_broker_connections(p["catalog"].config.bus_prefix)
        assert closed >= 2  # at least the catalog relay and the inventory consumer
        # events recorded while (and right after) the connections are down are all delivered
        skus = [f"CUT-{i}" for i in range(20)]
        for i, sku in enumerate(skus):
            record(p["catalog"], listed(f"P{i + 1}", sku))
        for sku in skus:
            eventually(lambda: stock_status(p, sku) == 200, timeout=60, message=f"{sku} delivered after the cut")
        inv = p["inventory"].db
        assert sum(movements(inv, sku) for sku in skus) == len(skus)
