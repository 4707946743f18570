"""Database access: one engine per service, a unit of work, and the tables every service has.

Each service owns its database. Besides its own tables it keeps four that the shared machinery
needs: the transactional outbox, the consumer inbox, Idempotency-Key records and job leases. They
are defined here once (`common_metadata`) and created by each service's first migration.
"""
from __future__ import annotations

import functools
import hashlib
import os
import re
import threading
import time
from contextlib import contextmanager

import sqlalchemy as sa
from sqlalchemy import event as sa_event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from .config import Config

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
UtcDateTime = sa.DateTime(timezone=True)

common_metadata = sa.MetaData()

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

inbox = sa.Table(
    "inbox",
    common_metadata,
    # Keyed by consumer *and* event: two handlers of one event each handle it once.
    sa.Column("consumer", sa.String(120), primary_key=True),
    sa.Column("event_id", sa.String(36), primary_key=True),
    sa.Column("event_type", sa.String(100), nullable=False),
    sa.Column("handled_at", UtcDateTime, nullable=False),
)

idempotency_keys = sa.Table(
    "idempotency_keys",
    common_metadata,
    sa.Column("scope", sa.String(300), primary_key=True),
    sa.Column("key", sa.String(200), primary_key=True),
    sa.Column("request_hash", sa.String(64), nullable=False),
    sa.Column("status_code", sa.Integer, nullable=True),
    sa.Column("response_body", sa.Text, nullable=True),
    sa.Column("created_at", UtcDateTime, nullable=False),
    # Set inside the request's own business transaction: once it is set, the request's changes are
    # committed and a retry must never run it again, even if its response was never stored.
    sa.Column("committed_at", UtcDateTime, nullable=True),
)

job_leases = sa.Table(
    "job_leases",
    common_metadata,
    sa.Column("name", sa.String(100), primary_key=True),
    sa.Column("holder", sa.String(200), nullable=False),
    sa.Column("expires_at", UtcDateTime, nullable=False),
    sa.Column("last_run_at", UtcDateTime, nullable=True),
)


def normalize_url(url: str) -> str:
    # psycopg 3 is the driver we install; accept the plain scheme operators usually write.
    for plain in ("postgresql://", "postgres://"):
        if url.startswith(plain):
            return "postgresql+psycopg://" + url[len(plain):]
    return url


def make_engine(url: str, **kwargs) -> sa.Engine:
    url = normalize_url(url)
    if url.startswith("sqlite"):
        for pool_only in ("pool_size", "max_overflow", "ping_idle_seconds"):
            kwargs.pop(pool_only, None)
        engine = sa.create_engine(url, connect_args={"timeout": 30, "check_same_thread": False}, **kwargs)

        @sa_event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):
            # WAL lets the web and worker processes read while one writes; foreign keys are off by
            # default in SQLite.
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    ping_idle = kwargs.pop("ping_idle_seconds", PING_IDLE_SECONDS)
    engine = sa.create_engine(url, **kwargs)
    _ping_when_idle(engine, ping_idle)
    return engine


# A pooled connection is checked ("SELECT 1") before use only if it sat idle in the pool longer than
# this: `pool_pre_ping` paid that round trip on every checkout, i.e. on every message a consumer
# handles and every request (the saga benchmark's profile, docs/perf-log.md). A connection in steady
# use that the server dropped fails its next statement instead: SQLAlchemy then invalidates the whole
# pool, the request answers 503 (a consumer requeues the message), and the next checkout connects anew.
PING_IDLE_SECONDS = 2.0


