"""Schema migrations per service with alembic.

Each service keeps `<service>/migrations/` (env.py calls `run_env`). `upgrade(config, path)` is what
`make run`, `ecom migrate` and the test fixtures call.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import sqlalchemy as sa
from alembic import command, context
from alembic.config import Config as AlembicConfig

from . import idempotency, outbox  # noqa: F401 (they declare their tables on common_metadata)
from .db import make_engine, normalize_url
from .tables import common_metadata


class Operations(Protocol):
    """What the common tables need of alembic's `op` (a module proxy, not an `Operations`)."""

    def get_bind(self) -> sa.Connection: ...


def alembic_config(migrations_dir: Path, database_url: str) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(migrations_dir))
    cfg.set_main_option("sqlalchemy.url", normalize_url(database_url).replace("%", "%%"))
    return cfg


def upgrade(migrations_dir: Path, database_url: str, revision: str = "head") -> None:
    if database_url.startswith("sqlite:///"):
        Path(database_url[len("sqlite:///") :]).parent.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(migrations_dir, database_url), revision)


def run_env(target_metadata: sa.MetaData) -> None:
    """Body of every service's migrations/env.py."""
    url = context.config.get_main_option("sqlalchemy.url")
    assert url is not None  # alembic_config sets it
    engine = make_engine(url)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=[target_metadata, common_metadata],
            render_as_batch=connection.dialect.name == "sqlite",  # SQLite cannot ALTER most things
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


def create_common_tables(op: Operations) -> None:
    """Called by each service's first migration: outbox, inbox, idempotency keys, job leases."""
    bind = op.get_bind()
    common_metadata.create_all(bind)


def drop_common_tables(op: Operations) -> None:
    common_metadata.drop_all(op.get_bind())
