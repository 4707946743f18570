"""aftersales: buyer notifications (messages, their timeline, buyer preferences, the sandbox SMS
provider's books and switch).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03
"""
import sqlalchemy as sa
from alembic import op

from ecom_common.db import BigId, UtcDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "messages",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("dedupe_key", sa.String(200), nullable=False, unique=True),
        sa.Column("buyer_id", sa.String(120), nullable=True),
        sa.Column("shop_id", sa.String(64), nullable=True),
        sa.Column("order_id", sa.String(40), nullable=True),
        sa.Column("template", sa.String(48), nullable=False),
        sa.Column("category", sa.String(16), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("variables", sa.JSON, nullable=False),
        sa.Column("body", sa.Text, nullable=True),
        sa.Column("phone_masked", sa.String(40), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("not_before", UtcDateTime, nullable=False),
        sa.Column("last_error", sa.String(1000), nullable=True),
        sa.Column("source", sa.String(80), nullable=False),
        sa.Column("event_id", sa.String(64), nullable=True),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
        sa.Column("sent_at", UtcDateTime, nullable=True),
    )
    op.create_index("ix_messages_due", "messages", ["status", "not_before"])
    op.create_index("ix_messages_buyer_created", "messages", ["buyer_id", "created_at"])
    op.create_index("ix_messages_shop_created", "messages", ["shop_id", "created_at"])
    op.create_table(
        "message_timeline",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("message_id", sa.String(40), sa.ForeignKey("messages.id"), nullable=False, index=True),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("at", UtcDateTime, nullable=False),
        sa.Column("by", sa.String(120), nullable=False),
        sa.Column("reason", sa.String(1000), nullable=True),
    )
    op.create_table(
        "buyer_preferences",
        sa.Column("buyer_id", sa.String(120), primary_key=True),
        sa.Column("marketing_opt_out", sa.Boolean, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
    )
    op.create_table(
        "sandbox_sms",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("message_id", sa.String(40), nullable=False, index=True),
        sa.Column("phone_masked", sa.String(40), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("accepted", sa.Boolean, nullable=False),
        sa.Column("error", sa.String(500), nullable=True),
        sa.Column("at", UtcDateTime, nullable=False),
    )
    op.create_table(
        "sandbox_switches",
        sa.Column("name", sa.String(32), primary_key=True),
        sa.Column("fail", sa.Boolean, nullable=False),
        sa.Column("error", sa.String(500), nullable=True),
        sa.Column("updated_at", UtcDateTime, nullable=False),
        sa.Column("updated_by", sa.String(120), nullable=False),
    )


def downgrade() -> None:
    for table in ("sandbox_switches", "sandbox_sms", "buyer_preferences", "message_timeline", "messages"):
        op.drop_table(table)
