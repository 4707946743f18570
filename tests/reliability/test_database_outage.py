"""The database lost under load: every request gets 503 problem+json while it is away (never a 500,
never a hang), nothing is half-written, and service is normal once it is back.

The outage is simulated without touching the shared PostgreSQL server: the services reach it
through a small TCP proxy on loopback (`ecom_testkit.TcpProxy`) that the test closes (every open connection cut, new
ones
refused, as when the server restarts) and reopens on the same port.

Traffic during the outage: a client reading inventory's stock list without pause, and 100
catalog.ProductListed events recorded in catalog's outbox just before the cut, so that catalog's
relay and inventory's consumer are mid-flow when the database goes.
"""

from __future__ import annotations

import threading
import time

import pytest
import requests
import sqlalchemy as sa

from ecom_common.db import inbox
from ecom_common.outbox import outbox
from ecom_testkit import Platform, TcpProxy, database_url, eventually, scenarios

pytestmark = [pytest.mark.integration, pytest.mark.reliability, pytest.mark.timeout(150)]

OUTAGE_SECONDS = 3.0


class Reader(threading.Thread):
    """Reads inventory's stock list without pause; notes (time, status, content type)."""

    def __init__(self, service):
        super().__init__(daemon=True)
        self.service = service
        self.stop = threading.Event()
        self.answers: list[tuple[float, int, str]] = []

    def run(self):
        session = requests.Session()
        headers = self.service.headers("warehouse", shop_id="S1")
        while not self.stop.is_set():
            try:
                r = session.get(self.service.url + "/api/v1/stock?limit=5", headers=headers, timeout=10)
                self.answers.append((time.monotonic(), r.status_code, r.headers.get("Content-Type", "")))
            except requests.RequestException as exc:
                self.answers.append((time.monotonic(), 0, type(exc).__name__))
            self.stop.wait(0.02)


def test_requests_get_503_while_the_database_is_away_and_nothing_is_half_written(reliability_report):
    real = sa.engine.make_url(database_url())
    proxy = TcpProxy(real.host or "127.0.0.1", real.port or 5432).start()
    proxied = real.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    reader = None
    try:
        with Platform(["catalog", "inventory"], base_db_url=proxied) as p:
            cat, inv = p["catalog"], p["inventory"]
            scenarios.record(cat, scenarios.listed("P0", "WARM"))
            eventually(lambda: scenarios.stock_items(inv.db, "WARM") == 1, timeout=30)
            reader = Reader(inv)
            reader.start()
            eventually(lambda: any(s == 200 for _, s, _ in reader.answers), timeout=10)

            skus = [f"OUT-{i}" for i in range(100)]
            scenarios.record(cat, *[scenarios.listed(f"P{i + 1}", sku) for i, sku in enumerate(skus)])
            time.sleep(0.05)  # let the relay and the consumer get going
            handled_before_cut = scenarios.count(inv.db, inbox) - 1
            cut_at = time.monotonic()
            proxy.cut()
            time.sleep(OUTAGE_SECONDS)
            proxy.restore()
            back_at = time.monotonic()

            eventually(
                lambda: [scenarios.stock_items(inv.db, s) for s in skus] == [1] * len(skus),
                timeout=60,
                message="every event recorded before the outage handled after it",
            )
            settled_at = time.monotonic()
            eventually(
                lambda: any(t > back_at and s == 200 for t, s, _ in reader.answers),
                timeout=30,
                message="reads served again",
            )
            reader.stop.set()
            reader.join(10)

            during = [(s, ct) for t, s, ct in reader.answers if cut_at + 0.2 < t < back_at]
            failures = [(s, ct) for t, s, ct in reader.answers if s != 200]
            assert during, "no request was answered during the outage"
            assert all(s == 503 and ct.startswith("application/problem+json") for s, ct in failures), failures
            assert any(s == 503 for s, _ in during)
            # nothing half-written, nothing twice
            assert [scenarios.movements(inv.db, s) for s in skus] == [1] * len(skus)
            assert scenarios.count(inv.db, inbox) == len(skus) + 1
            assert scenarios.count(cat.db, outbox, outbox.c.published_at.is_(None)) == 0
            first_ok = min(t for t, s, _ in reader.answers if t > back_at and s == 200)
            reliability_report(
                {
                    "scenario": "database lost under load (TCP proxy cut)",
                    "proves": "503 problem+json during the outage, nothing half-written, normal service after",
                    "outage_seconds": OUTAGE_SECONDS,
                    "requests_total": len(reader.answers),
                    "requests_during_outage": len(during),
                    "answers_503_problem_json": sum(1 for s, _ in failures if s == 503),
                    "answers_other_than_200_or_503": sum(1 for s, _ in failures if s != 503),
                    "events_recorded_before_cut": len(skus),
                    "events_handled_when_cut": handled_before_cut,
                    "events_handled_once": len(skus),
                    "seconds_to_first_200_after_restore": round(first_ok - back_at, 2),
                    "seconds_to_all_events_handled_after_restore": round(settled_at - back_at, 2),
                },
                scenario="database_outage",
            )
    finally:
        if reader:
            reader.stop.set()
        proxy.close()
