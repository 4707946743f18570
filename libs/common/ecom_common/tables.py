"""The metadata and column types of the tables every service keeps for the shared machinery.

Each table is declared by the module that owns it, on `common_metadata`: the outbox in `outbox.py`,
Idempotency-Key records in `idempotency.py`, the consumer inbox and job leases in `db.py`.
`migrations.create_common_tables` creates them all in each service's first migration.
"""

from __future__ import annotations

import sqlalchemy as sa

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
UtcDateTime = sa.DateTime(timezone=True)

common_metadata = sa.MetaData()
