"""Database access: one engine per service, a unit of work, and two of the tables every service has.

Each service owns its database. Besides its own tables it keeps four that the shared machinery
needs, each declared by its owner on `tables.common_metadata` and created by each service's first
migration: the consumer inbox and job leases (here), the transactional outbox (`outbox.py`) and
Idempotency-Key records (`idempotency.py`).
"""

from __future__ import annotations

import contextvars
import functools
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

import sqlalchemy as sa
from sqlalchemy import event as sa_event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection

from . import context
from .config import Config
from .outbox import OutboxSignal, OutboxWrites, outbox_channel

# Services' models and migrations import the shared column types and metadata from here.
from .tables import BigId, UtcDateTime, common_metadata  # noqa: F401

if TYPE_CHECKING:
    from .events import Envelope

inbox = sa.Table(
    "inbox",
    common_metadata,
    # Keyed by consumer *and* event: two handlers of one event each handle it once.
    sa.Column("consumer", sa.String(120), primary_key=True),
    sa.Column("event_id", sa.String(36), primary_key=True),
    sa.Column("event_type", sa.String(100), nullable=False),
    sa.Column("handled_at", UtcDateTime, nullable=False),
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
            return "postgresql+psycopg://" + url[len(plain) :]
    return url


def make_engine(url: str, **kwargs: Any) -> sa.Engine:
    url = normalize_url(url)
    if url.startswith("sqlite"):
        for pool_only in ("pool_size", "max_overflow", "ping_idle_seconds"):
            kwargs.pop(pool_only, None)
        engine = sa.create_engine(url, connect_args={"timeout": 30, "check_same_thread": False}, **kwargs)

        @sa_event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
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
    def _connected(dbapi_conn: DBAPIConnection, record: ConnectionPoolEntry) -> None:
        record.info["ecom_idle_since"] = time.monotonic()

    @sa_event.listens_for(engine, "checkin")
    def _checked_in(dbapi_conn: DBAPIConnection | None, record: ConnectionPoolEntry | None) -> None:
        if record is not None:
            record.info["ecom_idle_since"] = time.monotonic()

    @sa_event.listens_for(engine, "checkout")
    def _checked_out(dbapi_conn: DBAPIConnection, record: ConnectionPoolEntry, proxy: PoolProxiedConnection) -> None:
        idle_since = record.info.get("ecom_idle_since")
        if idle_since is not None and time.monotonic() - idle_since <= idle_seconds:
            return
        try:
            engine.dialect.do_ping(dbapi_conn)
        except Exception as exc:
            # the pool discards this connection and checks out (or opens) another
            raise sa.exc.DisconnectionError(f"pooled connection failed its ping: {exc!r}") from exc


class Participant(Protocol):
    """Something else a unit of work's transaction writes (e.g. `idempotency.KeyClaim`): its
    statements go in just before the COMMIT, and it hears when the COMMIT succeeded."""

    def before_commit(self, session: Session) -> None: ...

    def after_commit(self) -> None: ...


# The participants enlisted by `Database.enlisting` in this thread (or task): (database, participant).
_enlisted: contextvars.ContextVar[tuple[tuple[Database, Participant], ...]] = contextvars.ContextVar(
    "ecom_enlisted_participants", default=()
)


class Database:
    """The service's engine and session factory, plus the outbox wake-ups (in-process signal; on
    PostgreSQL also a NOTIFY on `outbox_channel` at every commit that recorded events)."""

    def __init__(self, config: Config, engine: sa.Engine | None = None) -> None:
        self.config = config
        self.engine = engine or make_engine(
            config.database_url,
            pool_size=config.db_pool_size,
            max_overflow=config.db_max_overflow,
            ping_idle_seconds=config.db_ping_idle_seconds,
        )
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

    def uow(self, *participants: Participant) -> UnitOfWork:
        """A unit of work whose commit also writes `participants` and those enlisted here (`enlisting`)."""
        enlisted = tuple(p for db, p in _enlisted.get() if db is self)
        return UnitOfWork(self, (*enlisted, *participants))

    @contextmanager
    def enlisting(self, participant: Participant) -> Iterator[None]:
        """Every unit of work opened on this database inside the block, in this thread (or task),
        commits `participant` too: how a caller that does not open the units of work itself (a
        decorator around a view) gets its statements into their transaction, e.g. the HTTP request's
        Idempotency-Key (`idempotency.idempotent`)."""
        token = _enlisted.set((*_enlisted.get(), (self, participant)))
        try:
            yield
        finally:
            _enlisted.reset(token)

    def ping(self) -> None:
        with self.engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))

    def dispose(self) -> None:
        self.engine.dispose()
        self.outbox_signal.close()


