"""`make run` starts the whole platform: the Procfile's twelve processes on the embedded default
(SQLite per service, kombu's sqla+sqlite bus) bring every service to a ready /readyz (issue 2),
and an order goes from placing to settlement through them, every hop crossing processes: the
carrier's delivery is signed by `ecom carrier-webhook` with the secret the first run generated into
var/, as README.md's walkthrough does it (issue 14). Ports are chosen free for the test; the
Procfile reads <SERVICE>_PORT with the contract's defaults."""

from __future__ import annotations

import json
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
from ecom_testkit import TEST_SECRET, auth, eventually

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_procfile_brings_six_services_to_ready(tmp_path):
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.endswith("_DATABASE_URL") and k not in ("BROKER_URL", "LOGISTICS_CARRIER_WEBHOOK_SECRET")
    }
    # Settlement due at completion (instead of T+7), as the walkthrough suggests to see it paid.
    env.update(
        ECOM_VAR_DIR=str(tmp_path / "var"),
        ECOM_JWT_SECRET=TEST_SECRET,
        WEB_CONCURRENCY="1",
        GUNICORN_ACCESSLOG="/dev/null",
        BILLING_SETTLEMENT_DAYS="0",
    )
    ports = {}
    for name in SERVICES:
        ports[name] = free_port()
        env[f"{name.upper()}_PORT"] = str(ports[name])
        env[f"{name.upper()}_URL"] = f"http://127.0.0.1:{ports[name]}"
    subprocess.run([str(BIN / "ecom"), "migrate"], env=env, cwd=REPO, check=True, capture_output=True, timeout=180)
    started = time.monotonic()
    proc = subprocess.Popen(
        [str(BIN / "honcho"), "-f", "deploy/Procfile", "-d", ".", "start"],
        env=env,
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
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
        print(f"all services ready in {time.monotonic() - started:.1f}s")
        oid = order_flows_through(ports)
        delivered_and_settled(ports, env, oid)
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def order_flows_through(ports: dict) -> None:
    def url(service, path):
        return f"http://127.0.0.1:{ports[service]}/api/v1{path}"

    def ok(resp, status=200):
        assert resp.status_code == status, resp.text
        return resp.json()

    ops, reviewer = auth("ops", "olga", "S1"), auth("reviewer", "rita")
    product = ok(
        requests.post(
            url("catalog", "/products"),
            headers=ops,
            timeout=10,
            json={
                "category_id": "digital-phones",
                "title": "轻薄5G手机",
                "attributes": {"网络类型": "5G", "存储容量": ["128GB"]},
                "images": [{"url": "https://img.example/p.jpg", "width": 800, "height": 800}],
                "skus": [{"sku_code": "RUN-1", "spec": {"存储容量": "128GB"}, "list_price_fen": 9900, "weight_g": 300}],
            },
        ),
        201,
    )
    pid = product["product_id"]
    ok(requests.post(url("catalog", f"/products/{pid}/submit"), headers=ops, timeout=10))
    ok(requests.post(url("catalog", f"/products/{pid}/approve"), headers=reviewer, timeout=10))
    wh = auth("warehouse", "wang", "S1")
    eventually(
        lambda: (
            requests.post(
                url("inventory", "/stock/RUN-1/adjustments"),
                headers=wh,
                timeout=10,
                json={"kind": "inbound", "quantity": 5},
            ).status_code
            == 201
        ),
        timeout=30,
        message="stock item created from ProductListed, then received",
    )
    buyer = {**auth("buyer", "bob"), "Idempotency-Key": "run-order-1"}
    order = ok(
        requests.post(
            url("orders", "/orders"),
            headers=buyer,
            timeout=10,
            json={
                "shop_id": "S1",
                "lines": [{"sku_code": "RUN-1", "quantity": 1}],
                "address": {
                    "name": "张三",
                    "phone": "13812345678",
                    "province": "浙江",
                    "city": "杭州",
                    "district": "西湖区",
                    "street": "文三路",
                    "detail": "100号",
                },
            },
        ),
        201,
    )
    oid = order["order_id"]
    ok(
        requests.post(
            url("billing", "/payments"),
            headers=auth("buyer", "bob"),
            timeout=10,
            json={"order_id": oid, "method": "alipay"},
        ),
        201,
    )
    eventually(
        lambda: (
            requests.get(url("orders", f"/orders/{oid}"), headers=auth("buyer", "bob"), timeout=10).json()["status"]
            == "awaiting_shipment"
        ),
        timeout=60,
        message="order awaiting_shipment on the embedded default",
    )
    return oid


def delivered_and_settled(ports: dict, env: dict, oid: str) -> None:
    def url(service, path):
        return f"http://127.0.0.1:{ports[service]}/api/v1{path}"

    def ecom(*args) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(BIN / "ecom"), *args], env=env, cwd=REPO, capture_output=True, text=True, timeout=120
        )

    wh, buyer = auth("warehouse", "wang", "S1"), auth("buyer", "bob")
    shipment = eventually(
        lambda: requests.get(url("logistics", f"/shipments?order_id={oid}"), headers=wh, timeout=10).json()["items"],
        timeout=30,
        message="shipment created",
    )[0]
    sent = requests.post(
        url("logistics", f"/shipments/{shipment['shipment_id']}/dispatch"),
        headers=wh,
        timeout=10,
        json={"tracking_no": "RUN100001"},
    )
    assert sent.status_code == 200, sent.text
    # No LOGISTICS_CARRIER_WEBHOOK_SECRET anywhere: logistics and the command both use var/'s.
    report = [
        "carrier-webhook",
        "--carrier",
        sent.json()["carrier"],
        "--tracking-no",
        "RUN100001",
        "--status",
        "delivered",
    ]
    done = ecom(*report)
    assert done.returncode == 0 and done.stdout.startswith("200 "), done.stdout + done.stderr
    again = ecom(*report)  # a carrier's retry: 200, nothing done twice
    assert again.returncode == 0 and json.loads(again.stdout.split(" ", 1)[1])["duplicate"] is True, again.stdout
    eventually(
        lambda: (
            requests.get(url("orders", f"/orders/{oid}"), headers=buyer, timeout=10).json()["status"] == "delivered"
        ),
        timeout=60,
        message="order delivered from logistics.ShipmentDelivered",
    )
    confirmed = requests.post(url("orders", f"/orders/{oid}/confirm-receipt"), headers=buyer, timeout=10)
    assert confirmed.status_code == 200 and confirmed.json()["status"] == "completed", confirmed.text
    finance = auth("finance", "fay", "S1")

    def settlement():
        items = requests.get(url("billing", f"/settlements?order_id={oid}"), headers=finance, timeout=10).json()[
            "items"
        ]
        return items and items[0]

    eventually(settlement, timeout=60, message="settlement scheduled from orders.OrderCompleted")
    # Now rather than at the worker's next run (ECOM_JOB_INTERVAL); if the worker holds the job's lease
    # this run is skipped and the worker's settles it.
    ecom("job", "billing", "settle-due")
    eventually(lambda: (settlement() or {}).get("status") == "settled", timeout=90, message="settled")
