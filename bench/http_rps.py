"""Per-service HTTP: requests/s of a real endpoint against an empty JSON endpoint of the same app on
the same gunicorn settings.

gunicorn is started exactly as deploy/Procfile does (`-c deploy/gunicorn.conf.py`: gthread,
WEB_CONCURRENCY workers x GUNICORN_THREADS threads, access log on) on a free loopback port, with the
service's database on PostgreSQL (a schema of its own, migrated and seeded) and RabbitMQ. A bounded
client (bench/load.py: threads over keep-alive connections) sends a fixed number of requests to:

- the empty endpoint: `GET /healthz` of the same app (`{"status": "ok", ...}`: the Flask app, its
  request hooks and metrics, no token, no database) = the baseline of the ratio;
- each real endpoint in ENDPOINTS (now inventory's `GET /api/v1/stock`: JWT check, one keyset query
  of 20 rows, marshmallow serialisation).

The saga engineer adds `POST /api/v1/orders` here after the merge (see bench/README.md).
"""
from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable

import requests

from ecom_common.testing import token

from .common import BIN, REPO, cpu_seconds, free_port, scratch, stop_process
from .load import drive

NAME = "http_rps"
TARGET = 0.3


@dataclass
class Endpoint:
    label: str
    service: str
    make_request: Callable[[int], tuple]
    seed: Callable | None = None


def seed_stock(db, rows: int = 200) -> None:
    from inventory.models import StockItem

    now = datetime.now(timezone.utc)
    with db.Session() as s:
        for i in range(rows):
            s.add(StockItem(sku_code=f"SKU-{i:04d}", warehouse_code="WH1", shop_id=f"S{i % 5}", on_hand=100 + i,
                            reserved=i % 7, low_stock_threshold=10, sellable=True, created_at=now, updated_at=now))
        s.commit()


def _stock_request():
    headers = {"Authorization": f"Bearer {token(role='ops', sub='bench')}"}
    return lambda i: ("GET", "/api/v1/stock?limit=20", None, headers)


ENDPOINTS = [
    Endpoint("inventory GET /api/v1/stock", "inventory", _stock_request(), seed_stock),
]


def start_gunicorn(sc, service: str, env_extra: dict | None = None) -> tuple[subprocess.Popen, int]:
    port = free_port()
    env = sc.env(service, **(env_extra or {}))
    proc = subprocess.Popen(
        [str(BIN / "gunicorn"), "-c", str(REPO / "deploy" / "gunicorn.conf.py"), "-b", f"127.0.0.1:{port}",
         f"{service}.app:create_app()"],
        cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
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
        with scratch([ep.service]) as sc:
            if ep.seed:
                ep.seed(sc.dbs[ep.service])
            proc, port = start_gunicorn(sc, ep.service)
            try:
                warm = lambda i: ("GET", "/healthz", None, {})  # noqa: E731
                drive("127.0.0.1", port, warm, 100, args.concurrency)
                drive("127.0.0.1", port, ep.make_request, 100, args.concurrency)
                for _ in range(args.runs):
                    cpu0 = cpu_seconds([proc.pid])
                    empty = drive("127.0.0.1", port, warm, args.requests, args.concurrency, on_progress=bar.update)
                    cpu1 = cpu_seconds([proc.pid])
                    real = drive("127.0.0.1", port, ep.make_request, args.requests, args.concurrency,
                                 on_progress=bar.update)
                    cpu2 = cpu_seconds([proc.pid])
                    figures = {**empty.figures("empty"), **real.figures("real")}
                    figures["ratio"] = real.rps / empty.rps
                    figures["empty_server_cpu_ms_per_req"] = (cpu1 - cpu0) * 1000 / args.requests
                    figures["real_server_cpu_ms_per_req"] = (cpu2 - cpu1) * 1000 / args.requests
                    if figures["real_non_2xx"] or figures["empty_non_2xx"]:
                        raise RuntimeError(f"{ep.label}: non-2xx answers: {real.statuses} {real.errors[:3]}")
                    runs.append({"endpoint": ep.label, **figures})
            finally:
                stop_process(proc)
        rows += [(f"{ep.label} rps", "real_rps"), ("GET /healthz (empty) rps", "empty_rps"),
                 (f"ratio real/empty (target >= {TARGET})", "ratio"),
                 ("real p50 ms", "real_p50_ms"), ("real p99 ms", "real_p99_ms"),
                 ("empty p99 ms", "empty_p99_ms"),
                 ("server CPU ms/request real", "real_server_cpu_ms_per_req"),
                 ("server CPU ms/request empty", "empty_server_cpu_ms_per_req")]
    import os

    return {
        "settings": {"requests": args.requests, "client_threads": args.concurrency, "runs": args.runs,
                     "gunicorn": "deploy/gunicorn.conf.py", "WEB_CONCURRENCY": os.environ.get("WEB_CONCURRENCY", "2"),
                     "GUNICORN_THREADS": os.environ.get("GUNICORN_THREADS", "4"),
                     "endpoints": [e.label for e in ENDPOINTS], "client": "bench/load.py (same machine)"},
        "runs": runs,
        "targets": {"ratio": f">= {TARGET} (for POST /api/v1/orders)"},
        "rows": rows,
    }
