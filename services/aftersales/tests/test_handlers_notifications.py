"""Buyer notifications through the real consumer (inbox dedupe) on SQLite: each event becomes at
most one message, the send job delivers it through the sandbox SMS provider (masked phone on the
log), retries with back-off and parks after the last attempt; marketing messages respect opt-out,
quiet hours (moved clock) and the weekly cap; a buyer reads their own messages, cs the shop's."""

from __future__ import annotations

from datetime import timedelta

import pytest

from aftersales import handlers
from aftersales.app import SERVICE
from ecom_common.consumer import EventConsumer
from ecom_common.events import make_event
from ecom_testkit import auth


@pytest.fixture
def notify(api):
    return EventConsumer(api.db, SERVICE.subscriptions[0])


def deliver(consumer, routing_key, payload, event=None):
    event = event or make_event(routing_key, payload)
    return consumer.handle(event), event


def send(api):
    return handlers.send_notifications(api.db, orders=api.orders)


def messages(api, role="cs", sub="carol", shop_id="S1", **params):
    r = api.get("/api/v1/messages", role=role, sub=sub, shop_id=shop_id, query_string=params)
    assert r.status_code == 200, r.get_json()
    return r.get_json()["items"]


def to_local(api, hour, minute=0):
    """Move the clock on to the next hh:mm in China (UTC+8)."""
    now = api.clock.now()
    local = now + timedelta(hours=8)
    target = local.replace(hour=hour, minute=minute, second=0, microsecond=0)
    if target <= local:
        target += timedelta(days=1)
    api.clock.advance(seconds=(target - local).total_seconds())


DISPATCHED = {
    "order_id": "O1",
    "shop_id": "S1",
    "shipment_id": "SH1",
    "carrier": "顺丰",
    "tracking_no": "SF100200300",
    "lines": [{"sku_code": "RED-M", "quantity": 2}],
}


def test_shipped_once_even_when_the_event_comes_twice(api, notify):
    _, event = deliver(notify, "logistics.ShipmentDispatched", DISPATCHED)
    deliver(notify, "", {}, event=event)  # the same event again: the inbox skips it
    deliver(notify, "logistics.ShipmentDispatched", DISPATCHED)  # republished: the key skips it
    assert api.count("messages") == 1
    assert send(api) == 1 and send(api) == 0
    [m] = messages(api)
    assert m["template"] == "order_shipped" and m["status"] == "sent" and m["attempts"] == 1
    assert "已发货" in m["body"] and "SF100200300" in m["body"] and "顺丰" in m["body"]
    assert m["phone_masked"] == "138****5678" and m["buyer_id"] == "bob"
    assert [t["action"] for t in m["timeline"]] == ["queue", "send"]
    assert api.count("sandbox_sms") == 1
    # the buyer reads their own; another buyer and another shop's cs see nothing
    assert [x["message_id"] for x in messages(api, role="buyer", sub="bob", shop_id=None)] == [m["message_id"]]
    assert messages(api, role="buyer", sub="eve", shop_id=None) == []
    assert messages(api, shop_id="S2") == []
    assert api.get("/api/v1/messages", role="cs", sub="x").status_code == 403
    assert api.get("/api/v1/messages", role="warehouse", shop_id="S1").status_code == 403


def test_a_failing_provider_is_retried_with_back_off_then_parked(api, notify):
    r = api.client.put(
        "/api/v1/notifications/sandbox-sms",
        json={"fail": True, "error": "运营商网关超时"},
        headers=auth("admin", "root"),
    )
    assert r.status_code == 200 and r.get_json()["fail"] is True
    deliver(notify, "logistics.ShipmentDispatched", DISPATCHED)
    assert send(api) == 0
    [m] = messages(api)
    assert m["status"] == "pending" and m["attempts"] == 1 and m["last_error"] == "运营商网关超时"
    assert send(api) == 0 and messages(api)[0]["attempts"] == 1  # not due before the back-off
    for wait in (30, 60, 120, 240):
        api.clock.advance(seconds=wait + 1)
        send(api)
    [m] = messages(api)
    assert m["status"] == "parked" and m["attempts"] == 5 and m["last_error"] == "运营商网关超时"
    assert [t["action"] for t in m["timeline"]][-1] == "park"
    api.clock.advance(hours=2)
    assert send(api) == 0 and messages(api)[0]["attempts"] == 5  # parked stays parked
    # the provider works again; cs requeues the parked message
    api.client.put("/api/v1/notifications/sandbox-sms", json={"fail": False}, headers=auth("admin"))
    r = api.post(f"/api/v1/messages/{m['message_id']}/requeue", role="cs", sub="carol", shop_id="S1")
    assert r.status_code == 200 and r.get_json()["status"] == "pending"
    assert send(api) == 1 and messages(api)[0]["status"] == "sent"
    assert api.post(f"/api/v1/messages/{m['message_id']}/requeue", role="cs", shop_id="S1").status_code == 409
    assert api.post(f"/api/v1/messages/{m['message_id']}/requeue", role="cs", shop_id="S2").status_code == 404


