"""analytics: kpi_alerts, one row per alert raised (shop, day, KPI).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

from ecom_common.db import UtcDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "kpi_alerts",
        sa.Column("shop_id", sa.String(length=64), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("kpi", sa.String(length=32), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("bound", sa.Float(), nullable=False),
        sa.Column("direction", sa.String(length=8), nullable=False),
        sa.Column("raised_at", UtcDateTime, nullable=False),
        sa.PrimaryKeyConstraint("shop_id", "day", "kpi"),
    )


def downgrade() -> None:
    op.drop_table("kpi_alerts")
