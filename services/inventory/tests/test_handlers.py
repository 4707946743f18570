"""inventory's event handlers over SQLite: reservations all-or-nothing, policies, release, deduct,
returns, the waiting queue and low-stock alerts. Events are read back from the outbox."""

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from ecom_common.consumer import Outcome
from ecom_common.errors import RuleViolation
from inventory.handlers import event_time
from inventory.models import Reservation, ReservationLine, StockMovement, StockPolicy

SHOP = "S1"  # the shop of conftest's fixtures


def status_of(db, order_id):
    with db.engine.connect() as conn:
        return conn.execute(sa.select(Reservation.status).where(Reservation.order_id == order_id)).scalar_one_or_none()


def set_policy(db, policy, shop_id=SHOP):
    from datetime import datetime

    with db.engine.begin() as conn:
        conn.execute(
            sa.insert(StockPolicy).values(
                shop_id=shop_id, shortage_policy=policy, updated_by="t", updated_at=datetime.now(UTC)
            )
        )


def movements(db, **where):
    with db.engine.connect() as conn:
        stmt = sa.select(StockMovement).order_by(StockMovement.id)
        for k, v in where.items():
            stmt = stmt.where(getattr(StockMovement, k) == v)
        return conn.execute(stmt).all()


def test_listing_creates_empty_stock_items(list_sku, stock, ledger_matches_stock):
    list_sku("A", "B")
    assert stock("A") == (0, 0) and stock("B") == (0, 0)
    assert ledger_matches_stock()


def test_paid_order_reserves_every_line(list_sku, receive, pay, stock, events, ledger_matches_stock):
    list_sku("A", "B")
    receive("A", 5)
    receive("B", 5)
    pay("O1", [("B", 2), ("A", 1), ("B", 1)])
    assert stock("A") == (5, 1) and stock("B") == (5, 3)
    assert events("inventory.StockReserved") == [
        {
            "order_id": "O1",
            "shop_id": SHOP,
            "lines": [
                {"sku_code": "A", "quantity": 1, "warehouse_code": "WH1"},
                {"sku_code": "B", "quantity": 3, "warehouse_code": "WH1"},
            ],
        }
    ]
    assert ledger_matches_stock()


def test_all_or_nothing_one_short_line_reserves_none(db, list_sku, receive, pay, stock, events, ledger_matches_stock):
    list_sku("A", "B", "C")
    receive("A", 5)
    receive("B", 1)
    receive("C", 5)
    pay("O1", [("A", 2), ("B", 3), ("C", 1)])
    assert stock("A") == (5, 0) and stock("B") == (1, 0) and stock("C") == (5, 0)
    assert movements(db, kind="reserve") == []
    assert events("inventory.StockReserved") == []
    [shortage] = events("inventory.StockShortage")
    assert shortage == {
        "order_id": "O1",
        "shop_id": SHOP,
        "policy": "wait",
        "short": [{"sku_code": "B", "requested": 3, "available": 1}],
    }
    assert status_of(db, "O1") == "waiting"
    assert ledger_matches_stock()


def test_unknown_sku_is_short_with_nothing_available(db, list_sku, receive, pay, events):
    list_sku("A")
    receive("A", 5)
    pay("O1", [("A", 1), ("ZZZ", 1)])
    assert events("inventory.StockShortage")[0]["short"] == [{"sku_code": "ZZZ", "requested": 1, "available": 0}]


def test_cancel_policy_marks_the_order_short(db, list_sku, receive, pay, events):
    list_sku("A")
    set_policy(db, "cancel")
    pay("O1", [("A", 1)])
    assert events("inventory.StockShortage")[0]["policy"] == "cancel"
    assert status_of(db, "O1") == "short"
    receive("A", 5)  # a short order under the cancel policy is never reserved later
    assert status_of(db, "O1") == "short"
    assert events("inventory.StockReserved") == []


def test_policy_is_per_shop(db, list_sku, receive, pay, events):
    list_sku("A", shop_id="S1")
    list_sku("A", shop_id="S2", product_id="P2")
    set_policy(db, "cancel", "S2")
    pay("O1", [("A", 1)], shop_id="S1")
    pay("O2", [("A", 1)], shop_id="S2")
    assert [(e["order_id"], e["policy"]) for e in events("inventory.StockShortage")] == [
        ("O1", "wait"),
        ("O2", "cancel"),
    ]