def test_orders_unreachable_is_a_failed_attempt(api, notify):
    deliver(notify, "logistics.ShipmentDispatched", DISPATCHED)
    api.orders.down = True
    send(api)
    [m] = messages(api)
    assert m["status"] == "pending" and m["attempts"] == 1 and "orders" in m["last_error"]
    api.orders.down = False
    api.clock.advance(seconds=31)
    assert send(api) == 1


def test_review_invitation_a_day_after_delivery_outside_quiet_hours(api, notify):
    to_local(api, 21, 0)  # delivered at 21:00 China time
    deliver(notify, "orders.OrderDelivered", {"order_id": "O1", "shop_id": "S1"})
    assert send(api) == 0
    api.clock.advance(hours=23)
    assert send(api) == 0  # not yet 24 h
    api.clock.advance(hours=1, seconds=1)  # 21:00 the next day: not quiet
    assert send(api) == 1
    [m] = messages(api, template="review_invitation")
    assert m["category"] == "marketing" and "评价" in m["body"]


NO_DELAY = {"AFTERSALES_REVIEW_INVITE_DELAY_HOURS": "0"}


@pytest.mark.parametrize("service_settings", [NO_DELAY])
def test_quiet_hours_hold_marketing_until_eight_but_not_service(api, notify):
    to_local(api, 23, 30)
    deliver(notify, "orders.OrderDelivered", {"order_id": "O1", "shop_id": "S1"})
    deliver(notify, "logistics.ShipmentDispatched", DISPATCHED)
    assert send(api) == 1  # 已发货 goes out at night, the invitation waits
    [invite] = messages(api, template="review_invitation")
    assert invite["status"] == "pending" and invite["attempts"] == 0
    assert invite["not_before"].endswith("T00:00:00Z")  # 08:00 in China
    assert invite["timeline"][-1]["action"] == "hold"
    api.clock.advance(hours=8)  # 07:30
    assert send(api) == 0
    api.clock.advance(minutes=31)  # 08:01
    assert send(api) == 1


@pytest.mark.parametrize("service_settings", [{**NO_DELAY, "AFTERSALES_MARKETING_WEEKLY_MAX": "2"}])
def test_marketing_opt_out_and_weekly_cap(api, notify):
    to_local(api, 10)
    for n in range(3):
        api.orders.add(order_id=f"O{n + 10}")
        deliver(notify, "orders.OrderDelivered", {"order_id": f"O{n + 10}", "shop_id": "S1"})
    assert send(api) == 2
    statuses = sorted(m["status"] for m in messages(api, template="review_invitation"))
    assert statuses == ["sent", "sent", "suppressed"]
    r = api.client.put("/api/v1/notifications/preferences", json={"marketing": False}, headers=auth("buyer", "bob"))
    assert r.status_code == 200 and r.get_json() == {**r.get_json(), "buyer_id": "bob", "marketing": False}
    api.clock.advance(days=8)
    api.orders.add(order_id="O20")
    deliver(notify, "orders.OrderDelivered", {"order_id": "O20", "shop_id": "S1"})
    deliver(
        notify, "billing.RefundSucceeded", {"order_id": "O20", "shop_id": "S1", "refund_id": "R9", "amount_fen": 1250}
    )
    assert send(api) == 1  # the refund message; the invitation is suppressed (opted out)
    [refund] = messages(api, template="refund_succeeded")
    assert "12.50元" in refund["body"]
    [invite] = messages(api, template="review_invitation", order_id="O20")
    assert invite["status"] == "suppressed" and "opted out" in invite["timeline"][-1]["reason"]


