"""Buyer notifications for an address changed before dispatch (orders) and for an invoice issued or
refused (billing), through the real consumer (inbox + message key) on SQLite: one message per event,
even when it comes twice or is republished."""

from __future__ import annotations

import pytest

from aftersales import handlers
from aftersales.app import SERVICE
from ecom_common.consumer import EventConsumer
from ecom_common.events import make_event


@pytest.fixture
def notify(api):
    return EventConsumer(api.db, SERVICE.subscriptions[0])


def deliver(consumer, routing_key, payload, event=None):
    event = event or make_event(routing_key, payload)
    return consumer.handle(event), event


def sent_messages(api):
    handlers.send_notifications(api.db, orders=api.orders)
    r = api.get("/api/v1/messages", role="cs", sub="carol", shop_id="S1")
    assert r.status_code == 200, r.get_json()
    return r.get_json()["items"]


ADDRESS_CHANGED = {
    "order_id": "O1",
    "shop_id": "S1",
    "buyer_id": "b1",
    "address": {"name": "李*", "phone": "139****0000", "province": "浙江", "city": "杭州市", "district": "西湖区"},
    "status": "awaiting_shipment",
    "held": False,
    "reasons": [],
    "changed_at": "2026-11-11T10:00:00Z",
    "changed_by": "b1",
}


def test_an_address_change_tells_the_buyer_once_with_the_masked_receiver(api, notify):
    _, event = deliver(notify, "orders.AddressChanged", ADDRESS_CHANGED)
    deliver(notify, "", {}, event=event)  # redelivered: the inbox skips it
    deliver(notify, "orders.AddressChanged", ADDRESS_CHANGED)  # republished: the key skips it
    assert api.count("messages") == 1
    [m] = sent_messages(api)
    assert m["template"] == "address_changed" and m["status"] == "sent"
    assert "浙江杭州市西湖区" in m["body"] and "139****0000" in m["body"] and "审核" not in m["body"]
    # a later change, held by the re-audit, is another message that says so
    deliver(notify, "orders.AddressChanged", {**ADDRESS_CHANGED, "changed_at": "2026-11-11T11:00:00Z", "held": True})
    assert api.count("messages") == 2
    held = [m for m in sent_messages(api) if "审核" in m["body"]]
    assert len(held) == 1


INVOICE_ISSUED = {
    "order_id": "O1",
    "shop_id": "S1",
    "invoice_id": "INV1",
    "buyer_id": "b1",
    "invoice_no": "12345678",
    "amount_fen": 12950,
    "title_type": "company",
    "title": "杭州某某科技有限公司",
    "issued_at": "2026-11-12T02:00:00Z",
}


def test_an_issued_invoice_tells_the_buyer_its_number_and_amount_once(api, notify):
    _, event = deliver(notify, "billing.InvoiceIssued", INVOICE_ISSUED)
    deliver(notify, "", {}, event=event)
    deliver(notify, "billing.InvoiceIssued", INVOICE_ISSUED)
    assert api.count("messages") == 1
    [m] = sent_messages(api)
    assert m["template"] == "invoice_issued" and m["status"] == "sent"
    assert "12345678" in m["body"] and "129.50元" in m["body"] and "杭州某某科技有限公司" in m["body"]


def test_a_refused_invoice_tells_the_buyer_why_once_per_refusal(api, notify):
    refused = {"order_id": "O1", "shop_id": "S1", "invoice_id": "INV1", "buyer_id": "b1", "reason": "税号有误"}
    _, event = deliver(notify, "billing.InvoiceRefused", refused)
    deliver(notify, "", {}, event=event)
    assert api.count("messages") == 1
    [m] = sent_messages(api)
    assert m["template"] == "invoice_refused" and "税号有误" in m["body"]
    # the buyer asks again (a new request) and is refused again: another message
    deliver(notify, "billing.InvoiceRefused", {**refused, "invoice_id": "INV2"})
    assert api.count("messages") == 2