def test_duplicate_order_paid_reserves_once(db, list_sku, receive, pay, stock, events):
    list_sku("A")
    receive("A", 5)
    outcome, envelope = pay("O1", [("A", 2)])
    assert outcome == Outcome.HANDLED
    assert pay("O1", [("A", 2)], envelope=envelope)[0] == Outcome.DUPLICATE  # same event again: the inbox
    assert pay("O1", [("A", 2)])[0] == Outcome.HANDLED  # a second OrderPaid event: the reservation row
    assert stock("A") == (5, 2)
    assert len(events("inventory.StockReserved")) == 1
    assert len(movements(db, kind="reserve")) == 1


def test_cancel_releases_and_is_idempotent(db, list_sku, receive, pay, deliver, stock, events, ledger_matches_stock):
    list_sku("A")
    receive("A", 5)
    pay("O1", [("A", 2)])
    cancel = {"order_id": "O1", "shop_id": SHOP, "reason": "buyer", "was_paid": True}
    deliver("orders.OrderCancelled", cancel)
    deliver("orders.OrderCancelled", cancel)
    assert stock("A") == (5, 0)
    assert status_of(db, "O1") == "released"
    assert events("inventory.StockReleased") == [
        {"order_id": "O1", "shop_id": SHOP, "lines": [{"sku_code": "A", "quantity": 2}]}
    ]
    assert [m.reserved_delta for m in movements(db, kind="release")] == [-2]
    assert ledger_matches_stock()


def test_cancel_of_a_waiting_order_drops_it_from_the_queue(db, list_sku, receive, pay, deliver, stock, events):
    list_sku("A")
    pay("O1", [("A", 1)])
    deliver("orders.OrderCancelled", {"order_id": "O1", "shop_id": SHOP, "was_paid": True})
    assert status_of(db, "O1") == "released"
    receive("A", 3)
    assert stock("A") == (3, 0)
    assert events("inventory.StockReserved") == []


def test_cancel_before_payment_seen_leaves_a_tombstone(db, list_sku, receive, pay, deliver, stock, events):
    list_sku("A")
    receive("A", 5)
    deliver("orders.OrderCancelled", {"order_id": "O1", "shop_id": SHOP, "was_paid": True})
    pay("O1", [("A", 1)])  # overtaken by the cancel: must not reserve
    assert status_of(db, "O1") == "cancelled"
    assert stock("A") == (5, 0)
    assert events("inventory.StockReserved") == []


def test_dispatch_deducts_the_reservation(db, list_sku, receive, pay, deliver, stock, events, ledger_matches_stock):
    list_sku("A")
    receive("A", 5)
    pay("O1", [("A", 2)])
    dispatched = {
        "order_id": "O1",
        "shop_id": SHOP,
        "shipment_id": "S9",
        "carrier": "SF",
        "tracking_no": "T1",
        "lines": [{"sku_code": "A", "quantity": 2}],
    }
    deliver("logistics.ShipmentDispatched", dispatched)
    deliver("logistics.ShipmentDispatched", dispatched)  # another event for the same dispatch: no-op
    assert stock("A") == (3, 0)
    assert status_of(db, "O1") == "deducted"
    [m] = movements(db, kind="deduct")
    assert (m.on_hand_delta, m.reserved_delta, m.cause, m.reference, m.actor) == (
        -2,
        -2,
        "order:O1",
        "shipment:S9",
        "logistics",
    )
    assert len(events("inventory.StockDeducted")) == 1
    # cancelling after shipment changes nothing
    deliver("orders.OrderCancelled", {"order_id": "O1", "shop_id": SHOP})
    assert stock("A") == (3, 0)
    assert ledger_matches_stock()


def test_dispatch_without_a_reservation_fails_loudly(list_sku, deliver):
    list_sku("A")
    with pytest.raises(RuleViolation):
        deliver(
            "logistics.ShipmentDispatched",
            {
                "order_id": "O404",
                "shop_id": SHOP,
                "shipment_id": "S1",
                "carrier": "SF",
                "tracking_no": "T",
                "lines": [],
            },
        )


