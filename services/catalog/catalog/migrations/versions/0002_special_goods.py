"""catalog: special goods. A SKU may be custom-made or fresh (`no_7day_return`: not returnable
without a reason, 不支持七天无理由退货) or sold on presale (`presale_ship_days`: the promised days to
ship, 预计N天内发货, 1..60; null for goods in stock).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("skus", sa.Column("no_7day_return", sa.Boolean, nullable=False, server_default=sa.false()))
    op.add_column("skus", sa.Column("presale_ship_days", sa.Integer, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("skus") as batch:
        batch.drop_column("presale_ship_days")
        batch.drop_column("no_7day_return")
