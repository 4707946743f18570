"""aftersales: a review's timeline. A review held `pending` (banned words) is published or rejected by
cs/ops of the shop with a reason; each review's life is on its timeline (existing reviews get their
creation entry).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03
"""
import sqlalchemy as sa
from alembic import op

from ecom_common.db import BigId, UtcDateTime

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "review_timeline",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("review_id", sa.String(40), sa.ForeignKey("reviews.id"), nullable=False, index=True),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("at", UtcDateTime, nullable=False),
        sa.Column("by", sa.String(120), nullable=False),
        sa.Column("reason", sa.String(1000), nullable=True),
    )
    op.execute(
        "INSERT INTO review_timeline (review_id, action, status, at, by, reason) "
        "SELECT id, 'review', status, created_at, buyer_id, NULL FROM reviews"
    )


def downgrade() -> None:
    op.drop_table("review_timeline")
