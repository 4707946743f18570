"""The migrations (run by the `db` fixture) build exactly the tables models.py declares."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from ecom_common.db import common_metadata
from logistics.models import metadata


def test_the_migrations_match_the_models(db):
    with db.engine.connect() as conn:
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": True}), [metadata, common_metadata]
        )
    assert diff == []
