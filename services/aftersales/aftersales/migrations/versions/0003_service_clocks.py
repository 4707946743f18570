"""aftersales: service tickets (owner, first response / solution / resolution clocks), follow-ups,
service clock escalations.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03
"""
import sqlalchemy as sa
from alembic import op

from ecom_common.db import BigId, UtcDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "service_tickets",
        sa.Column("kind", sa.String(16), primary_key=True),
        sa.Column("ref_id", sa.String(40), primary_key=True),
        sa.Column("shop_id", sa.String(64), nullable=False, index=True),
        sa.Column("buyer_id", sa.String(120), nullable=False),
        sa.Column("order_id", sa.String(40), nullable=False),
        sa.Column("owner", sa.String(120), nullable=True),
        sa.Column("owner_since", UtcDateTime, nullable=True),
        sa.Column("opened_at", UtcDateTime, nullable=False),
        sa.Column("first_response_at", UtcDateTime, nullable=True),
        sa.Column("solution_at", UtcDateTime, nullable=True),
        sa.Column("resolved_at", UtcDateTime, nullable=True),
    )
    op.create_index("ix_service_tickets_open", "service_tickets", ["resolved_at", "opened_at"])
    op.create_table(
        "follow_ups",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("ref_id", sa.String(40), nullable=False),
        sa.Column("entry", sa.String(16), nullable=False),
        sa.Column("channel", sa.String(16), nullable=True),
        sa.Column("text", sa.String(2000), nullable=False),
        sa.Column("at", UtcDateTime, nullable=False),
        sa.Column("by", sa.String(120), nullable=False),
    )
    op.create_index("ix_follow_ups_ref", "follow_ups", ["kind", "ref_id"])
    op.create_table(
        "service_escalations",
        sa.Column("kind", sa.String(16), primary_key=True),
        sa.Column("ref_id", sa.String(40), primary_key=True),
        sa.Column("milestone", sa.String(24), primary_key=True),
        sa.Column("at", UtcDateTime, nullable=False),
    )


def downgrade() -> None:
    for table in ("service_escalations", "follow_ups", "service_tickets"):
        op.drop_table(table)
