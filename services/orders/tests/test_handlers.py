"""Event handlers and jobs, through the real consumer (inbox dedupe) on SQLite."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from ecom_common.consumer import Outcome
from ecom_common.errors import ConcurrentChange, IllegalTransition, RetryLater
from ecom_common.events import make_event
from ecom_common.jobs import run_once
from ecom_common.usecase import Actor, Ctx
from ecom_testkit import auth
from ecom_testkit.orders_support import ADDRESS, SHOP
from orders import handlers, operations
from orders.app import SERVICE
from orders.models import Order, TimelineEntry
from orders.settings import Settings

OPS = auth("ops", sub="olga", shop_id=SHOP)


def status(db, order):
    with db.Session() as s:
        return s.get(Order, order["order_id"]).status


def get(db, order) -> Order:
    with db.Session() as s:
        o = s.get(Order, order["order_id"])
        o.timeline  # noqa: B018 - load while the session is open
        return o


def actions(db, order):
    return [t.action for t in get(db, order).timeline]


# billing.PaymentSucceeded -------------------------------------------------------------------------
def test_payment_marks_paid_and_emits_order_paid(place, saga, db, events):
    order = place()
    assert saga.pay(order, "P9") == Outcome.HANDLED
    o = get(db, order)
    assert o.status == "paid" and o.payment_id == "P9" and o.paid_at is not None
    (paid,) = events("orders.OrderPaid")
    p = paid["payload"]
    assert p["order_id"] == order["order_id"] and p["payable_fen"] == order["payable_fen"]
    assert p["lines"] == [
        {
            "sku_code": "RED-M",
            "quantity": 2,
            "unit_price_fen": 9900,
            "list_price_fen": 12900,
            "discount_fen": 0,
            "paid_fen": 19800,
            "category_id": "C-dress",
        }
    ]
    assert p["paid_at"] and p["presale"] is False
    # the receiver's province for inventory's choice of warehouse, and nothing else of the address
    assert p["receiver_province"] == "浙江" and "address" not in p and "phone" not in str(p)
    assert o.timeline[-1].by == "billing" and "P9" in o.timeline[-1].reason


def test_a_duplicate_payment_event_changes_state_once(place, deliver, db, events):
    order = place()
    env = make_event(
        "billing.PaymentSucceeded",
        {"order_id": order["order_id"], "shop_id": SHOP, "payment_id": "P1", "amount_fen": order["payable_fen"]},
    )
    assert deliver(None, None, event=env) == Outcome.HANDLED
    assert deliver(None, None, event=env) == Outcome.DUPLICATE
    # The same payment reported again under a new event id is recognised too.
    assert (
        deliver(
            "billing.PaymentSucceeded",
            {"order_id": order["order_id"], "shop_id": SHOP, "payment_id": "P1", "amount_fen": order["payable_fen"]},
        )
        == Outcome.HANDLED
    )
    assert len(events("orders.OrderPaid")) == 1
    assert actions(db, order) == ["placed", "pay"]


def test_a_late_payment_for_a_cancelled_order_is_only_noted(client, place, saga, db, events):
    order = place()
    client.post(f"/api/v1/orders/{order['order_id']}/cancel", json={}, headers=auth("buyer", sub="bob"))
    saga.pay(order, "P-late")
    o = get(db, order)
    assert o.status == "cancelled" and o.payment_id is None
    assert o.timeline[-1].action == "payment_ignored" and "P-late" in o.timeline[-1].reason
    assert events("orders.OrderPaid") == []


def test_a_second_payment_of_a_paid_order_is_noted(place, saga, db, events):
    order = place()
    saga.pay(order, "P1")
    saga.pay(order, "P2")
    assert get(db, order).payment_id == "P1"
    assert actions(db, order)[-1] == "payment_ignored"
    assert len(events("orders.OrderPaid")) == 1


def test_a_payment_for_the_wrong_amount_is_not_applied(place, saga, db, events):
    order = place()
    saga.pay(order, amount=1)
    assert status(db, order) == "pending_payment" and actions(db, order)[-1] == "payment_mismatch"
    assert events("orders.OrderPaid") == []


def test_an_event_for_an_unknown_order_is_ignored(deliver):
    assert (
        deliver(
            "billing.PaymentSucceeded", {"order_id": "O-unknown", "shop_id": SHOP, "payment_id": "P", "amount_fen": 1}
        )
        == Outcome.HANDLED
    )


# billing.PaymentFailed / RefundSucceeded ----------------------------------------------------------
def test_payment_failed_and_refund_are_timeline_entries(place, deliver, db):
    order = place()
    deliver(
        "billing.PaymentFailed",
        {"order_id": order["order_id"], "shop_id": SHOP, "payment_id": "P1", "reason": "card declined"},
    )
    deliver(
        "billing.RefundSucceeded",
        {"order_id": order["order_id"], "shop_id": SHOP, "refund_id": "R1", "amount_fen": 500, "case_id": "C1"},
    )
    o = get(db, order)
    assert o.status == "pending_payment"
    assert [(t.action, t.status) for t in o.timeline[1:]] == [
        ("payment_failed", "pending_payment"),
        ("refund_succeeded", "pending_payment"),
    ]
    assert "card declined" in o.timeline[1].reason and "C1" in o.timeline[2].reason


# inventory.StockReserved -> audit -----------------------------------------------------------------
def test_reserved_small_order_passes_the_audit(place, saga, db, events):
    order = place()
    saga.pay(order)
    saga.reserve(order)
    assert status(db, order) == "awaiting_shipment"
    (ready,) = events("orders.OrderReadyToShip")
    p = ready["payload"]
    assert p["priority"] is False and p["paid_at"] and p["lines"][0]["quantity"] == 2
    assert p["address"]["phone"] == "138****5678" and p["weight_g"] == 1000
    # the pick list's title from the line's snapshot (catalog's at placing); an empty spec and no
    # handling marks are not sent
    line = p["lines"][0]
    assert line["title"] == f"商品 {line['sku_code']}" and "spec" not in line and "handling" not in line
    assert events("orders.OrderHeld") == []


def test_ready_to_ship_lines_carry_the_spec_and_handling_marks_kept_at_placing(place, saga, db, events):
    order = place(lines=[{"sku_code": "OIL-1L", "quantity": 1}])
    line = get(db, order).lines[0]
    assert line.spec == {"容量": "1L"} and line.handling == ["fragile", "liquid"]
    saga.pay(order)
    saga.reserve(order)
    (ready,) = events("orders.OrderReadyToShip")
    (sent,) = ready["payload"]["lines"]
    assert sent["sku_code"] == "OIL-1L" and sent["title"] == "商品 OIL-1L"
    assert sent["spec"] == {"容量": "1L"} and sent["handling"] == ["fragile", "liquid"]


@pytest.mark.parametrize(
    "body,reasons,priority",
    [
        (dict(lines=[{"sku_code": "BIG", "quantity": 1}]), ["amount_over_limit"], False),
        (dict(address={**ADDRESS, "detail": "公司前台"}), ["vague_address"], False),
        (dict(address={k: v for k, v in ADDRESS.items() if k != "street"}), ["vague_address"], False),
        (dict(note="加急！"), ["buyer_note"], True),
        (dict(note="指定时间发货"), ["buyer_note"], True),
    ],
)
def test_reserved_orders_that_need_review_are_held(place, saga, db, events, body, reasons, priority):
    order = place(**body)
    saga.pay(order)
    saga.reserve(order)
    o = get(db, order)
    assert o.status == "on_hold" and o.held_reason_list == reasons and o.priority is priority
    assert o.held_at is not None and o.timeline[-1].reason.startswith("held for review")
    (held,) = events("orders.OrderHeld")
    assert held["payload"]["reasons"] == reasons and held["payload"]["priority"] is priority
    assert events("orders.OrderReadyToShip") == []


def test_the_same_phone_ordering_repeatedly_is_held(place, saga, db):
    orders = [place() for _ in range(3)]
    for o in orders:
        saga.pay(o)
        saga.reserve(o)
    assert [status(db, o) for o in orders] == ["awaiting_shipment", "awaiting_shipment", "on_hold"]
    assert get(db, orders[2]).held_reason_list == ["repeat_phone"]


def test_orders_outside_the_phone_window_do_not_count(place, saga, db, clock):
    first = [place() for _ in range(2)]
    clock.advance(minutes=61)
    third = place()
    for o in first + [third]:
        saga.pay(o)
        saga.reserve(o)
    assert status(db, third) == "awaiting_shipment"


def test_middle_orders_follow_the_shop_setting(client, place, saga, db):
    # the SOP's default: auto-pass only <= 500 yuan; a 1000 yuan order waits for a person
    held = place(lines=[{"sku_code": "MID", "quantity": 1}], buyer="carol", address={**ADDRESS, "phone": "13900000000"})
    saga.pay(held)
    saga.reserve(held)
    assert get(db, held).held_reason_list == ["middle_amount"]
    assert client.put("/api/v1/audit-rules", json={"auto_pass_middle": True}, headers=OPS).status_code == 200
    passed = place(lines=[{"sku_code": "MID", "quantity": 1}])
    saga.pay(passed)
    saga.reserve(passed)
    assert status(db, passed) == "awaiting_shipment"


def test_remote_regions_follow_the_shop_setting(client, place, saga, db):
    client.put("/api/v1/audit-rules", json={"auto_pass_middle": False}, headers=OPS)
    order = place(address={**ADDRESS, "province": "新疆"})
    saga.pay(order)
    saga.reserve(order)
    assert get(db, order).held_reason_list == ["remote_region"]


def test_a_reservation_for_a_cancelled_order_is_noted(client, place, saga, db, events):
    order = place()
    saga.pay(order)
    client.post(f"/api/v1/orders/{order['order_id']}/cancel", json={}, headers=OPS)
    saga.reserve(order)
    assert status(db, order) == "cancelled" and actions(db, order)[-1] == "reservation_ignored"
    assert events("orders.OrderReadyToShip") == []


def test_a_reservation_that_overtakes_its_payment_waits_for_it(place, saga, db, events):
    # inventory's answer can only follow OrderPaid; seen while pending_payment, the payment is still
    # on its way (e.g. in a retry tier): the handler raises so the consumer retries it later.
    order = place()
    with pytest.raises(RetryLater):
        saga.reserve(order)
    assert status(db, order) == "pending_payment" and actions(db, order) == ["placed"]
    saga.pay(order)
    assert saga.reserve(order) == Outcome.HANDLED  # the retry
    assert status(db, order) == "awaiting_shipment"
    assert len(events("orders.OrderReadyToShip")) == 1


def test_a_shortage_that_overtakes_its_payment_waits_for_it(place, saga, db, events):
    order = place()
    with pytest.raises(RetryLater):
        saga.shortage(order, "cancel")
    assert status(db, order) == "pending_payment"
    saga.pay(order)
    saga.shortage(order, "cancel")
    assert status(db, order) == "cancelled"
    # cancelled as a paid order: billing refunds it
    assert [e["payload"]["was_paid"] for e in events("orders.OrderCancelled")] == [True]


# inventory.StockShortage --------------------------------------------------------------------------
def test_shortage_with_wait_policy_waits_with_a_promised_date(client, place, saga, db, clock, events):
    order = place()
    saga.pay(order)
    saga.shortage(order, "wait")
    o = get(db, order)
    assert o.status == "awaiting_stock" and o.presale is True and o.promise == "预计3天内发货"
    assert (o.promised_ship_by.replace(tzinfo=None) - o.paid_at.replace(tzinfo=None)).days == 3
    saga.shortage(order, "wait")  # a repeated shortage changes nothing
    assert actions(db, order) == ["placed", "pay", "wait_for_stock"]
    # No message and no audit hold for a shortage: the reservation may overtake it on the bus (the
    # saga's reordering test delivers them reversed), and both orders must end the same.
    assert events("orders.PresalePromised") == []
    saga.reserve(order)
    assert status(db, order) == "awaiting_shipment"
    assert events("orders.OrderReadyToShip")[0]["payload"]["promised_ship_by"] is not None


def test_shortage_with_cancel_policy_cancels_and_refunds(place, saga, db, events):
    order = place()
    saga.pay(order)
    saga.shortage(order, "cancel")
    o = get(db, order)
    assert o.status == "cancelled" and "out of stock" in o.cancel_reason
    (cancelled,) = events("orders.OrderCancelled")
    assert cancelled["payload"]["was_paid"] is True and cancelled["payload"]["lines"][0]["sku_code"] == "RED-M"


# logistics ----------------------------------------------------------------------------------------
def test_dispatch_and_delivery(place, saga, db, events):
    order = place()
    saga.pay(order)
    saga.reserve(order)
    saga.dispatch(order, carrier="中通", tracking_no="ZT1")
    o = get(db, order)
    assert o.status == "shipped" and (o.carrier, o.tracking_no, o.shipment_id) == ("中通", "ZT1", "S1")
    assert events("orders.OrderShipped")[0]["payload"]["tracking_no"] == "ZT1"
    # A failed pickup: the warehouse re-dispatches with another carrier.
    saga.dispatch(order, carrier="顺丰", tracking_no="SF2")
    o = get(db, order)
    assert (o.status, o.carrier, o.tracking_no) == ("shipped", "顺丰", "SF2")
    assert o.timeline[-1].action == "tracking_changed"
    saga.deliver_parcel(order)
    o = get(db, order)
    assert o.status == "delivered" and o.delivered_at is not None
    assert len(events("orders.OrderDelivered")) == 1
    saga.deliver_parcel(order)  # reported twice: no second transition
    assert len(events("orders.OrderDelivered")) == 1


def test_an_exchange_replacement_does_not_move_the_order(place, saga, db):
    order = place()
    saga.pay(order)
    saga.reserve(order)
    saga.dispatch(order, case_id="C7")
    assert status(db, order) == "awaiting_shipment"
    saga.dispatch(order)
    saga.deliver_parcel(order, case_id="C7")
    assert status(db, order) == "shipped"


def test_delivery_before_dispatch_is_retried_not_applied(place, saga, db):
    order = place()
    saga.pay(order)
    saga.reserve(order)
    with pytest.raises(IllegalTransition):
        saga.deliver_parcel(order)  # the consumer retries it; by then Dispatched has arrived
    assert status(db, order) == "awaiting_shipment"


# aftersales.OrderCancelRequested ------------------------------------------------------------------
def test_a_cancel_request_from_aftersales_carries_the_case(place, saga, deliver, db, events):
    order = place()
    saga.pay(order)
    saga.reserve(order)
    deliver(
        "aftersales.OrderCancelRequested",
        {"order_id": order["order_id"], "shop_id": SHOP, "case_id": "C1", "reason": "仅退款"},
    )
    o = get(db, order)
    assert o.status == "cancelled" and o.case_id == "C1"
    (cancelled,) = events("orders.OrderCancelled")
    assert cancelled["payload"]["case_id"] == "C1" and cancelled["payload"]["was_paid"] is True


def test_a_cancel_request_after_shipment_is_refused_on_the_timeline(place, saga, deliver, db, events):
    order = place()
    saga.pay(order)
    saga.reserve(order)
    saga.dispatch(order)
    deliver("aftersales.OrderCancelRequested", {"order_id": order["order_id"], "shop_id": SHOP, "case_id": "C2"})
    assert status(db, order) == "shipped" and actions(db, order)[-1] == "cancel_request_refused"
    assert events("orders.OrderCancelled") == []


# Concurrency guard --------------------------------------------------------------------------------
def test_a_transition_that_lost_a_race_writes_nothing(place, db):
    order = place()
    with db.uow() as uow:
        stale = uow.session.get(Order, order["order_id"])
        # Another transaction cancels the order after we loaded it.
        with db.engine.begin() as conn:
            conn.execute(sa.update(Order).where(Order.id == order["order_id"]).values(status="cancelled"))
        with pytest.raises(ConcurrentChange):
            operations.move(Ctx(uow=uow, actor=Actor("billing"), settings=Settings()), stale, "pay", "")
        uow.rollback()
    with db.Session() as s:
        assert (
            s.execute(
                sa.select(sa.func.count()).select_from(TimelineEntry).where(TimelineEntry.action == "pay")
            ).scalar_one()
            == 0
        )


# Jobs ---------------------------------------------------------------------------------------------
def test_unpaid_orders_close_after_the_timeout(place, saga, db, clock, events):
    stale = place()
    paid = place(address={**ADDRESS, "phone": "13900000001"})
    saga.pay(paid)
    clock.advance(minutes=29)
    fresh = place(address={**ADDRESS, "phone": "13900000002"})
    assert run_once(db, SERVICE.job("close-unpaid-orders")) == 0
    clock.advance(minutes=2)
    assert run_once(db, SERVICE.job("close-unpaid-orders")) == 1
    assert (status(db, stale), status(db, paid), status(db, fresh)) == ("cancelled", "paid", "pending_payment")
    o = get(db, stale)
    assert o.timeline[-1].action == "close_unpaid" and o.timeline[-1].by == "system"
    (cancelled,) = events("orders.OrderCancelled")
    assert cancelled["payload"]["was_paid"] is False and cancelled["payload"]["order_id"] == stale["order_id"]
    assert run_once(db, SERVICE.job("close-unpaid-orders")) == 0  # a second run finds nothing


def test_the_unpaid_timeout_is_configurable(tmp_path, fakes):
    from ecom_common.db import Database
    from ecom_testkit import unit_config

    config = unit_config("orders", tmp_path, settings={"ORDERS_UNPAID_TIMEOUT_MINUTES": "5"})
    assert Settings.from_config(config).unpaid_timeout.total_seconds() == 300
    assert (
        Settings.from_config(
            unit_config("orders", tmp_path, settings={"ORDERS_AUTO_CONFIRM_DAYS": "2"})
        ).auto_confirm_after.days
        == 2
    )
    Database(config).dispose()


def test_delivered_orders_auto_confirm_after_seven_days(place, saga, db, clock, events):
    order = place()
    saga.pay(order)
    saga.reserve(order)
    saga.dispatch(order)
    saga.deliver_parcel(order)
    clock.advance(days=6, hours=23)
    assert handlers.auto_confirm_receipt(db) == 0
    clock.advance(hours=2)
    assert run_once(db, SERVICE.job("auto-confirm-receipt")) == 1
    o = get(db, order)
    assert o.status == "completed" and o.timeline[-1].by == "system"
    (done,) = events("orders.OrderCompleted")
    assert done["payload"]["payable_fen"] == order["payable_fen"] and done["payload"]["completed_at"]
    assert handlers.auto_confirm_receipt(db) == 0
