"""inventory's worker killed (SIGKILL) while it reserves a paid order: redelivered to a new worker,
the order is reserved exactly once and the saga goes on.

The inventory worker is the real `ecom worker inventory` process; catalog, orders, billing and
logistics run in this process with their own workers. To kill the worker *mid-reservation*, the
test locks the SKU's stock_items row (SELECT ... FOR UPDATE in a transaction it keeps open) before
the buyer pays: orders.OrderPaid reaches the worker, which writes its inbox row and the order's
reservation row and then waits on the stock row; the test sees it waiting (pg_blocking_pids), sends
SIGKILL, starts a second worker and only then releases the row. RabbitMQ redelivers the unacked
OrderPaid to the new worker, which waits for the dead worker's transaction to be rolled back and
reserves the order.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from ecom_common.db import inbox
from ecom_common.outbox import outbox
from ecom_common.service import load
from ecom_testkit import Platform, eventually, scenarios

pytestmark = [pytest.mark.integration, pytest.mark.reliability, pytest.mark.timeout(150)]

ECOM = str(Path(sys.executable).parent / "ecom")
IN_PROCESS = ["catalog", "orders", "billing", "logistics", "marketing"]


def start_inventory_worker(env) -> subprocess.Popen:
    return subprocess.Popen(
        [ECOM, "worker", "inventory"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )


def blocked_by(engine, pid: int) -> int:
    with engine.connect() as conn:
        return conn.execute(
            sa.text("SELECT count(*) FROM pg_stat_activity WHERE :pid = ANY(pg_blocking_pids(pid))"), {"pid": pid}
        ).scalar_one()


def emitted(db, routing_key: str, order_id: str) -> list[dict]:
    with db.engine.connect() as conn:
        bodies = conn.execute(sa.select(outbox.c.body).where(outbox.c.routing_key == routing_key)).scalars()
        return [e for e in map(json.loads, bodies) if e["payload"].get("order_id") == order_id]


def test_inventory_worker_killed_mid_reservation_reserves_the_order_once(tmp_path, reliability_report):
    from inventory.models import Reservation, StockItem, StockMovement

    with Platform([*IN_PROCESS, "inventory"], workers=False, settings=scenarios.SAGA_SETTINGS) as p:
        workers = [load(name).create_worker(p[name].config, p[name].db).start() for name in IN_PROCESS]
        inv = p["inventory"]
        env = scenarios.worker_env(p, "inventory", tmp_path)
        first = start_inventory_worker(env)
        second = None
        locker = inv.db.engine.connect()
        try:
            saga = scenarios.Saga(p)
            eventually(lambda: scenarios.queue_state(inv.config)[1] == 1, timeout=30, message="first worker consuming")
            saga.product("KILL-1", price_fen=9900, stock=10)  # the listing and the receipt, through that worker

            # The test takes the SKU's stock row in a transaction it keeps open.
            pid = locker.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
            locker.execute(sa.select(StockItem.id).where(StockItem.sku_code == "KILL-1").with_for_update()).all()
            oid = saga.placed_and_paid("KILL-1", quantity=2)
            eventually(
                lambda: blocked_by(inv.db.engine, pid) == 1,
                timeout=30,
                message="the worker's reservation waiting on the test's row",
            )
            # Mid-transaction: nothing of it is visible yet, and the order is paid, not further.
            assert scenarios.count(inv.db, inbox, inbox.c.event_type == "orders.OrderPaid") == 0
            assert saga.order(oid)["status"] == "paid"

            first.send_signal(signal.SIGKILL)
            killed_at = time.monotonic()
            assert first.wait(10) == -signal.SIGKILL
            second = start_inventory_worker(env)
            eventually(lambda: scenarios.queue_state(inv.config)[1] == 1, timeout=30, message="second worker consuming")
            locker.rollback()  # the dead worker's transaction may go on now, and finds its client gone

            saga.wait_status(oid, "awaiting_shipment", timeout=60)
            seconds_to_end_state = time.monotonic() - killed_at
            # A second order through the new worker: a second handling of the first, if any, would show by now.
            marker = saga.placed_and_paid("KILL-1", quantity=1)
            saga.wait_status(marker, "awaiting_shipment", timeout=60)

            paid_events = emitted(p["orders"].db, "orders.OrderPaid", oid)
            assert len(paid_events) == 1
            assert scenarios.count(inv.db, inbox, inbox.c.event_id == paid_events[0]["event_id"]) == 1
            with inv.db.Session() as s:
                reservations = (
                    s.execute(sa.select(Reservation.status).where(Reservation.order_id == oid)).scalars().all()
                )
                reserves = (
                    s.execute(sa.select(StockMovement.reserved_delta).where(StockMovement.cause == f"order:{oid}"))
                    .scalars()
                    .all()
                )
            assert reservations == ["reserved"]
            assert reserves == [2]
            stock = saga.stock("KILL-1")
            assert (stock["on_hand"], stock["reserved"]) == (10, 3)
            assert len(emitted(inv.db, "inventory.StockReserved", oid)) == 1
            assert [e["status"] for e in saga.order(oid)["timeline"]] == [
                "pending_payment",
                "paid",
                "awaiting_shipment",
            ]
            shipments = (
                p["logistics"]
                .get("/api/v1/shipments", role="warehouse", shop_id="S1", params={"order_id": oid})
                .json()["items"]
            )
            assert len(shipments) == 1
            assert blocked_by(inv.db.engine, pid) == 0

            second.send_signal(signal.SIGTERM)
            assert second.wait(30) == 0, second.stderr.read()[-2000:]
            reliability_report(
                {
                    "scenario": "inventory worker killed (SIGKILL) mid-reservation (saga)",
                    "proves": (
                        "OrderPaid redelivered to a new worker, the order reserved exactly once, the saga goes on"
                    ),
                    "seconds_from_kill_to_awaiting_shipment": round(seconds_to_end_state, 2),
                    "inbox_rows": 1,
                    "reservations": len(reservations),
                    "reserve_movements": len(reserves),
                    "stock_reserved_events": 1,
                    "shipments": len(shipments),
                    "second_worker_exit_code_on_sigterm": 0,
                },
                scenario="saga_consumer_sigkill",
            )
        finally:
            locker.close()
            for proc in (first, second):
                if proc and proc.poll() is None:
                    proc.kill()
                    proc.wait(10)
            for worker in workers:
                worker.request_stop()
            for worker in workers:
                worker.stop(timeout=10)