def test_dispatch_after_the_cancel_takes_the_parcel_off_on_hand_once(
    db, list_sku, receive, pay, deliver, stock, events, ledger_matches_stock
):
    # The warehouse dispatched while the buyer cancelled, and the cancel reached us first: the
    # reservation is released but the parcel left, so its units come off on hand (once).
    list_sku("A")
    receive("A", 5)
    pay("O1", [("A", 2)])
    deliver("orders.OrderCancelled", {"order_id": "O1", "shop_id": SHOP, "was_paid": True})
    dispatched = {
        "order_id": "O1",
        "shop_id": SHOP,
        "shipment_id": "S9",
        "carrier": "SF",
        "tracking_no": "T1",
        "lines": [{"sku_code": "A", "quantity": 2}],
    }
    deliver("logistics.ShipmentDispatched", dispatched)
    deliver("logistics.ShipmentDispatched", dispatched)  # another event for the same parcel
    assert stock("A") == (3, 0)
    assert status_of(db, "O1") == "released"
    [m] = movements(db, kind="deduct")
    assert (m.on_hand_delta, m.reserved_delta, m.cause, m.reference) == (-2, 0, "order:O1", "shipment:S9")
    assert len(events("inventory.StockDeducted")) == 1
    assert ledger_matches_stock()


def test_dispatch_of_an_order_cancelled_before_its_payment_was_seen(
    db, list_sku, receive, pay, deliver, stock, ledger_matches_stock
):
    list_sku("A")
    receive("A", 5)
    deliver("orders.OrderCancelled", {"order_id": "O1", "shop_id": SHOP, "was_paid": True})  # tombstone
    deliver(
        "logistics.ShipmentDispatched",
        {
            "order_id": "O1",
            "shop_id": SHOP,
            "shipment_id": "S9",
            "carrier": "SF",
            "tracking_no": "T1",
            "lines": [{"sku_code": "A", "quantity": 1}],
        },
    )
    pay("O1", [("A", 1)])  # late: reserves nothing
    assert stock("A") == (4, 0)
    assert ledger_matches_stock()


def test_dispatch_after_the_cancel_cannot_take_units_promised_to_others(list_sku, receive, pay, deliver, stock):
    list_sku("A")
    receive("A", 2)
    pay("O1", [("A", 2)])
    deliver("orders.OrderCancelled", {"order_id": "O1", "shop_id": SHOP, "was_paid": True})
    pay("O2", [("A", 2)])  # the released units went to another buyer
    with pytest.raises(RuleViolation):
        deliver(
            "logistics.ShipmentDispatched",
            {
                "order_id": "O1",
                "shop_id": SHOP,
                "shipment_id": "S9",
                "carrier": "SF",
                "tracking_no": "T1",
                "lines": [{"sku_code": "A", "quantity": 2}],
            },
        )
    assert stock("A") == (2, 2)


def test_replacement_shipment_deducts_on_hand_with_the_case_cause(
    db, list_sku, receive, pay, deliver, stock, ledger_matches_stock
):
    list_sku("A")
    receive("A", 5)
    pay("O1", [("A", 1)])
    replacement = {
        "order_id": "O1",
        "shop_id": SHOP,
        "shipment_id": "S2",
        "carrier": "SF",
        "tracking_no": "T",
        "lines": [{"sku_code": "A", "quantity": 1}],
        "case_id": "C7",
    }
    deliver("logistics.ShipmentDispatched", replacement)
    deliver("logistics.ShipmentDispatched", replacement)
    assert stock("A") == (4, 1)  # the order's own reservation is untouched
    assert status_of(db, "O1") == "reserved"
    [m] = movements(db, cause="case:C7")
    assert (m.kind, m.on_hand_delta, m.reserved_delta) == ("deduct", -1, 0)
    assert ledger_matches_stock()


def test_replacement_cannot_take_reserved_units(list_sku, receive, pay, deliver, stock):
    list_sku("A")
    receive("A", 1)
    pay("O1", [("A", 1)])
    with pytest.raises(RuleViolation):
        deliver(
            "logistics.ShipmentDispatched",
            {
                "order_id": "O0",
                "shop_id": SHOP,
                "shipment_id": "S2",
                "carrier": "SF",
                "tracking_no": "T",
                "lines": [{"sku_code": "A", "quantity": 1}],
                "case_id": "C7",
            },
        )
    assert stock("A") == (1, 1)


