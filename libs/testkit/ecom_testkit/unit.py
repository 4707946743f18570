"""Unit tests: a service on a SQLite file of its own and kombu's in-memory transport (events stay in
the outbox table, where `recorded_events` reads them)."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import sqlalchemy as sa

from ecom_common.clock import OffsetClock
from ecom_common.config import PORTS, Config
from ecom_common.db import Database
from ecom_common.outbox import outbox

from .tokens import TEST_SECRET


def unit_config(service: str, tmp_path: Path, **overrides) -> Config:
    kwargs = dict(
        service=service,
        database_url=f"sqlite:///{tmp_path / (service + '.sqlite')}",
        broker_url="memory://",
        jwt_secret=TEST_SECRET,
        peers={name: f"http://127.0.0.1:{port}" for name, port in PORTS.items()},
        retry_delays=(0.05, 0.1),
        clock=OffsetClock(),
        testing=True,
    )
    kwargs.update(overrides)
    return Config(**kwargs)


# Cursors a client can craft for a list keyed by one column: valid base64 JSON lists of one value
# that no column holds (an object, a list, a bool, an integer past 64 bits, a string with a NUL).
CRAFTED_CURSORS = [
    base64.urlsafe_b64encode(json.dumps([value]).encode()).decode().rstrip("=")
    for value in ({"a": 1}, [1], True, 2**70, "\x00")
]


def recorded_events(db: Database, routing_key: str | None = None) -> list[dict]:
    """Envelopes written to the outbox, oldest first (unit tests assert on what would be published)."""
    stmt = sa.select(outbox.c.body).order_by(outbox.c.id)
    if routing_key:
        stmt = stmt.where(outbox.c.routing_key == routing_key)
    with db.engine.connect() as conn:
        return [json.loads(row.body) for row in conn.execute(stmt)]
