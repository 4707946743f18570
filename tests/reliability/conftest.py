"""Reliability scenarios: the integration suite's servers (same `infrastructure` fixture: the
machine's RabbitMQ/PostgreSQL or testcontainers) and a report of each scenario's figures.

Each test records what it measured with `reliability_report(name, figures)`; the figures are merged
into bench/results/reliability.json (`make test-reliability` then renders docs/reliability.md's table
from it with `python -m bench.reliability_report`).
"""

from __future__ import annotations

import json
import os
import platform
from datetime import UTC, datetime
from pathlib import Path

import pytest

# The integration suite's session fixture (the real RabbitMQ and PostgreSQL), and the two-shop world
# of the tenancy and security scenarios. The scenarios' helpers are ecom_testkit.scenarios.
from ecom_testkit import Platform
from ecom_testkit.saga import ALL_SERVICES
from ecom_testkit.servers import infrastructure  # noqa: F401  (the session fixture, autouse)
from ecom_testkit.world import PLATFORM_SETTINGS, seed_world

REPO = Path(__file__).resolve().parents[2]
REPORT = REPO / "bench" / "results" / "reliability.json"


@pytest.fixture
def reliability_report(request):
    def write(figures: dict, scenario: str | None = None) -> None:
        name = scenario or request.node.name
        REPORT.parent.mkdir(parents=True, exist_ok=True)
        try:
            data = json.loads(REPORT.read_text())
        except (FileNotFoundError, ValueError):
            data = {}
        data.setdefault("scenarios", {})[name] = {
            "test": request.node.nodeid,
            "at": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": {"cpu_count": os.cpu_count(), "python": platform.python_version()},
            **figures,
        }
        REPORT.write_text(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")

    return write


@pytest.fixture
def private_broker():
    """A RabbitMQ node of this test's own (`ecom_testkit.PrivateRabbitMQ`: its own node name,
    AMQP and distribution ports, data, logs and config in a temporary directory), started, which the
    test may stop, kill (SIGKILL) and start at will; the machine's shared broker is never touched.
    Teardown always stops the node (or kills what is left of it) and removes its directory. Without
    rabbitmq-server installed the test is skipped, or fails when CI=true."""
    from ecom_testkit import PrivateRabbitMQ

    if PrivateRabbitMQ.scripts_dir() is None:
        message = "rabbitmq-server is not installed: this scenario needs a RabbitMQ node of its own"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    rabbit = PrivateRabbitMQ()
    try:
        rabbit.start()
        yield rabbit
    finally:
        rabbit.close()


@pytest.fixture(scope="module")
def two_shop_world():
    """One populated platform per test module (module scope: each module that asks gets its own,
    so one module's writes never reach another's): `seed_world`'s two shops, as (platform, ids by
    shop, the log output the seeding wrote through the services' own masking formatter)."""
    import io
    import logging

    with Platform(ALL_SERVICES, settings=PLATFORM_SETTINGS) as platform:
        root = logging.getLogger()
        written = io.StringIO()
        tap = logging.StreamHandler(written)
        tap.setFormatter(root.handlers[0].formatter)
        root.addHandler(tap)
        try:
            ids = seed_world(platform)
        finally:
            root.removeHandler(tap)
        yield platform, ids, written.getvalue()
