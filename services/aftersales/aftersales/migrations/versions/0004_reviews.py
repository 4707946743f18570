"""aftersales: reviews and NPS of delivered orders.

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
        "reviews",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("order_id", sa.String(40), nullable=False, unique=True),
        sa.Column("shop_id", sa.String(64), nullable=False),
        sa.Column("buyer_id", sa.String(120), nullable=False, index=True),
        sa.Column("stars", sa.Integer, nullable=False),
        sa.Column("text", sa.String(2000), nullable=True),
        sa.Column("nps", sa.Integer, nullable=True),
        sa.Column("images", sa.JSON, nullable=False),
        sa.Column("risk_keywords", sa.JSON, nullable=False),
        sa.Column("reply", sa.String(2000), nullable=True),
        sa.Column("replied_by", sa.String(120), nullable=True),
        sa.Column("replied_at", UtcDateTime, nullable=True),
        sa.Column("created_at", UtcDateTime, nullable=False),
    )
    op.create_index("ix_reviews_shop_created", "reviews", ["shop_id", "created_at"])


def downgrade() -> None:
    op.drop_table("reviews")
