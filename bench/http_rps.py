"""Per-service HTTP: requests/s of a real endpoint against an empty JSON endpoint of the same app on
the same gunicorn settings.

gunicorn is started exactly as deploy/Procfile does (`-c deploy/gunicorn.conf.py`: gthread,
WEB_CONCURRENCY workers x GUNICORN_THREADS threads, access log on) on a free loopback port, with the
service's database on PostgreSQL (a schema of its own, migrated and seeded) and RabbitMQ. A bounded
client (bench/load.py: threads over keep-alive connections) sends a fixed number of requests to:

- the empty endpoint: `GET /healthz` of the same app (`{"status": "ok", ...}`: the Flask app, its
  request hooks and metrics, no token, no database) = the baseline of the ratio;
- each real endpoint in ENDPOINTS: inventory's `GET /api/v1/stock` (JWT check, one keyset query of
  20 rows, marshmallow serialisation) and orders' `POST /api/v1/orders` (JWT, Idempotency-Key record,
  schema, `POST catalog /skus/batch` and `POST logistics /shipping/quote` over HTTP, one transaction
  writing the order, its lines, timeline and `OrderPlaced`): for that one catalog and logistics run
  too, and orders' worker (its relay publishes the OrderPlaced events), started as deployed by
  bench/stack.py; products are created through catalog's API. Server CPU per request is that of every
  process of the endpoint's stack.
"""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime

import requests

from ecom_testkit import token

from .common import BIN, REPO, cpu_seconds, free_port, scratch, stop_process
from .load import drive
from .stack import Stack

NAME = "http_rps"
TARGET = 0.3


@dataclass
class Endpoint:
    label: str
    service: str
    make_request: Callable[[int], tuple]
    seed: Callable | None = None  # seed(db) of the service's own database
    peers: tuple[str, ...] = ()  # services it calls: run as processes too (bench/stack.py)
    stack_seed: Callable | None = None  # stack_seed(stack) -> None, through the APIs


def seed_stock(db, rows: int = 200) -> None:
    from inventory.models import StockItem

    now = datetime.now(UTC)
    with db.Session() as s:
        for i in range(rows):
            s.add(
                StockItem(
                    sku_code=f"SKU-{i:04d}",
                    warehouse_code="WH1",
                    shop_id=f"S{i % 5}",
                    on_hand=100 + i,
                    reserved=i % 7,
                    low_stock_threshold=10,
                    sellable=True,
                    created_at=now,
                    updated_at=now,
                )
            )
        s.commit()


def _stock_request():
    headers = {"Authorization": f"Bearer {token(role='ops', sub='bench', shop_id='S0')}"}  # one shop's page
    return lambda i: ("GET", "/api/v1/stock?limit=20", None, headers)


from .saga import PlaceOrders  # noqa: E402

_place = PlaceOrders(prefix="RPS")

ENDPOINTS = [
    Endpoint("inventory GET /api/v1/stock", "inventory", _stock_request(), seed_stock),
    Endpoint("orders POST /api/v1/orders", "orders", _place, peers=("catalog", "logistics"), stack_seed=_place.seed),
]


