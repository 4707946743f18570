"""console: saved filters (a person's named filters of a list page).

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
        "console_saved_filters",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("staff_id", sa.String(40), sa.ForeignKey("console_staff.id"), nullable=False),
        sa.Column("page", sa.String(32), nullable=False),
        sa.Column("name", sa.String(40), nullable=False),
        sa.Column("query", sa.String(500), nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.UniqueConstraint("staff_id", "page", "name", name="uq_console_saved_filters_name"),
    )
    op.create_index("ix_console_saved_filters_staff_id", "console_saved_filters", ["staff_id"])


def downgrade() -> None:
    op.drop_table("console_saved_filters")
