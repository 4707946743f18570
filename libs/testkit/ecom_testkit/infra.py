"""The machine's RabbitMQ and PostgreSQL as tests use them: their URLs (AMQP_URL / DATABASE_URL or
the local defaults), a PostgreSQL schema per test, and the cleanup of a test's bus namespace."""

from __future__ import annotations

import os
import uuid
from contextlib import contextmanager, suppress
from urllib.parse import quote

import sqlalchemy as sa

DEFAULT_AMQP_URL = "amqp://guest:guest@127.0.0.1:5672//"
DEFAULT_DATABASE_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def amqp_url() -> str:
    return os.environ.get("AMQP_URL", DEFAULT_AMQP_URL)


def database_url() -> str:
    return os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL)


def with_search_path(url: str, schema: str) -> str:
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}options={quote('-csearch_path=' + schema)}"


def create_schema(base_url: str, schema: str) -> str:
    engine = sa.create_engine(base_url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    engine.dispose()
    return with_search_path(base_url, schema)


def drop_schema(base_url: str, schema: str) -> None:
    engine = sa.create_engine(base_url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    engine.dispose()


def delete_bus_namespace(broker_url: str, prefix: str, retry_tiers: int = 8) -> None:
    """Delete a test's exchange and queues. `retry_tiers` is an upper bound: deleting a retry queue
    that was never declared is harmless, forgetting one that was leaks it on the broker."""
    from kombu import Connection

    from ecom_common.topology import EXCHANGE, Topology

    topology = Topology(prefix, retry_tiers=retry_tiers)
    with Connection(broker_url) as conn:
        channel = conn.channel()
        for name in topology.all_queue_names():
            try:
                channel.queue_delete(name)
            except Exception:
                channel = conn.channel()
        with suppress(Exception):
            channel.exchange_delete(topology.name(EXCHANGE))


@contextmanager
def scratch_database(prefix: str = "t"):
    """A PostgreSQL schema of its own for one test, dropped afterwards; yields its URL."""
    base = database_url()
    schema = f"{prefix}{uuid.uuid4().hex[:10]}"
    url = create_schema(base, schema)
    try:
        yield url
    finally:
        drop_schema(base, schema)
