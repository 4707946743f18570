"""catalog: the shared tables (outbox, inbox, idempotency keys, job leases).

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""
from alembic import op

from ecom_common.migrations import create_common_tables, drop_common_tables

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_common_tables(op)


def downgrade() -> None:
    drop_common_tables(op)

