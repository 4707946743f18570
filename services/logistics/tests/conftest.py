"""Fixtures for the logistics unit and API tests: SQLite file + in-memory bus, injectable clock."""
from __future__ import annotations

import pytest

from ecom_common.db import Database
from ecom_testkit import unit_config

from logistics.app import SERVICE

WEBHOOK_SECRET = "carrier-secret-for-tests"


@pytest.fixture
def config(tmp_path):
    return unit_config("logistics", tmp_path, settings={"LOGISTICS_CARRIER_WEBHOOK_SECRET": WEBHOOK_SECRET})


@pytest.fixture
def db(config):
    SERVICE.migrate(config)
    database = Database(config)
    yield database
    database.dispose()


@pytest.fixture
def app(config, db):
    return SERVICE.create_app(config, db)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def clock(config):
    return config.clock
