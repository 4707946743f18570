"""The broker's connections cut while orders flow through the whole saga: every accepted order
reaches its end state after, and nothing happens twice.

Buyers place and pay orders through the six real services (HTTP, RabbitMQ, PostgreSQL) at a steady
pace. One second in, every connection of this test's namespace (each service's relay, consumer and
scheduler) is closed by the broker, as a broker restart would (`close_broker_connections` closes only
this test's connections: other engineers' tests share the broker, which is never stopped). The
stream goes on during the cut (placing and paying need no broker: events wait in the outboxes) and
for a while after it. Then:

- every accepted order (placed 201 and paid 201) reaches awaiting_shipment, with the timeline
  pending_payment -> paid -> awaiting_shipment exactly once;
- no stock taken twice: per SKU, reserved == the accepted orders' quantities, on hand untouched,
  one reservation and one reserve movement per order line, and the ledger sums to the stock;
- no second charge: exactly one succeeded payment and one payment ledger entry per order, no refund;
- no duplicate shipment: one shipment per order in logistics;
- then every shipment is dispatched: each reservation deducted once (on hand and reserved fall by
  the orders' quantities, one deduct movement per line) and every order shipped.
Duplicates at the wire (a publish whose confirm was lost is published again; an unacked delivery is
redelivered) are absorbed by the inboxes; the report counts them.
"""

from __future__ import annotations

import threading
import time

import pytest
import sqlalchemy as sa

from ecom_common import metrics
from ecom_testkit import Platform, close_broker_connections, scenarios
from ecom_testkit.invariants import (
    assert_each_order_reached,
    assert_no_double_charge,
    assert_no_double_reservation,
    assert_one_shipment_per_order,
    assert_outboxes_drained_and_dlqs_empty,
    count_status,
    wait_each_order_reached,
    wait_reservations,
)

pytestmark = [pytest.mark.integration, pytest.mark.reliability, pytest.mark.timeout(240)]

RATE = 6  # orders placed and paid per second (two HTTP calls each, plus the saga behind them)
AFTER_CUT = 1.5  # seconds the stream goes on once the connections are closed
MIN_ORDERS, MAX_ORDERS = 40, 120
SKUS = {"CUT-1": 400, "CUT-2": 400}  # SKU -> units on hand


def outcomes(outcome: str) -> float:
    return sum(
        sample.value
        for family in metrics.EVENTS_HANDLED.collect()
        for sample in family.samples
        if sample.name.endswith("_total") and sample.labels.get("outcome") == outcome
    )


def test_broker_connections_cut_while_orders_flow_every_order_ends_once(reliability_report):
    from logistics.models import Shipment

    with Platform(scenarios.ALL_SERVICES, settings=scenarios.SAGA_SETTINGS) as p:
        saga = scenarios.Saga(p)
        for sku, units in SKUS.items():
            saga.product(sku, price_fen=9900, stock=units)
        warm = saga.placed_and_paid("CUT-1")  # every consumer up and the saga flowing
        saga.wait_status(warm, "awaiting_shipment")
        accepted: list[tuple[str, str, int]] = [(warm, "CUT-1", 1)]
        refused: list[str] = []
        duplicates_before = outcomes("duplicate")
        cut_done = threading.Event()
        timeline: dict[str, float] = {}

        def produce():
            n = 0
            while len(accepted) < MAX_ORDERS:
                if (
                    cut_done.is_set()
                    and time.monotonic() - timeline["cut_done"] > AFTER_CUT
                    and len(accepted) >= MIN_ORDERS
                ):
                    break
                n += 1
                sku, qty = ("CUT-1", "CUT-2")[n % 2], 1 + n % 3
                placed = saga.place([{"sku_code": sku, "quantity": qty}], buyer=f"buyer{n % 7}")
                if placed.status_code != 201:
                    refused.append(f"place {placed.status_code}: {placed.text[:200]}")
                else:
                    oid = placed.json()["order_id"]
                    paid = saga.pay(oid, buyer=f"buyer{n % 7}")
                    if paid.status_code == 201:
                        accepted.append((oid, sku, qty))
                    else:
                        refused.append(f"pay {paid.status_code}: {paid.text[:200]}")
                time.sleep(1 / RATE)

        producer = threading.Thread(target=produce, daemon=True)
        producer.start()
        time.sleep(1.0)
        accepted_when_cut_began = len(accepted)
        started_cut = time.monotonic()
        closed = close_broker_connections(p.running["orders"].config.bus_prefix)
        timeline["cut_done"] = time.monotonic()
        accepted_when_cut_done = len(accepted)
        cut_done.set()
        # each service's relay and consumer (12 here); a connection reconnecting at that instant may be missed
        assert closed >= len(scenarios.ALL_SERVICES)
        at_end_when_cut_done = count_status(p["orders"].db, [oid for oid, _, _ in accepted], "awaiting_shipment")
        producer.join(180)
        assert not producer.is_alive()
        assert refused == []  # placing and paying never needed the broker
        assert len(accepted) >= MIN_ORDERS and len(accepted) > accepted_when_cut_done

        ids = [oid for oid, _, _ in accepted]
        wait_each_order_reached(p, ids, "awaiting_shipment", timeout=120)
        all_at_end = time.monotonic()
        assert_each_order_reached(p, saga, ids, "awaiting_shipment")
        assert_no_double_reservation(p, accepted, received=SKUS, taken="reserved")
        assert_no_double_charge(p, ids, every_attempt=False)
        assert_one_shipment_per_order(p, ids)

        # Onward: every parcel dispatched; each reservation deducted once, every order shipped.
        with p["logistics"].db.Session() as s:
            shipment_ids = dict(s.execute(sa.select(Shipment.order_id, Shipment.id)).all())
        for n, oid in enumerate(ids):
            saga.dispatch(shipment_ids[oid], f"SF{n:010d}")
        wait_each_order_reached(p, ids, "shipped", timeout=60)
        wait_reservations(p, ids, "deducted")
        assert_no_double_reservation(p, accepted, received=SKUS, taken="deducted")
        assert_one_shipment_per_order(p, ids, dispatched=True)
        assert_outboxes_drained_and_dlqs_empty(p)  # every outbox row confirmed by the broker in the end
        wanted = sum(qty for _, _, qty in accepted)

        reliability_report(
            {
                "scenario": "broker connections cut while orders flow (saga)",
                "proves": "every accepted order reaches its end state after the cut; no stock taken twice, "
                "no second charge, no duplicate shipment",
                "orders_accepted": len(ids),
                "orders_refused": len(refused),
                "rate_per_s": RATE,
                "connections_closed": closed,
                "accepted_when_cut_began": accepted_when_cut_began,
                "accepted_when_cut_done": accepted_when_cut_done,
                "seconds_cutting_with_rabbitmqctl": round(timeline["cut_done"] - started_cut, 2),
                "awaiting_shipment_when_cut_done": at_end_when_cut_done,
                "seconds_from_cut_to_all_awaiting_shipment": round(all_at_end - timeline["cut_done"], 2),
                "units_reserved": wanted,
                "succeeded_payments": len(ids),
                "shipments": len(ids),
                "duplicates_absorbed_by_inboxes": int(outcomes("duplicate") - duplicates_before),
            },
            scenario="saga_broker_cut",
        )
