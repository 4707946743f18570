"""`ecom carrier-webhook` against logistics served over HTTP, on the embedded default's generated
secret (no LOGISTICS_CARRIER_WEBHOOK_SECRET, no BROKER_URL): what the command signs is what
logistics accepts, so a newcomer's `make run` can take a shipment to delivered."""

from __future__ import annotations

import json
import threading

import pytest
from werkzeug.serving import make_server

from ecom_common import cli
from ecom_common.config import Config
from ecom_common.consumer import EventConsumer
from ecom_common.db import Database
from ecom_common.events import make_event
from ecom_testkit import auth, recorded_events, unit_config
from logistics import handlers
from logistics.app import SERVICE

WH = auth("warehouse", sub="wang", shop_id="S1")
ADDRESS = {
    "name": "张三",
    "phone": "13812345678",
    "province": "江苏省",
    "city": "南京市",
    "district": "鼓楼区",
    "detail": "中山路 1 号",
}


@pytest.fixture
def embedded_env(tmp_path, monkeypatch):
    """The environment of `make run`: nothing set but the var/ directory."""
    for name in ("BROKER_URL", "LOGISTICS_CARRIER_WEBHOOK_SECRET", "LOGISTICS_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ECOM_VAR_DIR", str(tmp_path / "var"))
    return tmp_path


@pytest.fixture
def served(embedded_env, monkeypatch):
    """logistics with the settings it reads from that environment, served on a free port."""
    settings = Config.from_env("logistics").settings
    config = unit_config("logistics", embedded_env, settings=settings)
    SERVICE.migrate(config)
    db = Database(config)
    app = SERVICE.create_app(config, db)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("LOGISTICS_URL", f"http://127.0.0.1:{server.server_port}")
    yield db, app.test_client()
    server.shutdown()
    thread.join()
    db.dispose()


def dispatched(db, client) -> dict:
    EventConsumer(db, handlers.SUBSCRIPTIONS[0]).handle(
        make_event(
            "orders.OrderReadyToShip",
            {"order_id": "O1", "shop_id": "S1", "lines": [{"sku_code": "SKU-A", "quantity": 1}], "address": ADDRESS},
        )
    )
    [shipment] = client.get("/api/v1/shipments?order_id=O1", headers=WH).get_json()["items"]
    resp = client.post(
        f"/api/v1/shipments/{shipment['shipment_id']}/dispatch", headers=WH, json={"tracking_no": "ZT0001"}
    )
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()


def test_ecom_carrier_webhook_delivers_a_shipment(served, capsys):
    db, client = served
    shipment = dispatched(db, client)
    argv = [
        "carrier-webhook",
        "--carrier",
        shipment["carrier"],
        "--tracking-no",
        "ZT0001",
        "--status",
        "delivered",
        "--location",
        "南京鼓楼",
    ]
    assert cli.main(argv) == 0, capsys.readouterr().err
    status, _, body = capsys.readouterr().out.strip().partition(" ")
    assert status == "200" and json.loads(body)["status"] == "delivered"
    assert len(recorded_events(db, "logistics.ShipmentDelivered")) == 1


def test_ecom_carrier_webhook_sends_a_whole_body_as_given(served, capsys):
    db, client = served
    shipment = dispatched(db, client)
    body = {"event_id": "c-1", "carrier": shipment["carrier"], "tracking_no": "ZT0001", "status": "in_transit"}
    assert cli.main(["carrier-webhook", "--body", json.dumps(body)]) == 0, capsys.readouterr().err
    assert json.loads(capsys.readouterr().out.split(" ", 1)[1]) == {
        "shipment_id": shipment["shipment_id"],
        "status": "in_transit",
        "duplicate": False,
    }
    # A body that is not a report is logistics' 422, passed on as a failed command.
    assert cli.main(["carrier-webhook", "--body", json.dumps({**body, "status": "teleported"})]) == 1
    assert capsys.readouterr().out.startswith("422 ")
