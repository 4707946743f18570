"""The real RabbitMQ and PostgreSQL of the integration and reliability suites.

With a Docker engine reachable (and no AMQP_URL/DATABASE_URL given) testcontainers starts both;
otherwise the machine's own servers at AMQP_URL / DATABASE_URL (defaults: 127.0.0.1 guest/guest and
postgres@127.0.0.1/test). When CI=true a missing broker or database fails the run; elsewhere the
tests are skipped with the reason. A suite's conftest imports the `infrastructure` fixture by name.
"""

from __future__ import annotations

import os

import pytest
import sqlalchemy as sa
from kombu import Connection

from .infra import amqp_url, database_url


def _docker_engine() -> bool:
    try:
        import docker

        docker.from_env(timeout=2).ping()
        return True
    except Exception:
        return False


def _start_containers(stack):
    from testcontainers.postgres import PostgresContainer
    from testcontainers.rabbitmq import RabbitMqContainer

    rabbit = stack.enter_context(RabbitMqContainer("rabbitmq:3.13-management"))
    pg = stack.enter_context(PostgresContainer("postgres:16", driver="psycopg"))
    os.environ["AMQP_URL"] = f"amqp://guest:guest@{rabbit.get_container_host_ip()}:{rabbit.get_exposed_port(5672)}//"
    os.environ["DATABASE_URL"] = pg.get_connection_url()


def _check() -> list[str]:
    problems = []
    try:
        with Connection(amqp_url(), connect_timeout=3) as conn:
            conn.ensure_connection(max_retries=1)
    except Exception as exc:
        problems.append(f"RabbitMQ at {amqp_url()}: {exc!r}")
    try:
        engine = sa.create_engine(database_url())
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        engine.dispose()
    except Exception as exc:
        problems.append(f"PostgreSQL at {database_url()}: {exc!r}")
    return problems


@pytest.fixture(scope="session", autouse=True)
def infrastructure():
    from contextlib import ExitStack

    with ExitStack() as stack:
        if not (os.environ.get("AMQP_URL") or os.environ.get("DATABASE_URL")) and _docker_engine():
            _start_containers(stack)
        problems = _check()
        if problems:
            message = "integration tests need RabbitMQ and PostgreSQL: " + "; ".join(problems)
            if os.environ.get("CI", "").lower() == "true":
                pytest.fail(message, pytrace=False)
            pytest.skip(message)
        yield