def _ping_when_idle(engine: sa.Engine, idle_seconds: float) -> None:
    @sa_event.listens_for(engine, "connect")
    def _connected(dbapi_conn, record):
        record.info["ecom_idle_since"] = time.monotonic()

    @sa_event.listens_for(engine, "checkin")
    def _checked_in(dbapi_conn, record):
        if record is not None:
            record.info["ecom_idle_since"] = time.monotonic()

    @sa_event.listens_for(engine, "checkout")
    def _checked_out(dbapi_conn, record, proxy):
        idle_since = record.info.get("ecom_idle_since")
        if idle_since is not None and time.monotonic() - idle_since <= idle_seconds:
            return
        try:
            engine.dialect.do_ping(dbapi_conn)
        except Exception as exc:
            # the pool discards this connection and checks out (or opens) another
            raise sa.exc.DisconnectionError(f"pooled connection failed its ping: {exc!r}") from exc


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

    def __init__(self):
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
            try:
                os.write(pipe[1], b"x")
            except (BlockingIOError, OSError):  # full (already readable) or closed
                pass

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
            try:
                os.close(fd)
            except OSError:
                pass


class Database:
    """The service's engine and session factory, plus the outbox wake-ups (in-process signal; on
    PostgreSQL also a NOTIFY on `outbox_channel` at every commit that recorded events)."""

    def __init__(self, config: Config, engine: sa.Engine | None = None):
        self.config = config
        self.engine = engine or make_engine(config.database_url, pool_size=config.db_pool_size,
                                            max_overflow=config.db_max_overflow,
                                            ping_idle_seconds=config.db_ping_idle_seconds)
        self.Session = sessionmaker(self.engine, expire_on_commit=False)
        # Set after a commit that recorded events, so that a relay in this process publishes at
        # once instead of waiting for its next poll.
        self.outbox_signal = OutboxSignal()
        # Relays in other processes (the worker, when the event was recorded by a web process) are
        # woken by PostgreSQL: NOTIFY in the transaction, delivered at commit (outbox.RelayWakeup).
        self.outbox_channel = outbox_channel(config)
        self.notifies = self.engine.dialect.name == "postgresql"
        # Relays running in this process (outbox.Relay.run). While there is one, a commit wakes it by
        # the in-process signal alone and sends no NOTIFY: that relay publishes the rows, so waking
        # the others is useless, and the NOTIFY would cost a round trip per consumer transaction
        # (and wake this relay a second time for the same commit).
        self.relays_in_process = 0

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def uow(self) -> "UnitOfWork":
        return UnitOfWork(self)

    def ping(self) -> None:
        with self.engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))

    def dispose(self) -> None:
        self.engine.dispose()
        self.outbox_signal.close()


# The request's Idempotency-Key, marked committed by the transaction that makes its change (built
# once: every keyed POST runs it).
MARK_KEY_COMMITTED = (
    idempotency_keys.update()
    .where(idempotency_keys.c.scope == sa.bindparam("b_scope"), idempotency_keys.c.key == sa.bindparam("b_key"),
           idempotency_keys.c.committed_at.is_(None))
    .values(committed_at=sa.bindparam("b_now", type_=idempotency_keys.c.committed_at.type))
)


