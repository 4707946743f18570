"""The per-service fixtures every service's unit and API tests share (registered in pytest.ini with
`-p ecom_testkit.plugin`). A service's tests/conftest.py names its service and, if it needs them,
its settings; it keeps there only what is its own (fakes of its peers, steps of its lifecycle):

    @pytest.fixture
    def service_name():
        return "logistics"

    @pytest.fixture
    def service_settings():
        return {"LOGISTICS_CARRIER_WEBHOOK_SECRET": WEBHOOK_SECRET}

Then `config` (SQLite file + memory bus, `unit_config`), `db` (migrated by the service's real
migrations), `app`, `client` (Flask's test client) and `clock` (the config's, movable) are there.
A conftest overrides any of them by defining a fixture of the same name (catalog copies a migrated
template instead of migrating per test).
"""

from __future__ import annotations

import pytest

from .unit import unit_config


@pytest.fixture
def service_name() -> str:
    pytest.fail(
        "the per-service fixtures need the service's name: define a `service_name` fixture in its tests/conftest.py",
        pytrace=False,
    )


@pytest.fixture
def service_settings() -> dict[str, str]:
    """Service settings (`<SERVICE>_*`) of the unit config; none by default."""
    return {}


@pytest.fixture
def service_def(service_name):
    from ecom_common.service import load

    return load(service_name)


@pytest.fixture
def config(service_name, service_settings, tmp_path):
    return unit_config(service_name, tmp_path, settings=dict(service_settings))


@pytest.fixture
def db(service_def, config):
    from ecom_common.db import Database

    service_def.migrate(config)
    database = Database(config)
    yield database
    database.dispose()


@pytest.fixture
def app(service_def, config, db):
    return service_def.create_app(config, db)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def clock(config):
    return config.clock
