"""Database access: one engine per service, a unit of work, and the tables every service has.

Each service owns its database. Besides its own tables it keeps four that the shared machinery
needs: the transactional outbox, the consumer inbox, Idempotency-Key records and job leases. They
are defined here once (`common_metadata`) and created by each service's first migration.
"""
from __future__ import annotations

import threading
from contextlib import contextmanager

import sqlalchemy as sa
from sqlalchemy import event as sa_event
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
        kwargs.pop("pool_size", None)
        kwargs.pop("max_overflow", None)
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
    return sa.create_engine(url, pool_pre_ping=True, **kwargs)


class Database:
    """The service's engine and session factory, plus the in-process outbox wake-up."""

    def __init__(self, config: Config, engine: sa.Engine | None = None):
        self.config = config
        self.engine = engine or make_engine(config.database_url, pool_size=config.db_pool_size,
                                            max_overflow=config.db_max_overflow)
        self.Session = sessionmaker(self.engine, expire_on_commit=False)
        # Set after a commit that recorded events, so that a relay in this process publishes at
        # once instead of waiting for its next poll.
        self.outbox_signal = threading.Event()

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
        self._recorded = 0

    def __enter__(self) -> "UnitOfWork":
        self.session = self.db.Session()
        self._recorded = 0
        return self

    def __exit__(self, *exc) -> None:
        try:
            self.session.rollback()
        finally:
            self.session.close()

    def record(self, event) -> None:
        from .outbox import outbox_row

        self.session.execute(outbox.insert().values(**outbox_row(event, self.db.config.clock.now())))
        self._recorded += 1

    def commit(self) -> None:
        from . import context

        claim = context.idempotency_claim()
        if claim is not None:
            scope, key = claim
            self.session.execute(
                idempotency_keys.update()
                .where(idempotency_keys.c.scope == scope, idempotency_keys.c.key == key,
                       idempotency_keys.c.committed_at.is_(None))
                .values(committed_at=self.db.config.clock.now())
            )
        self.session.commit()
        if self._recorded:
            self.db.outbox_signal.set()
            self._recorded = 0

    def rollback(self) -> None:
        self.session.rollback()
        self._recorded = 0


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
