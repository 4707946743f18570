"""Test support shared by every service's tests, the integration and reliability suites and the
benchmarks: a dev-only package (installed by `make install`, never in the image; see
deploy/tests/test_image.py). Split by concern, one module each (README.md, "Tests", has the table):
tokens, unit, plugin (the per-service pytest fixtures), infra and servers (the machine's RabbitMQ and
PostgreSQL), platform and saga (real services in this process), waiting, broker and proxy (fault
injection), scenarios and world (the reliability scenarios), and the tables of single suites
(tenancy_table, orders_support, deploytools).

The names below are the ones tests import (`from ecom_testkit import Platform, eventually`).
"""

from .broker import PrivateRabbitMQ, close_broker_connections
from .infra import (
    DEFAULT_AMQP_URL,
    DEFAULT_DATABASE_URL,
    amqp_url,
    create_schema,
    database_url,
    delete_bus_namespace,
    drop_schema,
    scratch_database,
    with_search_path,
)
from .platform import HTTP_TIMEOUT, Platform, RunningService
from .proxy import TcpProxy
from .tokens import TEST_SECRET, auth, token
from .unit import CRAFTED_CURSORS, recorded_events, unit_config
from .waiting import eventually

__all__ = [
    "CRAFTED_CURSORS",
    "DEFAULT_AMQP_URL",
    "DEFAULT_DATABASE_URL",
    "HTTP_TIMEOUT",
    "TEST_SECRET",
    "Platform",
    "PrivateRabbitMQ",
    "RunningService",
    "TcpProxy",
    "amqp_url",
    "auth",
    "close_broker_connections",
    "create_schema",
    "database_url",
    "delete_bus_namespace",
    "drop_schema",
    "eventually",
    "recorded_events",
    "scratch_database",
    "token",
    "unit_config",
    "with_search_path",
]