def start_gunicorn(sc, service: str, env_extra: dict | None = None) -> tuple[subprocess.Popen, int]:
    port = free_port()
    env = sc.env(service, **(env_extra or {}))
    proc = subprocess.Popen(
        [
            str(BIN / "gunicorn"),
            "-c",
            str(REPO / "deploy" / "gunicorn.conf.py"),
            "-b",
            f"127.0.0.1:{port}",
            f"{service}.app:create_app()",
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"gunicorn for {service} exited with {proc.returncode}")
        try:
            if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc, port
        except requests.RequestException:
            pass
        time.sleep(0.2)
    stop_process(proc)
    raise RuntimeError(f"gunicorn for {service} did not answer within 60s")


def steps(args) -> int:
    return args.runs * 2 * len(ENDPOINTS) * args.requests


def run(args, bar) -> dict:
    runs = []
    rows = []
    for ep in ENDPOINTS:
        key = ep.label.split()[0] + " " + ep.label.split()[1]
        with scratch([*ep.peers, ep.service]) as sc, ExitStack() as running:
            if ep.seed:
                ep.seed(sc.dbs[ep.service])
            if ep.peers:
                from .saga import settings_for

                # the service's worker too (its relay publishes what the endpoint records); the
                # peers' workers would have nothing to do
                stack = running.enter_context(
                    Stack(sc, [*ep.peers, ep.service], settings=settings_for(args), workers=[ep.service])
                )
                ep.stack_seed(stack)
                proc, port = stack.webs[ep.service], stack.port(ep.service)
                pids = stack.pids()
            else:
                proc, port = start_gunicorn(sc, ep.service)
                pids = [proc.pid]
            try:
                warm = lambda i: ("GET", "/healthz", None, {})  # noqa: E731
                drive("127.0.0.1", port, warm, 100, args.concurrency)
                drive("127.0.0.1", port, ep.make_request, 100, args.concurrency)
                for _ in range(args.runs):
                    cpu0 = cpu_seconds(pids)
                    empty = drive("127.0.0.1", port, warm, args.requests, args.concurrency, on_progress=bar.update)
                    cpu1 = cpu_seconds(pids)
                    by1 = stack.cpu_by_process() if ep.peers else {}
                    spy = contextlib.nullcontext()
                    if args.profile and ep.peers and not any(r["endpoint"] == ep.label for r in runs):
                        from .common import RESULTS
                        from .spy import Spy

                        spy = Spy(stack.named_pids(), RESULTS / f"http_rps.{ep.service}.pyspy")
                    with spy:
                        real = drive(
                            "127.0.0.1", port, ep.make_request, args.requests, args.concurrency, on_progress=bar.update
                        )
                    cpu2 = cpu_seconds(pids)
                    by2 = stack.cpu_by_process() if ep.peers else {}
                    figures = {**empty.figures("empty"), **real.figures("real")}
                    figures["ratio"] = real.rps / empty.rps
                    figures["empty_server_cpu_ms_per_req"] = (cpu1 - cpu0) * 1000 / args.requests
                    figures["real_server_cpu_ms_per_req"] = (cpu2 - cpu1) * 1000 / args.requests
                    if figures["real_non_2xx"] or figures["empty_non_2xx"]:
                        raise RuntimeError(f"{ep.label}: non-2xx answers: {real.statuses} {real.errors[:3]}")
                    runs.append(
                        {
                            "endpoint": ep.label,
                            **{f"{key}:{k}": v for k, v in figures.items()},
                            f"{key}:real_cpu_ms_per_req_by_process": {
                                k: round((by2[k] - by1[k]) * 1000 / args.requests, 2) for k in by2
                            },
                        }
                    )
            finally:
                if not ep.peers:
                    stop_process(proc)
        rows += [
            (f"{ep.label} rps", f"{key}:real_rps"),
            ("  GET /healthz (empty) of the same app rps", f"{key}:empty_rps"),
            (f"  ratio real/empty (target >= {TARGET})", f"{key}:ratio"),
            ("  real p50 ms", f"{key}:real_p50_ms"),
            ("  real p99 ms", f"{key}:real_p99_ms"),
            ("  empty p99 ms", f"{key}:empty_p99_ms"),
            ("  server CPU ms/request real", f"{key}:real_server_cpu_ms_per_req"),
            ("  server CPU ms/request empty", f"{key}:empty_server_cpu_ms_per_req"),
        ]
    import os

    return {
        "settings": {
            "requests": args.requests,
            "client_threads": args.concurrency,
            "runs": args.runs,
            "gunicorn": "deploy/gunicorn.conf.py",
            "WEB_CONCURRENCY": os.environ.get("WEB_CONCURRENCY", "2"),
            "GUNICORN_THREADS": os.environ.get("GUNICORN_THREADS", "4"),
            "endpoints": [e.label for e in ENDPOINTS],
            "client": "bench/load.py (same machine)",
        },
        "runs": runs,
        "targets": {"ratio": f">= {TARGET} (for POST /api/v1/orders)"},
        "rows": rows,
    }