def test_resellable_return_goes_back_on_hand_unsellable_only_noted(
    db, list_sku, receive, deliver, stock, ledger_matches_stock
):
    list_sku("A")
    receive("A", 2)
    base = {"order_id": "O1", "shop_id": SHOP, "lines": [{"sku_code": "A", "quantity": 1}]}
    deliver("aftersales.ReturnReceived", {**base, "case_id": "C1", "resellable": True})
    deliver("aftersales.ReturnReceived", {**base, "case_id": "C2", "resellable": False})
    assert stock("A") == (3, 0)
    assert [(m.kind, m.on_hand_delta) for m in movements(db, sku_code="A") if m.cause.startswith("case:")] == [
        ("in", 1),
        ("note", 0),
    ]
    assert ledger_matches_stock()


def test_waiting_orders_are_served_oldest_payment_first_when_stock_arrives(
    db, list_sku, receive, pay, stock, events, ledger_matches_stock
):
    list_sku("A")
    # delivered out of payment order
    pay("O3", [("A", 1)], minute=3)
    pay("O1", [("A", 1)], minute=1)
    pay("O2", [("A", 1)], minute=2)
    assert [status_of(db, o) for o in ("O1", "O2", "O3")] == ["waiting"] * 3
    receive("A", 2)
    assert [e["order_id"] for e in events("inventory.StockReserved")] == ["O1", "O2"]
    assert status_of(db, "O3") == "waiting"
    assert stock("A") == (2, 2)
    receive("A", 1)
    assert [e["order_id"] for e in events("inventory.StockReserved")] == ["O1", "O2", "O3"]
    with db.engine.connect() as conn:
        assert (
            conn.execute(sa.select(ReservationLine.warehouse_code).where(ReservationLine.order_id == "O3")).scalar()
            == "WH1"
        )
    assert ledger_matches_stock()


def test_a_big_waiting_order_does_not_hold_up_smaller_ones_behind_it(db, list_sku, receive, pay, events):
    list_sku("A")
    pay("O1", [("A", 5)], minute=1)
    pay("O2", [("A", 1)], minute=2)
    receive("A", 2)
    assert [e["order_id"] for e in events("inventory.StockReserved")] == ["O2"]
    assert status_of(db, "O1") == "waiting"


def test_released_stock_serves_the_waiting_queue(db, list_sku, receive, pay, deliver, stock, events):
    list_sku("A")
    receive("A", 1)
    pay("O1", [("A", 1)], minute=1)
    pay("O2", [("A", 1)], minute=2)
    assert status_of(db, "O2") == "waiting"
    deliver("orders.OrderCancelled", {"order_id": "O1", "shop_id": SHOP, "was_paid": True})
    assert status_of(db, "O2") == "reserved"
    assert stock("A") == (1, 1)


def test_multi_line_waiting_order_needs_every_line(db, list_sku, receive, pay, events):
    list_sku("A", "B")
    pay("O1", [("A", 1), ("B", 1)])
    receive("A", 1)
    assert status_of(db, "O1") == "waiting"
    receive("B", 1)
    assert status_of(db, "O1") == "reserved"
    assert events("inventory.StockReserved")[0]["lines"] == [
        {"sku_code": "A", "quantity": 1, "warehouse_code": "WH1"},
        {"sku_code": "B", "quantity": 1, "warehouse_code": "WH1"},
    ]


def test_reserves_from_a_second_warehouse_when_the_first_cannot_cover_the_line(db, list_sku, receive, pay, stock):
    list_sku("A")
    receive("A", 1, warehouse_code="WH1")
    receive("A", 3, warehouse_code="WH2")
    pay("O1", [("A", 2)])
    assert stock("A", warehouse_code="WH1") == (1, 0)
    assert stock("A", warehouse_code="WH2") == (3, 2)


def test_low_stock_emitted_once_per_crossing(list_sku, receive, pay, deliver, events):
    list_sku("A", threshold=3)
    receive("A", 5)  # born empty: no alert for the initial zero; 5 > 3 re-arms
    assert events("inventory.LowStock") == []
    pay("O1", [("A", 1)])  # 4 available
    assert events("inventory.LowStock") == []
    pay("O2", [("A", 1)])  # 3 available: crossing
    pay("O3", [("A", 1)])  # 2: still below, no second alert
    assert events("inventory.LowStock") == [
        {"sku_code": "A", "shop_id": SHOP, "available": 3, "threshold": 3, "warehouse_code": "WH1"}
    ]
    receive("A", 10)  # 12 available: re-armed
    pay("O4", [("A", 9)])  # 3 again: second crossing
    assert [e["available"] for e in events("inventory.LowStock")] == [3, 3]


