"""marketing: compensation coupons aftersales asks for, one per complaint (the primary key decides).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03
"""
import sqlalchemy as sa
from alembic import op

from ecom_common.db import UtcDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "compensation_coupons",
        sa.Column("complaint_id", sa.String(64), primary_key=True),
        sa.Column("shop_id", sa.String(64), nullable=False),
        sa.Column("buyer_id", sa.String(120), nullable=False),
        sa.Column("order_id", sa.String(64), nullable=False),
        sa.Column("amount_fen", sa.Integer, nullable=False),
        sa.Column("claim_id", sa.String(40), nullable=True),
        sa.Column("issued_at", UtcDateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("compensation_coupons")
