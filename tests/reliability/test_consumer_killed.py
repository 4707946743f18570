"""A consumer killed (SIGKILL) while it handles a message: the message is redelivered to a new
worker and handled exactly once (one stock item, one ledger row, one inbox row).

The worker is the real `ecom worker inventory` process. To kill it *mid-transaction* (inbox row
inserted, handler's changes not committed), the test first inserts, in its own open PostgreSQL
transaction, the stock_items row that the catalog.ProductListed handler is about to insert: the
handler's INSERT then waits on the unique index for the test's transaction, and the test sees it
waiting (pg_blocking_pids) before it sends SIGKILL. Then a second worker is started, and only then
the test rolls back, so that the new worker also meets the dead worker's still-open transaction.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from ecom_common.db import inbox
from ecom_common.worker import Worker
from ecom_testkit import Platform, eventually, scenarios

pytestmark = [pytest.mark.integration, pytest.mark.reliability, pytest.mark.timeout(120)]

ECOM = str(Path(sys.executable).parent / "ecom")


def start_worker(env) -> subprocess.Popen:
    return subprocess.Popen(
        [ECOM, "worker", "inventory"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )


def blocked_by(engine, pid: int) -> int:
    with engine.connect() as conn:
        return conn.execute(
            sa.text("SELECT count(*) FROM pg_stat_activity WHERE :pid = ANY(pg_blocking_pids(pid))"), {"pid": pid}
        ).scalar_one()


def test_consumer_killed_mid_transaction_is_redelivered_and_handled_once(tmp_path, reliability_report):
    from inventory.models import StockItem

    with Platform(["catalog", "inventory"], workers=False) as p:
        relay = Worker(p["catalog"].db, []).start()  # catalog's outbox relay only
        inv = p["inventory"]
        env = scenarios.worker_env(p, "inventory", tmp_path)
        first = start_worker(env)
        second = None
        locker = inv.db.engine.connect()
        try:
            eventually(lambda: scenarios.queue_state(inv.config)[1] == 1, timeout=30, message="first worker consuming")
            scenarios.record(p["catalog"], scenarios.listed("P0", "WARM"))
            eventually(lambda: scenarios.stock_items(inv.db, "WARM") == 1, timeout=30, message="first worker handling")

            # The test takes the row the handler will insert, in a transaction it keeps open.
            pid = locker.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
            now = datetime.now(UTC)
            locker.execute(
                sa.insert(StockItem.__table__).values(
                    sku_code="KILLED",
                    warehouse_code="WH1",
                    shop_id="S1",
                    on_hand=0,
                    reserved=0,
                    low_stock_threshold=3,
                    sellable=True,
                    created_at=now,
                    updated_at=now,
                )
            )
            event = scenarios.listed("P1", "KILLED")
            scenarios.record(p["catalog"], event)
            eventually(
                lambda: blocked_by(inv.db.engine, pid) == 1,
                timeout=30,
                message="the worker's transaction waiting on the test's row",
            )
            # Mid-transaction: its inbox row is written (uncommitted), the handler waits.
            assert scenarios.count(inv.db, inbox, inbox.c.event_id == event.event_id) == 0

            first.send_signal(signal.SIGKILL)
            killed_at = time.monotonic()
            assert first.wait(10) == -signal.SIGKILL
            second = start_worker(env)
            eventually(lambda: scenarios.queue_state(inv.config)[1] == 1, timeout=30, message="second worker consuming")
            locker.rollback()  # the dead worker's transaction may now go on, and finds its client gone

            eventually(
                lambda: scenarios.stock_items(inv.db, "KILLED") == 1,
                timeout=30,
                message="the redelivered message handled by the second worker",
            )
            handled_after = time.monotonic() - killed_at
            # A little longer: a second handling, if any, would show now.
            scenarios.record(p["catalog"], scenarios.listed("P2", "MARKER"))
            eventually(lambda: scenarios.stock_items(inv.db, "MARKER") == 1, timeout=30)
            assert scenarios.count(inv.db, inbox, inbox.c.event_id == event.event_id) == 1
            assert scenarios.movements(inv.db, "KILLED") == 1
            assert scenarios.stock_items(inv.db, "KILLED") == 1
            assert blocked_by(inv.db.engine, pid) == 0

            second.send_signal(signal.SIGTERM)
            assert second.wait(30) == 0, second.stderr.read()[-2000:]
            reliability_report(
                {
                    "scenario": "consumer killed (SIGKILL) mid-transaction",
                    "proves": "redelivered to a new worker, handled exactly once",
                    "seconds_from_kill_to_handled": round(handled_after, 2),
                    "inbox_rows": 1,
                    "ledger_rows": 1,
                    "stock_items": 1,
                    "second_worker_exit_code_on_sigterm": 0,
                },
                scenario="consumer_sigkill",
            )
        finally:
            locker.close()
            for proc in (first, second):
                if proc and proc.poll() is None:
                    proc.kill()
                    proc.wait(10)
            relay.stop()
