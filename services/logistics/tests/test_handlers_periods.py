"""marketing's promotion periods copied into logistics (the one source of periods): an order paid in
a declared period gets the promotion's dispatch time; a later version wins, an older one delivered
late changes nothing; a cancelled period stops counting; periods PUT here still work (fallback)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ecom_common.consumer import EventConsumer
from ecom_common.errors import RetryLater
from ecom_common.events import make_event
from ecom_common.usecase import Actor, for_job
from ecom_testkit import auth
from logistics import handlers, operations
from logistics.operations.shipping import promotion_periods
from logistics.settings import Settings

WH = auth("warehouse", sub="wang", shop_id="S1")
ADMIN = auth("admin", sub="root")
ADDRESS = {"name": "张三", "phone": "13812345678", "province": "江苏省", "city": "南京市", "detail": "中山路 1 号"}


def deliver(db, routing_key: str, payload: dict):
    return EventConsumer(db, handlers.SUBSCRIPTIONS[0]).handle(make_event(routing_key, payload))


def declared(db, version=1, name="双11", starts="2026-11-01T00:00:00Z", ends="2026-11-12T00:00:00Z"):
    payload = {"period_id": "PP1", "name": name, "starts_at": starts, "ends_at": ends, "version": version}
    return deliver(db, "marketing.PromotionPeriodDeclared", payload)


def in_force(db):
    with for_job(db, Settings, actor=Actor("test")) as ctx:
        return [(p.name, p.starts_at, p.ends_at) for p in promotion_periods(ctx)]


def test_marketings_period_lengthens_the_dispatch_time(client, db):
    declared(db)
    deliver(
        db,
        "orders.OrderReadyToShip",
        {
            "order_id": "O1",
            "shop_id": "S1",
            "lines": [{"sku_code": "A", "quantity": 1}],
            "address": ADDRESS,
            "paid_at": "2026-11-05T10:00:00Z",
        },
    )
    shipment = client.get("/api/v1/shipments?order_id=O1", headers=WH).get_json()["items"][0]
    assert shipment["promotion"] == "双11"


def test_the_highest_version_wins_and_a_cancellation_ends_it(client, db):
    declared(db, version=2, name="双11 (延长)", ends="2026-11-13T00:00:00Z")
    declared(db, version=1)  # older, delivered late: nothing changes
    assert in_force(db) == [("双11 (延长)", datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 11, 13, tzinfo=UTC))]
    # the old way still works beside it, and replacing those does not drop marketing's
    local = {"items": [{"name": "店庆", "starts_at": "2026-06-01T00:00:00Z", "ends_at": "2026-06-02T00:00:00Z"}]}
    assert client.put("/api/v1/promotion-periods", headers=ADMIN, json=local).status_code == 200
    assert [p[0] for p in in_force(db)] == ["店庆", "双11 (延长)"]
    deliver(db, "marketing.PromotionPeriodCancelled", {"period_id": "PP1", "name": "双11", "version": 3})
    assert [p[0] for p in in_force(db)] == ["店庆"]
    assert [p["name"] for p in client.get("/api/v1/promotion-periods", headers=WH).get_json()["items"]] == ["店庆"]
    declared(db, version=2)  # a late declaration cannot bring it back
    assert [p[0] for p in in_force(db)] == ["店庆"]


def test_a_cancellation_before_its_declaration_waits(db):
    with for_job(db, Settings, actor=Actor("test")) as ctx, pytest.raises(RetryLater):
        operations.copy_period(ctx, "PP9", 2, {"cancelled": True})