class UnitOfWork:
    """One business transaction: the state change and the events it records commit together.

        with db.uow() as uow:
            order = uow.session.get(Order, order_id)
            order.mark_paid(...)
            uow.record(make_event("orders.OrderPaid", {...}))
            uow.commit()

    Leaving the block without commit() rolls everything back, recorded events included: nothing is
    published for a rolled-back change.
    """

    def __init__(self, db: Database):
        self.db = db
        self.session: Session | None = None
        self._events: list[dict] = []  # outbox rows recorded, written by commit()

    def __enter__(self) -> "UnitOfWork":
        self.session = self.db.Session()
        self._events = []
        return self

    def __exit__(self, *exc) -> None:
        try:
            self.session.rollback()
        finally:
            self.session.close()

    def record(self, event) -> None:
        """Add the event to the outbox of this transaction. The rows are written by commit(), all in
        one statement: a consumer batch records an event or more per message, and that is one round
        trip for all of them instead of one each. Still inside the transaction, so nothing changes
        for anyone else (nothing in a service reads back the outbox rows it is writing)."""
        from .outbox import outbox_row

        self._events.append(outbox_row(event, self.db.config.clock.now()))

    def commit(self) -> None:
        from . import context

        recorded = len(self._events)
        if recorded:
            # executemany: rows (and their ids, i.e. the publishing order) in the order recorded.
            self.session.execute(outbox.insert(), self._events)
        claim = context.idempotency_claim()
        if claim is not None:
            scope, key = claim
            self.session.execute(MARK_KEY_COMMITTED, {"b_scope": scope, "b_key": key,
                                                      "b_now": self.db.config.clock.now()})
        if recorded and self.db.notifies and not self.db.relays_in_process:
            # No relay in this process (a web process): wake the worker's relay. Part of the
            # transaction: PostgreSQL delivers it only if the commit succeeds (nothing for a
            # rollback), after the rows are visible, once per transaction however many events.
            self.session.execute(sa.text(f"NOTIFY {self.db.outbox_channel}"))
        # Everything is sent before the COMMIT, so that a connection lost from here on was lost at
        # the commit itself: the one moment when the outcome is unknown to us (the server may have
        # applied it). The HTTP layer says so instead of "nothing was changed".
        self.session.flush()
        try:
            self.session.commit()
        except (sa.exc.OperationalError, sa.exc.InterfaceError):
            context.note_commit(None)
            raise
        context.note_commit(True)
        self._events = []
        if recorded:
            self.db.outbox_signal.set()

    def rollback(self) -> None:
        self.session.rollback()
        self._events = []


@contextmanager
def session_scope(db: Database):
    """A plain read/write session for code that records no events (jobs' bookkeeping, reports)."""
    session = db.Session()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def is_unique_violation(exc: Exception) -> bool:
    if not isinstance(exc, sa.exc.IntegrityError):
        return False
    text = str(exc.orig).lower()
    return "unique" in text or "duplicate key" in text or "primary key" in text


@functools.lru_cache(maxsize=None)
def _insert_ignoring(dialect: str, table: sa.Table, returning: str | None = None):
    """INSERT ... ON CONFLICT DO NOTHING [RETURNING column], built once per table: building a
    statement costs several times the client CPU of executing one already built (whose compiled
    form is cached), and consumers run these for every message."""
    ins = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table).on_conflict_do_nothing()
    return ins.returning(table.c[returning]) if returning else ins


def insert_new(session, table, rows: list[dict], key: str) -> set:
    """INSERT ... ON CONFLICT DO NOTHING of several rows in one statement (PostgreSQL, SQLite); the
    `key` values of the rows that were inserted, i.e. that were not there already. Rows are sent
    sorted by `key`, so that two transactions inserting overlapping keys take their locks in the
    same order (a key another open transaction has just inserted makes this wait for its end)."""
    if not rows:
        return set()
    ins = _insert_ignoring(session.get_bind().dialect.name, table, key)
    # A list of parameter sets with RETURNING: SQLAlchemy sends them as one multi-row INSERT
    # ("insertmanyvalues"), and returns the rows that were inserted.
    return set(session.execute(ins, sorted(rows, key=lambda row: row[key])).scalars())


def insert_ignore(session, table, rows: list[dict] | dict) -> int:
    """INSERT ... ON CONFLICT DO NOTHING (PostgreSQL, SQLite); for one row, returns 1 if it was
    inserted, else 0. Unlike catching IntegrityError it needs no SAVEPOINT around it: the conflict
    does not abort the transaction.

    (The driver's rowcount is -1 for this statement on PostgreSQL/psycopg, so RETURNING decides.)"""
    dialect = session.get_bind().dialect.name
    if isinstance(rows, dict):
        pk = list(table.primary_key.columns)[0]
        return int(session.execute(_insert_ignoring(dialect, table, pk.key), rows).first() is not None)
    session.execute(_insert_ignoring(dialect, table), rows)
    return len(rows)