def test_only_an_address_hold_reaches_the_buyer(api, notify):
    deliver(notify, "orders.OrderHeld", {"order_id": "O1", "shop_id": "S1", "reasons": ["amount_over_limit"]})
    assert api.count("messages") == 0
    deliver(notify, "orders.OrderHeld", {"order_id": "O1", "shop_id": "S1", "reasons": ["vague_address"]})
    deliver(
        notify,
        "logistics.ShipmentException",
        {"order_id": "O1", "shop_id": "S1", "shipment_id": "SH1", "reason": "地址无法派送"},
    )
    assert send(api) == 2
    assert {m["template"] for m in messages(api)} == {"order_held_address", "shipment_exception"}


def test_a_presale_promise_tells_the_buyer_once_per_date(api, notify):
    promised = {
        "order_id": "O1",
        "shop_id": "S1",
        "buyer_id": "bob",
        "promised_ship_by": "2026-12-10T08:00:00Z",
        "promise": "预计7天内发货",
        "ship_days": 7,
        "reason": "sku_presale",
    }
    deliver(notify, "orders.PresalePromised", promised)
    deliver(notify, "orders.PresalePromised", promised)  # the same fact under another event id
    assert send(api) == 1
    [m] = messages(api, template="presale_promised")
    assert "预计7天内发货" in m["body"] and "2026-12-10" in m["body"] and "O1" in m["body"]
    later = {**promised, "promised_ship_by": "2026-12-12T08:00:00Z", "reason": "stock_shortage"}
    deliver(notify, "orders.PresalePromised", later)  # a new date is news
    assert send(api) == 1 and len(messages(api, template="presale_promised")) == 2


def test_an_answered_complaint_tells_the_buyer_once(api):
    r = api.post("/api/v1/complaints", json={"order_id": "O1", "tier": "general", "text": "快递三天没动"})
    cid = r.get_json()["complaint_id"]
    api.post(
        f"/api/v1/complaints/{cid}/respond", json={"text": "已催快递，明天送达"}, role="cs", sub="carol", shop_id="S1"
    )
    assert send(api) == 1
    [m] = messages(api, role="buyer", sub="bob", shop_id=None)
    assert m["template"] == "complaint_answered" and "已催快递，明天送达" in m["body"]


def test_a_coupon_reaches_the_buyer_at_their_newest_orders_phone(api, notify):
    to_local(api, 10)
    coupon = {"claim_id": "CL1", "template_id": "T1", "buyer_id": "bob", "shop_id": None, "funded_by": "platform"}
    _, event = deliver(notify, "marketing.CouponIssued", coupon)
    deliver(notify, "", {}, event=event)
    deliver(notify, "marketing.CouponIssued", {**coupon, "claim_id": "CL2", "buyer_id": "nobody"})
    assert send(api) == 1
    [m] = messages(api, role="admin", sub="root", shop_id=None, template="coupon_issued", buyer_id="bob")
    assert m["status"] == "sent" and "平台优惠券" in m["body"] and m["phone_masked"] == "138****5678"
    assert m["category"] == "marketing" and m["shop_id"] is None
    [lost] = messages(api, role="admin", sub="root", shop_id=None, buyer_id="nobody")
    assert lost["status"] == "pending" and lost["last_error"] == "no order to reach the buyer through"
    assert messages(api, role="buyer", sub="bob", shop_id=None)[0]["template"] == "coupon_issued"


def test_a_compensation_coupon_is_a_service_message_with_its_value(api, notify):
    to_local(api, 23)  # quiet hours and an opt-out hold marketing messages, not this one
    r = api.client.put("/api/v1/notifications/preferences", json={"marketing": False}, headers=auth("buyer", "bob"))
    assert r.status_code == 200
    coupon = {"claim_id": "CL9", "template_id": "T9", "buyer_id": "bob", "shop_id": "S1", "funded_by": "shop"}
    _, event = deliver(
        notify,
        "marketing.CouponIssued",
        {**coupon, "reason": "compensation", "complaint_id": "CP1", "amount_fen": 1500},
    )
    deliver(notify, "", {}, event=event)
    assert send(api) == 1
    [m] = messages(api, buyer_id="bob")
    assert m["template"] == "compensation_coupon" and m["category"] == "service" and m["status"] == "sent"
    assert "15.00元无门槛优惠券" in m["body"]
