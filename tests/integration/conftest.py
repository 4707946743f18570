"""Integration fixtures: the real RabbitMQ and PostgreSQL (`infrastructure`, ecom_testkit/servers.py)
and the services driven over HTTP (`saga`, ecom_testkit/saga.py)."""

from __future__ import annotations

import pytest

from ecom_testkit import Platform
from ecom_testkit.saga import ALL_SERVICES, CARRIER_SECRET, Saga
from ecom_testkit.servers import infrastructure  # noqa: F401  (the session fixture, autouse)


@pytest.fixture
def saga():
    with Platform(
        ALL_SERVICES,
        settings={"LOGISTICS_CARRIER_WEBHOOK_SECRET": CARRIER_SECRET, "BILLING_SANDBOX_CONFIRM_DELAY_MS": "20"},
    ) as p:
        yield Saga(p)
