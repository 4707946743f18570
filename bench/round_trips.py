"""Database round trips per order, by service: a count, not a timing, so it does not move with the
machine's load (the other figures here swing by 30-50% with other engineers' tests).

The six services run in this one process (`ecom_testkit.Platform`: each its own PostgreSQL
schema, werkzeug server and worker threads, one bus namespace on RabbitMQ), driven by the saga
benchmark's own client, observer and reactors (`saga.Bench`): an order is placed and paid, logistics
creates its shipment, the warehouse dispatches it, the carrier's webhook reports it delivered, the
buyer confirms receipt, and billing schedules the settlement. Orders go one at a time (the next is
placed when the previous one's `billing.SettlementScheduled` is seen), so no batching from
concurrency flatters the count; the relays are woken by commits only (their fallback poll is set to
an hour) and jobs are hourly, so nothing but the orders' own work is counted.

Counted per service engine with SQLAlchemy events: transactions begun (`begin`: psycopg sends BEGIN
as a round trip of its own), statements (`before_cursor_execute`: every SELECT/INSERT/UPDATE,
SAVEPOINT, NOTIFY), commits and rollbacks. Round trips = the four together. The JSON also lists
every statement (its first 120 characters) with its count per order, by service. Not counted: the
relay's LISTEN connection (one idle socket), the idle-connection pings of the pool, the broker.
"""

from __future__ import annotations

import collections
import threading
import time
from types import SimpleNamespace
from urllib.parse import urlparse

from sqlalchemy import event

from ecom_testkit import Platform

from . import saga
from .common import Text, quiet_service_logs

NAME = "round_trips"
KINDS = ("begin", "statements", "commit", "rollback")


class QuietPlatform(Platform):
    """The test platform with its relays woken by commits only and no scheduled jobs."""

    def config(self, name, db_url, peers):
        return super().config(name, db_url, peers).with_(relay_poll_interval=3600.0, job_interval=3600)


class Ports:
    """What `saga.Http` needs of a stack: the port of each service."""

    def __init__(self, platform: Platform):
        self.platform = platform

    def port(self, service: str) -> int:
        return urlparse(self.platform[service].url).port


class Counter:
    """Round trips per (service, kind), from the engines' events."""

    def __init__(self, platform: Platform):
        self.counts: collections.Counter = collections.Counter()
        self.texts: collections.Counter = collections.Counter()  # (service, statement's first 120 chars)
        self.lock = threading.Lock()
        for name in saga.SERVICES:
            engine = platform[name].db.engine
            event.listen(engine, "begin", self._hook(name, "begin"))
            event.listen(engine, "before_cursor_execute", self._statement(name))
            event.listen(engine, "commit", self._hook(name, "commit"))
            event.listen(engine, "rollback", self._hook(name, "rollback"))

    def _hook(self, service: str, kind: str):
        def count(*_args, **_kwargs):
            with self.lock:
                self.counts[(service, kind)] += 1

        return count

    def _statement(self, service: str):
        def count(_conn, _cursor, statement, *_args, **_kwargs):
            text = " ".join(statement.split())[:120]
            with self.lock:
                self.counts[(service, "statements")] += 1
                self.texts[(service, text)] += 1

        return count

    def take(self) -> tuple[collections.Counter, collections.Counter]:
        with self.lock:
            counts, self.counts = self.counts, collections.Counter()
            texts, self.texts = self.texts, collections.Counter()
        return counts, texts


def orders_per_run(args) -> int:
    return args.orders or (10 if args.quick else 30)


def steps(args) -> int:
    return args.runs * orders_per_run(args)


def one_order(bench: saga.Bench, i: int, timeout: float = 60) -> str | None:
    placed: dict = {}
    bench.place_and_pay(i, time.monotonic(), placed)
    if not placed:
        return None
    (order_id,) = placed
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if bench.observer.first(order_id, "billing.SettlementScheduled"):
            return order_id
        if any(bench.observer.first(order_id, rk) for rk in saga.FAILED):
            bench.error(f"order {order_id} failed")
            return None
        time.sleep(0.01)
    bench.error(f"order {order_id} not settled-scheduled within {timeout}s")
    return None


def run(args, bar) -> dict:
    n = orders_per_run(args)
    runs, notes = [], []
    quiet_service_logs()
    with QuietPlatform(list(saga.SERVICES), settings={k: str(v) for k, v in saga.SETTINGS.items()}) as p:
        configs = {name: p[name].config for name in saga.SERVICES}
        bench = saga.Bench(SimpleNamespace(configs=configs), Ports(p), clients=1, reactors=2)
        bench.start()
        try:
            bench.seed(units=args.runs * n + 10)
            one_order(bench, 0)  # warm-up: first requests, statement caches, prepared statements
            time.sleep(1.0)
            counter = Counter(p)
            statements = {}
            for k in range(args.runs):
                counter.take()
                done = 0
                for i in range(n):
                    done += one_order(bench, 1 + k * n + i) is not None
                    bar.update(1)
                time.sleep(1.0)  # the last order's tail (relays publishing SettlementScheduled's siblings)
                counts, texts = counter.take()
                figures = {"orders": n, "completed": done, "errors": len(bench.errors)}
                for name in saga.SERVICES:
                    for kind in KINDS:
                        figures[f"{name}_{kind}"] = counts[(name, kind)] / n
                    figures[f"{name}_round_trips"] = sum(counts[(name, kind)] for kind in KINDS) / n
                for kind in KINDS + ("round_trips",):
                    figures[f"total_{kind}"] = sum(figures[f"{name}_{kind}"] for name in saga.SERVICES)
                runs.append(figures)
                # Which statements, per order (the last run's): where a change would cut round trips.
                statements = {
                    name: {text: round(c / n, 2) for (svc, text), c in texts.most_common() if svc == name}
                    for name in saga.SERVICES
                }
                if bench.errors:
                    notes.append(f"run {k + 1}: {bench.errors[:3]}")
                    bench.errors.clear()
        finally:
            bench.close()
    rows = [("orders per run (one at a time, to SettlementScheduled)", "orders"), ("orders completed", "completed")]
    for name in saga.SERVICES:
        rows.append((f"{name}: round trips / order", f"{name}_round_trips"))
        rows.append((f"{name}: statements / order", f"{name}_statements"))
    rows += [
        ("all: transactions (BEGIN) / order", "total_begin"),
        ("all: statements / order", "total_statements"),
        ("all: commits / order", "total_commit"),
        ("all: rollbacks / order", "total_rollback"),
        ("all: round trips / order", "total_round_trips"),
    ]
    if not runs:
        rows.append(("status", Text("no run finished")))
    return {
        "runs": runs,
        "rows": rows,
        "notes": notes,
        "statements": statements,
        "settings": {
            "orders_per_run": n,
            "relay_poll_interval_s": 3600,
            "services": "in one process",
            **{k: str(v) for k, v in saga.SETTINGS.items()},
        },
    }