class UnitOfWork:
    """One business transaction: the state change and the events it records commit together.

        with db.uow() as uow:
            order = uow.session.get(Order, order_id)
            order.mark_paid(...)
            uow.record(make_event("orders.OrderPaid", {...}))
            uow.commit()

    Leaving the block without commit() rolls everything back, recorded events included: nothing is
    published for a rolled-back change.

    commit() writes, in the transaction, the recorded events (`outbox.OutboxWrites`, the first
    participant) and then each participant's statements (`participants`, given by the code that
    opened the unit of work: `Database.uow`), and tells each of them once the COMMIT succeeded.
    """

    def __init__(self, db: Database, participants: tuple[Participant, ...] = ()) -> None:
        self.db = db
        self._session: Session | None = None
        # The time of this business transaction (the configured clock, read when it opens): every
        # timestamp it writes is this one, so tests can move time on (ecom_common.clock).
        self.now: datetime = db.config.clock.now()
        self.outbox = OutboxWrites(db)
        self.participants: tuple[Participant, ...] = (self.outbox, *participants)

    def __enter__(self) -> UnitOfWork:
        self._session = self.db.Session()
        self.now = self.db.config.clock.now()
        self.outbox.discard()
        return self

    @property
    def session(self) -> Session:
        """The transaction's session, from entering the `with` block on."""
        assert self._session is not None, "the unit of work is not open"
        return self._session

    def __exit__(self, *exc: object) -> None:
        session = self.session
        try:
            session.rollback()
        finally:
            session.close()

    def record(self, event: Envelope) -> None:
        """Add the event to the outbox of this transaction (written by commit())."""
        self.outbox.record(event)

    def commit(self) -> None:
        session = self.session
        for participant in self.participants:
            participant.before_commit(session)
        # Everything is sent before the COMMIT, so that a connection lost from here on was lost at
        # the commit itself: the one moment when the outcome is unknown to us (the server may have
        # applied it). The HTTP layer says so instead of "nothing was changed".
        session.flush()
        try:
            session.commit()
        except (sa.exc.OperationalError, sa.exc.InterfaceError):
            context.note_commit(None)
            raise
        context.note_commit(True)
        for participant in self.participants:
            participant.after_commit()

    def rollback(self) -> None:
        self.session.rollback()
        self.outbox.discard()


@contextmanager
def session_scope(db: Database) -> Iterator[Session]:
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


@functools.cache
def _insert_ignoring(dialect: str, table: sa.Table, returning: str | None = None) -> sa.Insert:
    """INSERT ... ON CONFLICT DO NOTHING [RETURNING column], built once per table: building a
    statement costs several times the client CPU of executing one already built (whose compiled
    form is cached), and consumers run these for every message."""
    ins = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table).on_conflict_do_nothing()
    return ins.returning(table.c[returning]) if returning else ins


def insert_new(session: Session, table: sa.Table, rows: list[dict[str, Any]], key: str) -> set[Any]:
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


def insert_ignore(session: Session, table: sa.Table, rows: list[dict[str, Any]] | dict[str, Any]) -> int:
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
