"""aftersales: disputes (one appeal of a rejected case, the platform's arbitration) and their record.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03
"""
import sqlalchemy as sa
from alembic import op

from ecom_common.db import BigId, UtcDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "disputes",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("case_id", sa.String(40), sa.ForeignKey("cases.id"), nullable=False, unique=True),
        sa.Column("order_id", sa.String(40), nullable=False),
        sa.Column("shop_id", sa.String(64), nullable=False),
        sa.Column("buyer_id", sa.String(120), nullable=False, index=True),
        sa.Column("reason", sa.String(2000), nullable=False),
        sa.Column("evidence", sa.JSON, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("decided_by", sa.String(120), nullable=True),
        sa.Column("decision_reason", sa.String(2000), nullable=True),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("decided_at", UtcDateTime, nullable=True),
    )
    op.create_index("ix_disputes_shop_created", "disputes", ["shop_id", "created_at"])
    op.create_table(
        "dispute_timeline",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("dispute_id", sa.String(40), sa.ForeignKey("disputes.id"), nullable=False, index=True),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("at", UtcDateTime, nullable=False),
        sa.Column("by", sa.String(120), nullable=False),
        sa.Column("reason", sa.String(2000), nullable=True),
    )


def downgrade() -> None:
    for table in ("dispute_timeline", "disputes"):
        op.drop_table(table)
