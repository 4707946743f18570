"""Transactional outbox: events are rows written with the state change, published by a relay.

`UnitOfWork.record(event)` inserts the row in the business transaction. The relay claims unpublished
rows in batches (`FOR UPDATE SKIP LOCKED` on PostgreSQL, so several relays can run), publishes each
with publisher confirms, and marks it published only after the broker confirmed. A failed publish
bumps `attempts` and pushes `available_at` back; nothing is skipped or dropped. A row may be
published twice (confirm lost in a connection cut): consumers are idempotent by event_id.
"""
from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timedelta

import sqlalchemy as sa
from kombu import Producer

from . import bus, metrics
from .db import Database, outbox

log = logging.getLogger("ecom.outbox")


def outbox_row(event, now: datetime) -> dict:
    return dict(
        event_id=event.event_id,
        event_type=event.type,
        routing_key=event.routing_key,
        body=event.to_json(),
        created_at=now,
        available_at=now,
        published_at=None,
        attempts=0,
    )


def backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(60, 0.5 * 2 ** min(attempts, 7)))


class Relay:
    def __init__(self, db: Database, stop: threading.Event | None = None):
        self.db = db
        self.config = db.config
        self.stop = stop or threading.Event()
        self.topology = bus.topology_for(self.config)

    # One pass -------------------------------------------------------------------------------
    def claim(self, session, now: datetime) -> list:
        stmt = (
            sa.select(outbox.c.id, outbox.c.event_id, outbox.c.routing_key, outbox.c.body, outbox.c.attempts)
            .where(outbox.c.published_at.is_(None), outbox.c.available_at <= now)
            .order_by(outbox.c.id)
            .limit(self.config.relay_batch)
        )
        if self.db.dialect == "postgresql":
            stmt = stmt.with_for_update(skip_locked=True)
        return session.execute(stmt).all()

    def publish_batch(self, producer: Producer) -> int:
        """Publish one batch; returns how many rows were published."""
        now = self.config.clock.now()
        session = self.db.Session()
        try:
            rows = self.claim(session, now)
            if not rows:
                session.rollback()
                return 0
            sent: list[int] = []
            try:
                for row in rows:
                    bus.publish_raw(producer, self.topology.exchange, row.routing_key, row.body,
                                    message_id=row.event_id)
                    sent.append(row.id)
            except Exception as exc:
                failed = rows[len(sent)]
                session.execute(
                    outbox.update()
                    .where(outbox.c.id == failed.id)
                    .values(attempts=failed.attempts + 1, last_error=repr(exc)[:2000],
                            available_at=now + backoff(failed.attempts + 1))
                )
                self._mark(session, sent)
                session.commit()
                raise
            self._mark(session, sent)
            session.commit()
            metrics.OUTBOX_PUBLISHED.labels(self.config.service).inc(len(sent))
            return len(sent)
        finally:
            session.close()

    def _mark(self, session, ids: list[int]) -> None:
        if ids:
            session.execute(
                outbox.update().where(outbox.c.id.in_(ids)).values(published_at=self.config.clock.now())
            )

    def drain(self, producer: Producer) -> int:
        total = 0
        while not self.stop.is_set():
            n = self.publish_batch(producer)
            total += n
            if n < self.config.relay_batch:
                break
        return total

    # The loop ---------------------------------------------------------------------------------
    def run(self) -> None:
        delay = 0.5
        while not self.stop.is_set():
            try:
                with bus.connect(self.config, role="relay") as conn:
                    conn.ensure_connection(max_retries=1)
                    channel = conn.channel()
                    self.topology.declare(channel)
                    producer = Producer(channel)
                    log.info("relay connected", extra={"broker": conn.as_uri()})
                    delay = 0.5
                    while not self.stop.is_set():
                        self.drain(producer)
                        if not self.config.embedded_bus:
                            conn.heartbeat_check()
                        # Woken at once by a commit in this process; polling covers other processes.
                        self.db.outbox_signal.wait(self.config.relay_poll_interval)
                        self.db.outbox_signal.clear()
            except Exception as exc:  # broker or database away: back off and reconnect
                if self.stop.is_set():
                    break
                log.warning("relay error, reconnecting in %.1fs: %r", delay, exc)
                self.stop.wait(delay)
                delay = min(delay * 2, 15)


def pending_count(db: Database) -> int:
    with db.engine.connect() as conn:
        return conn.execute(
            sa.select(sa.func.count()).select_from(outbox).where(outbox.c.published_at.is_(None))
        ).scalar_one()


def wait_until_published(db: Database, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pending_count(db) == 0:
            return True
        time.sleep(0.05)
    return False
