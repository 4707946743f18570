"""logistics: promotion periods copied from marketing's events (period_id, version, cancelled).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03
"""
import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("promotion_periods") as batch:
        batch.add_column(sa.Column("period_id", sa.String(40), nullable=True))
        batch.add_column(sa.Column("version", sa.Integer, nullable=True))
        batch.add_column(sa.Column("cancelled", sa.Boolean, nullable=False, server_default=sa.false()))
        batch.create_unique_constraint("uq_promotion_periods_period_id", ["period_id"])


def downgrade() -> None:
    with op.batch_alter_table("promotion_periods") as batch:
        batch.drop_constraint("uq_promotion_periods_period_id", type_="unique")
        batch.drop_column("cancelled")
        batch.drop_column("version")
        batch.drop_column("period_id")
