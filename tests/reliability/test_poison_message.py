"""Poison messages on inventory.events: what no retry can fix is dead-lettered at once, what a handler
chokes on is dead-lettered after its retries, and the events queued behind them keep flowing."""

from __future__ import annotations

import time

import pytest

from ecom_common import dlq
from ecom_common.db import inbox
from ecom_common.events import Envelope
from ecom_testkit import Platform, eventually, scenarios

pytestmark = [pytest.mark.integration, pytest.mark.reliability, pytest.mark.timeout(120)]


def test_poison_is_dead_lettered_and_the_rest_of_the_queue_keeps_flowing(reliability_report):
    with Platform(["inventory"], retry_delays=(0.2, 0.5)) as p:
        inv = p["inventory"]
        before = [scenarios.listed(f"PB{i}", f"BEFORE-{i}") for i in range(10)]
        after = [scenarios.listed(f"PA{i}", f"AFTER-{i}") for i in range(30)]
        # An envelope of a handled type whose payload breaks the contract (no shop_id; a producer that
        # skipped make_event's validation): a handler error, retried through the back-off tiers,
        # then dead-lettered.
        broken = Envelope(
            type="ProductListed",
            producer="catalog",
            payload={"product_id": "P-BROKEN", "skus": [{"sku_code": "BROKEN"}]},
        )

        started = time.monotonic()
        scenarios.publish(inv.config, before)
        scenarios.publish(
            inv.config, ["this is not JSON {", '{"hello": "not an envelope"}'], to_queue="inventory.events"
        )
        scenarios.publish(inv.config, [broken])
        scenarios.publish(inv.config, after)

        def dead():
            return dlq.list_dead_letters(inv.config, "inventory.events")

        eventually(lambda: len(dead()) >= 2, timeout=20, message="the unparseable messages dead-lettered")
        at_once = time.monotonic() - started
        eventually(
            lambda: all(scenarios.stock_items(inv.db, f"AFTER-{i}") == 1 for i in range(30)),
            timeout=30,
            message="the events behind the poison handled",
        )
        flowed = time.monotonic() - started

        def three_dead():
            letters = dead()
            return letters if len(letters) == 3 else None

        letters = eventually(three_dead, timeout=20, message="the broken envelope dead-lettered after its retries")
        unparseable = [item for item in letters if item["event_id"] is None]
        retried = [item for item in letters if item["event_id"] == broken.event_id]
        assert len(unparseable) == 2, letters
        assert [item["attempts"] for item in unparseable] == [0, 0], letters
        assert len(retried) == 1 and retried[0]["attempts"] == len(p.retry_delays) + 1, letters
        assert retried[0]["error"]  # the handler's exception, for whoever reads the DLQ
        assert [scenarios.stock_items(inv.db, f"BEFORE-{i}") for i in range(10)] == [1] * 10
        assert scenarios.count(inv.db, inbox) == 40  # the good ones, each once; the poison left no inbox row
        assert scenarios.queue_state(inv.config) == (0, 1)
        reliability_report(
            {
                "scenario": "poison messages",
                "proves": "unparseable -> DLQ at once (0 retries); handler error -> DLQ after its retries; "
                "the rest of the queue keeps flowing",
                "good_events": 40,
                "good_events_handled": 40,
                "unparseable_dead_lettered": len(unparseable),
                "unparseable_attempts": 0,
                "handler_error_attempts": retried[0]["attempts"],
                "seconds_to_dead_letter_unparseable": round(at_once, 2),
                "seconds_to_handle_the_40_good_events": round(flowed, 2),
            },
            scenario="poison_message",
        )
