"""aftersales: multi-level review. A case whose refund is above AFTERSALES_SECOND_APPROVAL_FEN waits,
after its first approval, for a second one by a different person (ops or admin of the shop).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03
"""
import sqlalchemy as sa
from alembic import op

from ecom_common.db import UtcDateTime

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("cases", sa.Column("approval_stage", sa.String(32), nullable=True))
    op.add_column("cases", sa.Column("first_approved_by", sa.String(120), nullable=True))
    op.add_column("cases", sa.Column("first_approved_at", UtcDateTime, nullable=True))
    op.add_column("cases", sa.Column("second_approved_by", sa.String(120), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        for column in ("second_approved_by", "first_approved_at", "first_approved_by", "approval_stage"):
            batch.drop_column(column)
