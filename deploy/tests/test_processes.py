"""The processes as the image runs them, on the embedded database and bus (no network):
- web: gunicorn with deploy/gunicorn.conf.py serving a service's app. Every line it writes is JSON
  (access log included, with the request id and an escaped path); SIGTERM stops it gracefully, exit 0.
- worker: deploy/run_worker.py serves the worker's Prometheus metrics and stops on SIGTERM, exit 0.
(The worker finishing a message in hand on SIGTERM is tests/integration/test_deploy_worker_sigterm.py.)"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import requests

from ecom_testkit.deploytools import DEPLOY, start_inventory_web
from ecom_testkit.waiting import Lines

BIN = Path(sys.executable).parent


def test_gunicorn_logs_json_and_stops_gracefully_on_sigterm(tmp_path):
    proc, port, out, err = start_inventory_web(tmp_path, threads=2, graceful_timeout=10)
    try:
        response = requests.get(
            f"http://127.0.0.1:{port}/healthz", params={"q": 'say "hi"'}, headers={"X-Request-ID": "req-42"}, timeout=10
        )
        assert response.status_code == 200
        out.wait_for(r'"request_id": "req-42"')
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
    out.thread.join(5)
    err.thread.join(5)
    assert code == 0, err.lines[-20:]

    records = [json.loads(line) for line in out.lines + err.lines if line.strip()]  # every line parses
    access = [r for r in records if r.get("log") == "access"]
    assert len(access) == 1
    assert access[0]["method"] == "GET" and access[0]["path"] == "/healthz" and access[0]["status"] == 200
    assert access[0]["query"] == "q=say+%22hi%22" and access[0]["request_id"] == "req-42"
    assert isinstance(access[0]["duration_ms"], int)
    events = [r.get("event", "") for r in records]
    assert any("Handling signal: term" in e for e in events), events
    assert any("Shutting down" in e for e in events), events


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_the_worker_role_serves_its_metrics_and_stops_on_sigterm(tmp_path):
    env = {
        **os.environ,
        "ECOM_VAR_DIR": str(tmp_path),
        "ECOM_JWT_SECRET": "x" * 40,
        "INVENTORY_DATABASE_URL": f"sqlite:///{tmp_path / 'inventory.sqlite'}",
        "BROKER_URL": f"sqla+sqlite:///{tmp_path / 'bus.sqlite'}",
        "WORKER_METRICS_PORT": str(_free_port()),
        "WORKER_METRICS_ADDR": "127.0.0.1",
    }
    migrate = subprocess.run(
        [str(BIN / "ecom"), "migrate", "inventory"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert migrate.returncode == 0, migrate.stderr
    proc = subprocess.Popen(
        [sys.executable, str(DEPLOY / "run_worker.py"), "inventory"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    out = Lines(proc.stdout)
    try:
        out.wait_for(r"consuming inventory\.events")
        metrics = requests.get(f"http://127.0.0.1:{env['WORKER_METRICS_PORT']}/metrics", timeout=10)
        assert metrics.status_code == 200
        assert "# TYPE ecom_events_handled_total counter" in metrics.text
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
    out.thread.join(5)
    assert code == 0, out.lines[-20:]
    assert any("worker inventory stopped" in line for line in out.lines)
    assert all(json.loads(line) for line in out.lines if line.strip())
