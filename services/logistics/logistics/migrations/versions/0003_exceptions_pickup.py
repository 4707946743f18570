"""logistics: the exception's handling (new estimated arrival, resolution) and the carrier's pickup
(揽收) time with its deadline.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

from ecom_common.db import UtcDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

COLUMNS = (
    ("pickup_due_at", UtcDateTime),
    ("picked_up_at", UtcDateTime),
    ("estimated_arrival_at", UtcDateTime),
    ("exception_resolved_at", UtcDateTime),
)


def upgrade() -> None:
    with op.batch_alter_table("shipments") as batch:
        for name, type_ in COLUMNS:
            batch.add_column(sa.Column(name, type_, nullable=True))
        batch.add_column(sa.Column("exception_resolution", sa.String(500), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("shipments") as batch:
        batch.drop_column("exception_resolution")
        for name, _ in reversed(COLUMNS):
            batch.drop_column(name)
