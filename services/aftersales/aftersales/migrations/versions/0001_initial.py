"""aftersales: shared tables, cases (lines, timeline, claims), complaints (timeline, escalations),
feedback.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""
import sqlalchemy as sa
from alembic import op

from ecom_common.db import BigId, UtcDateTime
from ecom_common.migrations import create_common_tables, drop_common_tables

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_common_tables(op)
    op.create_table(
        "cases",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("order_id", sa.String(40), nullable=False, index=True),
        sa.Column("shop_id", sa.String(64), nullable=False),
        sa.Column("buyer_id", sa.String(120), nullable=False),
        sa.Column("case_type", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("amount_fen", sa.Integer, nullable=False),
        sa.Column("evidence", sa.JSON, nullable=False),
        sa.Column("before_shipment", sa.Boolean, nullable=False),
        sa.Column("shipping_paid_by", sa.String(16), nullable=True),
        sa.Column("return_address", sa.String(500), nullable=True),
        sa.Column("return_carrier", sa.String(64), nullable=True),
        sa.Column("return_tracking_no", sa.String(64), nullable=True),
        sa.Column("received_at", UtcDateTime, nullable=True),
        sa.Column("resellable", sa.Boolean, nullable=True),
        sa.Column("inspection_note", sa.String(1000), nullable=True),
        sa.Column("refund_attempts", sa.Integer, nullable=False),
        sa.Column("refund_failed", sa.Boolean, nullable=False),
        sa.Column("last_refund_error", sa.String(1000), nullable=True),
        sa.Column("refund_id", sa.String(40), nullable=True),
        sa.Column("reship_shipment_id", sa.String(40), nullable=True),
        sa.Column("reship_tracking_no", sa.String(64), nullable=True),
        sa.Column("sla_kind", sa.String(16), nullable=True),
        sa.Column("sla_due_at", UtcDateTime, nullable=True),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
        sa.Column("closed_at", UtcDateTime, nullable=True),
        sa.CheckConstraint("amount_fen >= 0", name="ck_cases_amount_nonneg"),
    )
    op.create_index("ix_cases_shop_created", "cases", ["shop_id", "created_at"])
    op.create_index("ix_cases_buyer_created", "cases", ["buyer_id", "created_at"])
    op.create_index("ix_cases_sla_due", "cases", ["sla_due_at"])
    op.create_table(
        "case_lines",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("case_id", sa.String(40), sa.ForeignKey("cases.id"), nullable=False, index=True),
        sa.Column("sku_code", sa.String(64), nullable=False),
        sa.Column("quantity", sa.Integer, nullable=False),
        sa.Column("unit_price_fen", sa.Integer, nullable=False),
        sa.Column("amount_fen", sa.Integer, nullable=False),
        sa.Column("new_sku_code", sa.String(64), nullable=True),
    )
    op.create_table(
        "case_timeline",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("case_id", sa.String(40), sa.ForeignKey("cases.id"), nullable=False, index=True),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("at", UtcDateTime, nullable=False),
        sa.Column("by", sa.String(120), nullable=False),
        sa.Column("reason", sa.String(1000), nullable=True),
    )
    op.create_table(
        "claims",
        sa.Column("order_id", sa.String(40), primary_key=True),
        sa.Column("sku_code", sa.String(64), primary_key=True),
        sa.Column("bought_qty", sa.Integer, nullable=False),
        sa.Column("cap_fen", sa.Integer, nullable=False),
        sa.Column("claimed_qty", sa.Integer, nullable=False),
        sa.Column("claimed_fen", sa.Integer, nullable=False),
        sa.CheckConstraint("claimed_qty <= bought_qty", name="ck_claims_qty"),
        sa.CheckConstraint("claimed_fen <= cap_fen", name="ck_claims_fen"),
        sa.CheckConstraint("claimed_qty >= 0 AND claimed_fen >= 0", name="ck_claims_nonneg"),
    )
    op.create_table(
        "complaints",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("order_id", sa.String(40), nullable=False),
        sa.Column("shop_id", sa.String(64), nullable=False),
        sa.Column("buyer_id", sa.String(120), nullable=False, index=True),
        sa.Column("tier", sa.String(16), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("milestone", sa.String(32), nullable=False),
        sa.Column("due_at", UtcDateTime, nullable=False),
        sa.Column("met_at", UtcDateTime, nullable=True),
        sa.Column("response", sa.Text, nullable=True),
        sa.Column("resolution", sa.Text, nullable=True),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
    )
    op.create_index("ix_complaints_shop_created", "complaints", ["shop_id", "created_at"])
    op.create_index("ix_complaints_open_due", "complaints", ["status", "due_at"])
    op.create_table(
        "complaint_timeline",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("complaint_id", sa.String(40), sa.ForeignKey("complaints.id"), nullable=False, index=True),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("at", UtcDateTime, nullable=False),
        sa.Column("by", sa.String(120), nullable=False),
        sa.Column("note", sa.Text, nullable=True),
    )
    op.create_table(
        "complaint_escalations",
        sa.Column("complaint_id", sa.String(40), sa.ForeignKey("complaints.id"), primary_key=True),
        sa.Column("kind", sa.String(48), primary_key=True),
        sa.Column("at", UtcDateTime, nullable=False),
        sa.Column("reason", sa.String(500), nullable=False),
    )
    op.create_table(
        "feedback",
        sa.Column("case_id", sa.String(40), sa.ForeignKey("cases.id"), primary_key=True),
        sa.Column("shop_id", sa.String(64), nullable=False, index=True),
        sa.Column("buyer_id", sa.String(120), nullable=False),
        sa.Column("score", sa.Integer, nullable=False),
        sa.Column("comment", sa.String(2000), nullable=True),
        sa.Column("created_at", UtcDateTime, nullable=False),
    )


def downgrade() -> None:
    for table in ("feedback", "complaint_escalations", "complaint_timeline", "complaints", "claims",
                  "case_timeline", "case_lines", "cases"):
        op.drop_table(table)
    drop_common_tables(op)
