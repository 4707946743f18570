"""inventory: warehouses (province, cost table) and the receiver's province on reservations.

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
        "warehouses",
        sa.Column("shop_id", sa.String(64), primary_key=True),
        sa.Column("code", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("province", sa.String(20), nullable=False),
        sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("costs", sa.JSON, nullable=False),
        sa.Column("updated_by", sa.String(120), nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
    )
    op.add_column("reservations", sa.Column("receiver_province", sa.String(20), nullable=True))


def downgrade() -> None:
    op.drop_column("reservations", "receiver_province")
    op.drop_table("warehouses")
