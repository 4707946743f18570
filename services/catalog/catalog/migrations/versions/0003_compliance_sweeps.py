"""catalog: compliance sweeps. A sweep re-scans every listed product (queued when a banned word is
added, and periodically); its report lists the products that now break a rule (sweeps.py).

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
        "compliance_sweeps",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("trigger", sa.String(20), nullable=False),
        sa.Column("word", sa.String(50), nullable=True),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("created_by", sa.String(120), nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("holder", sa.String(64), nullable=True),
        sa.Column("lease_until", UtcDateTime, nullable=True),
        sa.Column("finished_at", UtcDateTime, nullable=True),
        sa.Column("scanned", sa.Integer, nullable=False, server_default="0"),
        sa.Column("flagged", sa.Integer, nullable=False, server_default="0"),
        sa.Column("delisted", sa.Integer, nullable=False, server_default="0"),
    )
    op.create_index("ix_compliance_sweeps_status_created", "compliance_sweeps", ["status", "created_at"])
    op.create_table(
        "compliance_findings",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("sweep_id", sa.String(40), sa.ForeignKey("compliance_sweeps.id"), nullable=False),
        sa.Column("product_id", sa.String(40), nullable=False, index=True),
        sa.Column("shop_id", sa.String(64), nullable=False, index=True),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("rules", sa.JSON, nullable=False),
        sa.Column("findings", sa.JSON, nullable=False),
        sa.Column("delisted", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("found_at", UtcDateTime, nullable=False),
        sa.UniqueConstraint("sweep_id", "product_id", name="uq_compliance_finding_product"),
    )


def downgrade() -> None:
    op.drop_table("compliance_findings")
    op.drop_index("ix_compliance_sweeps_status_created", table_name="compliance_sweeps")
    op.drop_table("compliance_sweeps")
