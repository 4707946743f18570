"""Client CPU per message of inventory's OrderPaid handler, in consumer batches, with no broker: the
Python cost of a flash-sale attempt (the part of the hot SKU figure that the services' code decides).

inventory's schema on PostgreSQL (`scratch`), 100 units of one SKU; N `orders.OrderPaid` events (a
distinct order each, one line of quantity 1, as `hot_sku` sends them) handed to the real
`EventConsumer.handle_batch` in batches of `ECOM_CONSUMER_BATCH` (32), in this process, after one
batch of warm-up. Per run: CPU ms per message (`time.process_time` of this process: SQLAlchemy,
psycopg, the handler, the JSON log lines; PostgreSQL's own CPU is not in it), wall ms per message,
and statements per message (SQLAlchemy `before_cursor_execute`, an executemany counting once). The
first 100 messages reserve, the others are shortages, as in a flash sale.

CPU time of one process moves far less with the machine's load than rates do, so this is the figure
to compare between commits for the handler's cost (docs/perf-log.md, "Statements built once").
`--profile` writes a cProfile of the first run, by own time, to bench/results/reserve_cpu.profile.txt.
"""

from __future__ import annotations

import collections
import cProfile
import io
import logging
import pstats
import time
import uuid

from sqlalchemy import event

from .common import RESULTS, quiet_service_logs, scratch
from .hot_sku import order_paid, seed

NAME = "reserve_cpu"


def messages(args) -> int:
    return 640 if args.quick else 3200


def steps(args) -> int:
    return args.runs


def run(args, bar) -> dict:
    from ecom_common.consumer import EventConsumer
    from inventory.handlers import SUBSCRIPTIONS

    n = messages(args)
    quiet_service_logs()
    logging.getLogger().setLevel(logging.INFO)  # the services' level: the log lines are part of the cost
    runs, notes = [], []
    with scratch(["inventory"]) as sc:
        db = sc.dbs["inventory"]
        batch = db.config.consumer_batch
        subscription = next(s for s in SUBSCRIPTIONS if "orders.OrderPaid" in s.handlers)
        consumer = EventConsumer(db, subscription)
        sent: collections.Counter = collections.Counter()
        event.listen(
            db.engine,
            "before_cursor_execute",
            lambda conn, cursor, statement, *rest: sent.update([statement.split("(")[0][:60]]),
        )
        for k in range(args.runs):
            sku = f"RC-{k}"
            seed(db, sku)
            events = [order_paid(f"O{uuid.uuid4().hex[:12]}", sku) for _ in range(n + batch)]
            consumer.handle_batch(events[:batch])  # warm-up: connection, prepared statements, caches
            sent.clear()
            profiler = cProfile.Profile() if args.profile and k == 0 else None
            if profiler:
                profiler.enable()
            cpu, wall = time.process_time(), time.perf_counter()
            for i in range(batch, n + batch, batch):
                consumer.handle_batch(events[i : i + batch])
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            if profiler:
                profiler.disable()
                out = io.StringIO()
                pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(40)
                (RESULTS / "reserve_cpu.profile.txt").write_text(out.getvalue())
                notes.append(
                    "run 1 profiled with cProfile (its figures include the profiler's overhead): "
                    "bench/results/reserve_cpu.profile.txt"
                )
            runs.append(
                {
                    "messages": n,
                    "batch": batch,
                    "cpu_ms_per_message": 1000 * cpu / n,
                    "wall_ms_per_message": 1000 * wall / n,
                    "statements_per_message": sum(sent.values()) / n,
                }
            )
            bar.update(1)
    statements = {text: round(count / n, 2) for text, count in sent.most_common()}
    rows = [
        ("messages per run", "messages"),
        ("batch (ECOM_CONSUMER_BATCH)", "batch"),
        ("handler CPU ms / message (this process)", "cpu_ms_per_message"),
        ("wall ms / message", "wall_ms_per_message"),
        ("statements / message", "statements_per_message"),
    ]
    return {
        "runs": runs,
        "rows": rows,
        "statements": statements,
        "notes": notes,
        "settings": {"messages": n, "consumer_batch": batch, "database": "PostgreSQL", "broker": "none"},
    }
