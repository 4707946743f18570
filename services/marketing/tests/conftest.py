"""Fixtures for the marketing unit and API tests: `config`, `db`, `app`, `client` and `clock` come
from ecom_testkit.plugin (SQLite file + in-memory bus, injectable clock); this file names the
service and drives its handlers through the real consumer."""

from __future__ import annotations

import pytest

from ecom_common.consumer import EventConsumer
from ecom_common.events import make_event


@pytest.fixture
def service_name():
    return "marketing"


@pytest.fixture
def deliver(db):
    """deliver(routing_key, payload): handle one event as the worker would (inbox + handler)."""
    from marketing.handlers import SUBSCRIPTIONS

    consumer = EventConsumer(db, SUBSCRIPTIONS[0])

    def _deliver(routing_key, payload, event=None):
        event = event or make_event(routing_key, payload)
        consumer.handle(event)
        return event

    return _deliver
