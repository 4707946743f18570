"""The embedded default (SQLite per service + kombu's sqla+sqlite bus) across real processes, as
`make run` starts it: an event recorded by one service's process reaches another's worker process,
and a failing handler goes through the retry tiers (held by the retry forwarder) to the DLQ."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from ecom_common import dlq
from ecom_common.config import Config
from ecom_common.consumer import Subscription
from ecom_common.db import Database
from ecom_common.events import make_event
from ecom_common.service import load
from ecom_common.worker import Worker
from ecom_testkit import TEST_SECRET, eventually

pytestmark = pytest.mark.integration

ECOM = str(Path(sys.executable).parent / "ecom")


def embedded_env(var: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_DATABASE_URL") and k != "BROKER_URL"}
    env.update(
        ECOM_VAR_DIR=str(var), ECOM_JWT_SECRET=TEST_SECRET, ECOM_RELAY_POLL_INTERVAL="0.1", ECOM_RETRY_DELAYS="0.2,0.4"
    )
    return env


def stock_rows(db: Database, sku: str) -> int:
    from inventory.models import StockItem

    with db.Session() as s:
        return s.execute(sa.select(sa.func.count()).where(StockItem.sku_code == sku)).scalar_one()


def test_event_crosses_processes_on_the_embedded_bus(tmp_path):
    env = embedded_env(tmp_path)
    subprocess.run([ECOM, "migrate", "catalog", "inventory"], env=env, check=True, capture_output=True, timeout=120)
    procs = [
        subprocess.Popen([ECOM, "worker", name], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for name in ("catalog", "inventory")
    ]
    try:
        catalog = Database(Config.from_env("catalog", env=env))
        inventory = Database(Config.from_env("inventory", env=env))
        with catalog.uow() as uow:
            uow.record(
                make_event(
                    "catalog.ProductListed",
                    {"product_id": "P1", "shop_id": "S1", "skus": [{"sku_code": "EMB-1", "list_price_fen": 100}]},
                )
            )
            uow.commit()
        # published by the catalog worker's relay, consumed by the inventory worker process
        eventually(lambda: stock_rows(inventory, "EMB-1") == 1, timeout=30, message="stock item via embedded bus")
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        codes = [proc.wait(timeout=30) for proc in procs]
    assert codes == [0, 0]  # graceful shutdown on SIGTERM


def test_retries_and_dead_letters_on_the_embedded_bus(tmp_path):
    env = embedded_env(tmp_path)
    config = Config.from_env("inventory", env=env)
    load("inventory").migrate(config)
    db = Database(config)
    tries = []

    def always_fails(uow, event):
        tries.append(event.event_id)
        raise ValueError("bad master data")

    worker = Worker(db, [Subscription("inventory.events", {"catalog.ProductListed": always_fails})]).start()
    try:
        with db.uow() as uow:
            uow.record(
                make_event(
                    "catalog.ProductListed",
                    {"product_id": "P1", "shop_id": "S1", "skus": [{"sku_code": "EMB-2", "list_price_fen": 100}]},
                )
            )
            uow.commit()
        dead = eventually(lambda: dlq.list_dead_letters(config, "inventory.events"), timeout=30)
        assert len(tries) == 3 and "bad master data" in dead[0]["error"]
    finally:
        worker.stop()
