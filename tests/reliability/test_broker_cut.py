"""The broker's connections cut while events flow: everything is delivered after, nothing twice.

A producer records catalog.ProductListed events at a steady pace (catalog's outbox -> relay ->
RabbitMQ -> inventory's consumer on PostgreSQL). In the middle of the stream, every connection of
this test's namespace (relay, consumer, and the rest of its workers) is closed by the broker, as a
broker restart would (`close_broker_connections` closes only this test's connections: other tests
share the broker). The test then waits for every event to be handled and checks each changed state
exactly once. Duplicates are expected at the wire (a publish whose confirm was lost is published
again); the inbox absorbs them, and the report counts them.
"""

from __future__ import annotations

import threading
import time

import pytest

from ecom_common import metrics
from ecom_common.db import inbox
from ecom_common.outbox import outbox
from ecom_testkit import Platform, close_broker_connections, eventually, scenarios

pytestmark = [pytest.mark.integration, pytest.mark.reliability, pytest.mark.timeout(180)]

RATE = 50  # events recorded per second
AFTER_CUT = 2.0  # seconds the stream goes on once the connections are closed
MAX_EVENTS = 1500


def duplicates_absorbed() -> float:
    return metrics.EVENTS_HANDLED.labels(
        "inventory", "inventory.events", "catalog.ProductListed", "duplicate"
    )._value.get()


def test_broker_connections_cut_mid_stream_everything_delivered_once(reliability_report):
    with Platform(["catalog", "inventory"]) as p:
        cat, inv = p["catalog"], p["inventory"]
        scenarios.record(cat, scenarios.listed("P0", "WARM"))
        eventually(lambda: scenarios.stock_items(inv.db, "WARM") == 1, timeout=30)
        dup_before = duplicates_absorbed()
        skus: list[str] = []
        cut_done = threading.Event()
        timeline: dict[str, float] = {}

        def produce():
            # Until the cut is over and AFTER_CUT more seconds: the cut always lands mid-stream,
            # however long rabbitmqctl takes on this machine.
            while len(skus) < MAX_EVENTS:
                if cut_done.is_set() and time.monotonic() - timeline["cut_done"] > AFTER_CUT:
                    break
                sku = f"FLOW-{len(skus)}"
                scenarios.record(cat, scenarios.listed(f"P{len(skus) + 1}", sku))
                skus.append(sku)
                time.sleep(1 / RATE)

        producer = threading.Thread(target=produce, daemon=True)
        started = time.monotonic()
        producer.start()
        time.sleep(1.0)
        recorded_at_cut = len(skus)
        handled_at_cut = scenarios.count(inv.db, inbox) - 1
        closed = close_broker_connections(cat.config.bus_prefix)
        timeline["cut_done"] = time.monotonic()
        recorded_when_cut_done = len(skus)
        cut_done.set()
        assert closed >= 2  # at least catalog's relay and inventory's consumer
        producer.join(120)
        assert not producer.is_alive()
        events = len(skus)
        assert events > recorded_when_cut_done  # the stream went on after the cut
        eventually(
            lambda: scenarios.count(inv.db, inbox) == events + 1,
            timeout=90,
            message="every event handled after the cut",
        )
        delivered = time.monotonic()
        # nothing twice: a state change per event, a ledger row per SKU, every outbox row confirmed
        assert [scenarios.stock_items(inv.db, s) for s in skus] == [1] * events
        assert [scenarios.movements(inv.db, s) for s in skus] == [1] * events
        assert scenarios.count(cat.db, outbox, outbox.c.published_at.is_(None)) == 0
        reliability_report(
            {
                "scenario": "broker connections cut mid-stream",
                "proves": "every event delivered after the cut, each state change once (inbox absorbs duplicates)",
                "events": events,
                "rate_per_s": RATE,
                "connections_closed": closed,
                "recorded_when_cut_began": recorded_at_cut,
                "handled_when_cut_began": handled_at_cut,
                "recorded_when_cut_done": recorded_when_cut_done,
                "seconds_cutting_with_rabbitmqctl": round(timeline["cut_done"] - started - 1.0, 2),
                "handled_in_the_end": events,
                "duplicates_absorbed_by_inbox": int(duplicates_absorbed() - dup_before),
                "seconds_from_cut_to_all_delivered": round(delivered - timeline["cut_done"], 2),
            },
            scenario="broker_cut",
        )
