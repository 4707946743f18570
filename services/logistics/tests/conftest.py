"""Fixtures for the logistics unit and API tests: `config`, `db`, `app`, `client` and `clock` come from
ecom_testkit.plugin (SQLite file + in-memory bus, injectable clock); this file names the service and
its carrier webhook secret."""

from __future__ import annotations

import pytest

WEBHOOK_SECRET = "carrier-secret-for-tests"


@pytest.fixture
def service_name():
    return "logistics"


@pytest.fixture
def service_settings():
    return {"LOGISTICS_CARRIER_WEBHOOK_SECRET": WEBHOOK_SECRET}
