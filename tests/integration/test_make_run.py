"""`make run` starts the whole platform: the Procfile's twelve processes on the embedded default
bring all six services to a ready /readyz (issue 2). Ports are chosen free for the test; the Procfile
reads <SERVICE>_PORT with the contract's defaults."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from ecom_common.config import SERVICES
from ecom_common.testing import TEST_SECRET

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_procfile_brings_six_services_to_ready(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.endswith("_DATABASE_URL") and k != "BROKER_URL"}
    env.update(ECOM_VAR_DIR=str(tmp_path / "var"), ECOM_JWT_SECRET=TEST_SECRET, WEB_CONCURRENCY="1",
               GUNICORN_ACCESSLOG="/dev/null")
    ports = {}
    for name in SERVICES:
        ports[name] = free_port()
        env[f"{name.upper()}_PORT"] = str(ports[name])
        env[f"{name.upper()}_URL"] = f"http://127.0.0.1:{ports[name]}"
    subprocess.run([str(BIN / "ecom"), "migrate"], env=env, cwd=REPO, check=True, capture_output=True, timeout=180)
    started = time.monotonic()
    proc = subprocess.Popen([str(BIN / "honcho"), "-f", "deploy/Procfile", "-d", ".", "start"], env=env, cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        pending = set(SERVICES)
        while pending and time.monotonic() - started < 60:
            for name in sorted(pending):
                try:
                    r = requests.get(f"http://127.0.0.1:{ports[name]}/readyz", timeout=2)
                    if r.status_code == 200 and r.json()["checks"] == {"database": "ok", "broker": "ok"}:
                        pending.discard(name)
                except requests.RequestException:
                    pass
            time.sleep(0.5)
        assert not pending, f"not ready within a minute: {sorted(pending)}"
        print(f"six services ready in {time.monotonic() - started:.1f}s")
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
