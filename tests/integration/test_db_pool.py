"""Pooled PostgreSQL connections are pinged before use only after sitting idle (ECOM_DB_PING_IDLE_SECONDS,
2 s): an idle connection the server dropped is replaced unseen; one in steady use that the server
dropped fails its next statement once, after which the pool connects anew."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from ecom_common.db import make_engine
from ecom_testkit import scratch_database

pytestmark = pytest.mark.integration


def backend_pid(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()


def terminate(url: str, pid: int) -> None:
    killer = sa.create_engine(url)
    with killer.connect() as conn:
        assert conn.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar_one()
    killer.dispose()


def test_an_idle_connection_that_the_server_dropped_is_replaced_by_the_ping():
    with scratch_database() as url:
        # every checkout counts as idle
        engine = make_engine(url, pool_size=1, max_overflow=0, ping_idle_seconds=0)
        try:
            first = backend_pid(engine)
            terminate(url, first)
            assert backend_pid(engine) != first  # no error: the ping found it dead
        finally:
            engine.dispose()


def test_a_connection_in_steady_use_is_not_pinged_and_a_dropped_one_fails_once():
    with scratch_database() as url:
        engine = make_engine(url, pool_size=1, max_overflow=0, ping_idle_seconds=3600)
        try:
            first = backend_pid(engine)
            terminate(url, first)
            with pytest.raises(sa.exc.OperationalError):
                backend_pid(engine)
            assert backend_pid(engine) != first
        finally:
            engine.dispose()
