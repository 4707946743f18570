"""aftersales: reviews are scanned for catalog's banned words; a hit holds the review `pending`
(not public) and is kept on it. Existing reviews are `published` with none.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03
"""
import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("reviews", sa.Column("status", sa.String(16), nullable=False, server_default="published"))
    op.add_column("reviews", sa.Column("banned_words", sa.JSON, nullable=True))
    op.execute("UPDATE reviews SET banned_words = '[]'")
    with op.batch_alter_table("reviews") as batch:
        batch.alter_column("banned_words", existing_type=sa.JSON, nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("reviews") as batch:
        batch.drop_column("banned_words")
        batch.drop_column("status")
