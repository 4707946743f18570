"""Transactional outbox: events are rows written with the state change, published by a relay.

This module owns the `outbox` table, what a commit does for it and how the relay is woken.
`UnitOfWork.record(event)` hands the event to the unit of work's `OutboxWrites`, which inserts the
rows in the business transaction, with a `NOTIFY` on the service's `outbox_channel` for the relays of
other processes (PostgreSQL), and sets the in-process `OutboxSignal` once the commit succeeded.

The relay claims unpublished rows in batches (`FOR UPDATE SKIP LOCKED` on PostgreSQL, so several
relays can run), publishes them with publisher confirms, and marks a row published only after the
broker confirmed it. A failed publish bumps `attempts` and pushes `available_at` back; nothing is
skipped or dropped. A row may be published twice (confirm lost in a connection cut): consumers are
idempotent by event_id. It waits between passes on the signal and, on PostgreSQL, a LISTEN on the
channel (`RelayWakeup`).

On RabbitMQ the relay publishes a whole batch and then waits for the broker's confirms of all of it
(`ConfirmTracker`), instead of one round trip per message: the profile of `make bench` showed ~90%
of the relay's time waiting on each confirm in turn (before/after figures: docs/perf-log.md).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
import os
import re
import select
import threading
import time
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from kombu.connection import Connection
from kombu.messaging import Producer
from sqlalchemy.orm import Session

from . import bus, metrics
from .config import Config
from .tables import BigId, UtcDateTime, common_metadata

if TYPE_CHECKING:  # db.py imports this module (a Database keeps its outbox's wake-ups), not the reverse
    import psycopg
    from amqp.channel import Channel as AmqpChannel

    from .db import Database
    from .events import Envelope

log = logging.getLogger("ecom.outbox")

outbox = sa.Table(
    "outbox",
    common_metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("event_id", sa.String(36), nullable=False, unique=True),
    sa.Column("event_type", sa.String(100), nullable=False),
    sa.Column("routing_key", sa.String(200), nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("available_at", UtcDateTime, nullable=False),
    sa.Column("published_at", UtcDateTime, nullable=True),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("last_error", sa.Text, nullable=True),
)
# Only unpublished rows are ever scanned by the relay: a partial index keeps that cheap however
# long the table grows.
sa.Index(
    "ix_outbox_unpublished",
    outbox.c.available_at,
    outbox.c.id,
    postgresql_where=outbox.c.published_at.is_(None),
    sqlite_where=outbox.c.published_at.is_(None),
)


def outbox_row(event: Envelope, now: datetime) -> dict[str, Any]:
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


def outbox_channel(config: Config) -> str:
    """The PostgreSQL NOTIFY channel of a service's outbox: `ecom_outbox_<service>` plus the bus
    prefix (tests and benchmarks share one database; each namespace has its own relays). Lowercase
    letters, digits and `_` only (it is written into LISTEN/NOTIFY as an identifier), at most 63
    characters (PostgreSQL's identifier length; longer names end in a hash so they stay distinct)."""
    name = re.sub(r"[^a-z0-9_]+", "_", f"ecom_outbox_{config.service}_{config.bus_prefix}".lower()).strip("_")
    if len(name) > 63:
        name = f"{name[:50]}_{hashlib.sha1(name.encode()).hexdigest()[:12]}"
    return name


class OutboxSignal(threading.Event):
    """The in-process outbox wake-up: a threading.Event that a relay can also wait on with
    `select()` next to its LISTEN socket (`fileno()`: the read end of a pipe, made on first use, that
    `set()` writes a byte to and `clear()` empties)."""

    def __init__(self) -> None:
        super().__init__()
        self._pipe: tuple[int, int] | None = None
        self._pipe_lock = threading.Lock()

    def fileno(self) -> int:
        with self._pipe_lock:
            if self._pipe is None:
                r, w = os.pipe()
                os.set_blocking(r, False)
                os.set_blocking(w, False)
                self._pipe = (r, w)
                if self.is_set():
                    os.write(w, b"x")
            return self._pipe[0]

    def set(self) -> None:
        super().set()
        pipe = self._pipe
        if pipe is not None:
            with contextlib.suppress(BlockingIOError, OSError):  # full (already readable) or closed
                os.write(pipe[1], b"x")

    def clear(self) -> None:
        super().clear()
        pipe = self._pipe
        if pipe is not None:
            try:
                while os.read(pipe[0], 4096):
                    pass
            except (BlockingIOError, OSError):
                pass

    def close(self) -> None:
        with self._pipe_lock:
            pipe, self._pipe = self._pipe, None
        for fd in pipe or ():
            with contextlib.suppress(OSError):
                os.close(fd)


class OutboxWrites:
    """The events one unit of work records, and what its commit does for them (the unit of work's
    first participant, `db.UnitOfWork`): the rows are written in the business transaction, with a
    NOTIFY for the relays of other processes; once committed, the relay of this process is woken."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.rows: list[dict[str, Any]] = []

    def record(self, event: Envelope) -> None:
        """The rows are written by before_commit, all in one statement: a consumer batch records an
        event or more per message, and that is one round trip for all of them instead of one each.
        Still inside the transaction, so nothing changes for anyone else (nothing in a service reads
        back the outbox rows it is writing)."""
        self.rows.append(outbox_row(event, self.db.config.clock.now()))

    def before_commit(self, session: Session) -> None:
        if not self.rows:
            return
        # executemany: rows (and their ids, i.e. the publishing order) in the order recorded.
        session.execute(outbox.insert(), self.rows)
        if self.db.notifies and not self.db.relays_in_process:
            # No relay in this process (a web process): wake the worker's relay. Part of the
            # transaction: PostgreSQL delivers it only if the commit succeeds (nothing for a
            # rollback), after the rows are visible, once per transaction however many events.
            session.execute(sa.text(f"NOTIFY {self.db.outbox_channel}"))

    def after_commit(self) -> None:
        if self.rows:
            self.rows = []
            self.db.outbox_signal.set()

    def discard(self) -> None:
        self.rows = []


MARK_PUBLISHED = (
    outbox.update()
    .where(outbox.c.id.in_(sa.bindparam("b_ids", expanding=True)))
    .values(published_at=sa.bindparam("b_now", type_=outbox.c.published_at.type))
)


def backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(60, 0.5 * 2 ** min(attempts, 7)))


CONFIRM_TIMEOUT = 30.0


class MessagesNacked(Exception):
    pass


class ConfirmTracker:
    """Publisher confirms of one AMQP channel, collected as they come (RabbitMQ numbers the
    messages published on a channel in confirm mode 1, 2, 3, ...; an ack or nack may cover every
    tag up to its own with `multiple`)."""

    def __init__(self, channel: AmqpChannel) -> None:
        self.channel = channel
        self.last_tag = 0
        self.acked: set[int] = set()
        self.nacked: set[int] = set()
        self.settled_upto = 0  # every tag <= this one is acked or nacked
        channel.confirm_select()
        channel.events["basic_ack"].add(self._on_ack)
        channel.events["basic_nack"].add(self._on_nack)

    def _settle(self, into: set[int], tag: int, multiple: bool) -> None:
        # Confirms may come out of order (a nack for a full queue at once, the ack of a persisted
        # message after its fsync): settled_upto only moves over an unbroken run of settled tags.
        if multiple:
            into.update(
                t for t in range(self.settled_upto + 1, tag + 1) if t not in self.acked and t not in self.nacked
            )
        else:
            into.add(tag)
        while self.settled_upto + 1 in self.acked or self.settled_upto + 1 in self.nacked:
            self.settled_upto += 1

    def _on_ack(self, tag: int, multiple: bool) -> None:
        self._settle(self.acked, tag, multiple)

    def _on_nack(self, tag: int, multiple: bool) -> None:
        self._settle(self.nacked, tag, multiple)

    def next_tag(self) -> int:
        self.last_tag += 1
        return self.last_tag

    def wait(self, upto: int, timeout: float = CONFIRM_TIMEOUT) -> None:
        """Until the broker has acked or nacked every message up to tag `upto`."""
        deadline = time.monotonic() + timeout
        while self.settled_upto < upto:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no confirm from the broker within {timeout}s")
            self.channel.connection.drain_events(timeout=remaining)


class OutboxListener:
    """`LISTEN <outbox channel>` on a connection of its own (a raw psycopg connection taken from the
    engine and detached from its pool, in autocommit), whose socket a relay can select() on."""

    def __init__(self, db: Database) -> None:
        self.db = db
        raw = db.engine.raw_connection()
        try:
            conn = raw.driver_connection
            assert conn is not None  # a connection just checked out of the pool is open
            raw.detach()  # never goes back to the pool in LISTEN/autocommit state
            conn.rollback()  # the pool's pre-ping may have opened a transaction
            conn.autocommit = True
            conn.execute(f"LISTEN {db.outbox_channel}")
        except BaseException:
            raw.invalidate()
            raise
        self.conn: psycopg.Connection[Any] = conn

    def fileno(self) -> int:
        return self.conn.fileno()

    def consume(self) -> int:
        """Read every notification that has arrived (without waiting); raises if the connection is lost."""
        return sum(1 for _ in self.conn.notifies(timeout=0))

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.conn.close()


class RelayWakeup:
    """How the relay waits between passes: until a commit that recorded events, at most the poll interval.

    A commit in this process sets `db.outbox_signal`. On PostgreSQL a commit in a process without a
    relay (e.g. `OrderPlaced` recorded by a gunicorn worker) NOTIFYs the service's outbox channel, so
    the relay LISTENs on it and select()s on that socket and the signal's pipe, with the poll interval
    as timeout: an event recorded by a web process is published at once instead of ~half a poll
    interval later on average. If LISTEN cannot be set up or its connection is lost, the relay polls
    (as on SQLite) and tries to LISTEN again every RETRY_LISTEN seconds."""

    RETRY_LISTEN = 5.0

    def __init__(self, db: Database, interval: float) -> None:
        self.db = db
        self.interval = interval
        self.listener: OutboxListener | None = None
        self._next_try = 0.0

    @property
    def listening(self) -> bool:
        return self.listener is not None

    def listen(self) -> None:
        """Set up LISTEN if it is not (PostgreSQL only; failures mean polling until the next try)."""
        if self.listener is not None or not self.db.notifies or time.monotonic() < self._next_try:
            return
        try:
            self.listener = OutboxListener(self.db)
            log.debug("relay listening on %s", self.db.outbox_channel)
        except Exception as exc:
            self._next_try = time.monotonic() + self.RETRY_LISTEN
            log.warning(
                "relay could not LISTEN on %s, polling every %.1fs: %r", self.db.outbox_channel, self.interval, exc
            )

    def wait(self) -> None:
        signal = self.db.outbox_signal
        self.listen()
        if self.listener is None:
            signal.wait(self.interval)
        else:
            try:
                waiting_on: list[OutboxListener | OutboxSignal] = [self.listener, signal]
                readable, _, _ = select.select(waiting_on, [], [], self.interval)
                if self.listener in readable:
                    self.listener.consume()
            except Exception as exc:
                log.warning("relay lost its LISTEN connection, polling: %r", exc)
                self.lost()
        signal.clear()

    def lost(self) -> None:
        self.close()
        self._next_try = time.monotonic() + self.RETRY_LISTEN

    def close(self) -> None:
        if self.listener is not None:
            self.listener.close()
            self.listener = None


# A row the relay claimed: id, event_id, routing_key, body, attempts.
ClaimedRow = sa.Row[int, str, str, str, int]


class Relay:
    def __init__(self, db: Database, stop: threading.Event | None = None) -> None:
        self.db = db
        self.config = db.config
        self.stop = stop or threading.Event()
        self.topology = bus.topology_for(self.config)
        self.wakeup: RelayWakeup | None = None  # while run() runs

    # One pass -------------------------------------------------------------------------------
    @functools.cached_property
    def _claim_statement(self) -> sa.Select[Any, Any, Any, Any, Any]:
        # Built once (a pass of the relay runs it, and building costs more than executing).
        stmt = (
            sa.select(outbox.c.id, outbox.c.event_id, outbox.c.routing_key, outbox.c.body, outbox.c.attempts)
            .where(
                outbox.c.published_at.is_(None),
                outbox.c.available_at <= sa.bindparam("b_now", type_=outbox.c.available_at.type),
            )
            .order_by(outbox.c.id)
            .limit(self.config.relay_batch)
        )
        if self.db.dialect == "postgresql":
            stmt = stmt.with_for_update(skip_locked=True)
        return stmt

    def claim(self, session: Session, now: datetime) -> Sequence[ClaimedRow]:
        return session.execute(self._claim_statement, {"b_now": now}).all()

    def connect(self) -> Connection:
        """The relay's broker connection: on RabbitMQ without per-publish confirm waits, because the
        relay waits for a whole batch's confirms itself (`ConfirmTracker`)."""
        return bus.connect(self.config, role="relay", confirm_publish=False)

    def _tracker(self, producer: Producer) -> ConfirmTracker | None:
        channel = producer.channel
        if self.config.embedded_bus or getattr(channel.connection, "confirm_publish", True):
            return None  # the embedded bus has no confirms; a confirm_publish channel waits per message
        tracker = getattr(self, "_confirms", None)
        if tracker is None or tracker.channel is not channel:
            tracker = self._confirms = ConfirmTracker(channel)
        return tracker

    def publish_batch(self, producer: Producer) -> int:
        """Publish one batch; returns how many rows were published (confirmed by the broker)."""
        now = self.config.clock.now()
        session = self.db.Session()
        try:
            rows = self.claim(session, now)
            if not rows:
                session.rollback()
                return 0
            tracker = self._tracker(producer)
            sent: list[int] = []
            failed, error = None, None
            if tracker is None:
                try:
                    for row in rows:
                        bus.publish_raw(
                            producer, self.topology.exchange, row.routing_key, row.body, message_id=row.event_id
                        )
                        sent.append(row.id)
                except Exception as exc:
                    failed, error = [rows[len(sent)]], exc
            else:
                tags: list[int] = []
                try:
                    for row in rows:
                        bus.publish_raw(
                            producer, self.topology.exchange, row.routing_key, row.body, message_id=row.event_id
                        )
                        tags.append(tracker.next_tag())
                    tracker.wait(tags[-1])
                except Exception as exc:
                    error = exc
                # Only what the broker acked counts as published; the rest stays for the next pass.
                # (After an error the caller reconnects: a new channel gets a new tracker.)
                sent = [row.id for row, tag in zip(rows, tags, strict=False) if tag in tracker.acked]
                nacked = [row for row, tag in zip(rows, tags, strict=False) if tag in tracker.nacked]
                tracker.acked.difference_update(tags)
                tracker.nacked.difference_update(tags)
                if nacked:
                    failed = nacked
                    error = error or MessagesNacked(f"the broker refused {len(nacked)} message(s)")
                elif error is not None:
                    unconfirmed = [row for row in rows if row.id not in set(sent)]
                    failed = unconfirmed[:1]
            for row in failed or []:
                session.execute(
                    outbox.update()
                    .where(outbox.c.id == row.id)
                    .values(
                        attempts=row.attempts + 1,
                        last_error=repr(error)[:2000],
                        available_at=now + backoff(row.attempts + 1),
                    )
                )
            self._mark(session, sent)
            session.commit()
            metrics.OUTBOX_PUBLISHED.labels(self.config.service).inc(len(sent))
            if error is not None:
                raise error
            return len(sent)
        finally:
            session.close()

    def _mark(self, session: Session, ids: list[int]) -> None:
        if ids:
            session.execute(MARK_PUBLISHED, {"b_ids": ids, "b_now": self.config.clock.now()})

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
        wakeup = self.wakeup = RelayWakeup(self.db, self.config.relay_poll_interval)
        self.db.relays_in_process += 1  # commits in this process now wake this relay by the signal alone
        try:
            while not self.stop.is_set():
                try:
                    with self.connect() as conn:
                        conn.ensure_connection(max_retries=1)
                        channel = conn.channel()
                        self.topology.declare(channel)
                        producer = Producer(channel)
                        log.info("relay connected", extra={"broker": conn.as_uri()})
                        delay = 0.5
                        # LISTEN before the first pass: nothing committed after that pass is missed.
                        wakeup.listen()
                        while not self.stop.is_set():
                            self.drain(producer)
                            if not self.config.embedded_bus:
                                conn.heartbeat_check()
                            # Woken at once by a commit with events (this process: the signal; any
                            # process on PostgreSQL: NOTIFY); else after the poll interval.
                            wakeup.wait()
                except Exception as exc:  # broker or database away: back off and reconnect
                    if self.stop.is_set():
                        break
                    log.warning("relay error, reconnecting in %.1fs: %r", delay, exc)
                    self.stop.wait(delay)
                    delay = min(delay * 2, 15)
        finally:
            self.db.relays_in_process -= 1
            wakeup.close()


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