def test_threshold_change_from_catalog_rechecks_the_alert(list_sku, receive, events):
    list_sku("A", threshold=2)
    receive("A", 5)
    list_sku("A", threshold=6)  # listed again with a higher threshold: 5 <= 6
    assert [e["threshold"] for e in events("inventory.LowStock")] == [6]


def _threshold(db, sku):
    from inventory.models import StockItem

    with db.engine.connect() as conn:
        return conn.execute(sa.select(StockItem.low_stock_threshold).where(StockItem.sku_code == sku)).scalar_one()


def test_an_older_catalog_event_arriving_late_does_not_roll_the_threshold_back(db, deliver):
    from ecom_common.events import make_event

    listing = make_event(
        "catalog.ProductListed",
        {
            "product_id": "P1",
            "shop_id": SHOP,
            "skus": [{"sku_code": "A", "list_price_fen": 1000, "low_stock_threshold": 3}],
        },
    )
    change = make_event(
        "catalog.PriceChanged",
        {
            "product_id": "P1",
            "shop_id": SHOP,
            "skus": [{"sku_code": "A", "list_price_fen": 900, "low_stock_threshold": 7}],
        },
    )
    assert change.occurred_at > listing.occurred_at
    # delivered newest first: the price change finds no item yet and creates it with its threshold;
    # the older listing then leaves the newer threshold alone
    deliver(None, None, envelope=change)
    deliver(None, None, envelope=listing)
    assert _threshold(db, "A") == 7
    assert len(movements(db, kind="create")) == 1


def test_a_batch_reads_stock_items_once_but_sees_an_item_created_in_it(db, events):
    """One consumer transaction for several events (a backlog): the stock items of a SKU and the
    shop's policy are read once per transaction, and an item created by the batch itself (a listing
    between two orders) is not hidden by the earlier reading."""
    from ecom_common.consumer import EventConsumer
    from ecom_common.events import make_event
    from inventory.handlers import SUBSCRIPTIONS

    def paid(order_id, sku):
        return make_event(
            "orders.OrderPaid",
            {
                "order_id": order_id,
                "shop_id": SHOP,
                "payable_fen": 1000,
                "paid_at": "2026-11-01T08:00:00Z",
                "lines": [{"sku_code": sku, "quantity": 1}],
            },
        )

    listing = make_event(
        "catalog.ProductListed",
        {
            "product_id": "P9",
            "shop_id": SHOP,
            "skus": [{"sku_code": "NEW", "list_price_fen": 1000, "low_stock_threshold": 0}],
        },
    )
    consumer = EventConsumer(db, SUBSCRIPTIONS[0])
    statements = []
    sa.event.listen(db.engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    assert (
        consumer.handle_batch([paid("O1", "NEW"), listing, paid("O2", "NEW"), paid("O3", "NEW")])
        == [Outcome.HANDLED] * 4
    )
    assert [e["order_id"] for e in events("inventory.StockShortage")] == ["O1", "O2", "O3"]
    # O1: no stock item yet; O2, O3: the listed item, with nothing on hand
    with db.engine.connect() as conn:
        assert (
            conn.execute(
                sa.select(sa.func.count()).select_from(Reservation).where(Reservation.status == "waiting")
            ).scalar_one()
            == 3
        )
    reads = [
        s
        for s in statements
        if s.lstrip().upper().startswith("SELECT") and "stock_items.warehouse_code" in s and "ORDER BY" in s
    ]
    assert len(reads) == 2  # O1's reading, then one after the listing created the item (O2 and O3 share it)
    policy_reads = [s for s in statements if "stock_policies" in s and s.lstrip().upper().startswith("SELECT")]
    assert len(policy_reads) == 1


def test_event_time_reads_z_and_falls_back():
    fallback = datetime(2026, 1, 1, tzinfo=UTC)
    assert event_time("2026-11-01T08:00:00Z", fallback) == datetime(2026, 11, 1, 8, tzinfo=UTC)
    assert event_time(None, fallback) is fallback
    assert event_time("yesterday", fallback) is fallback
