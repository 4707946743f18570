"""orders: presale from the SKU (catalog's presale_ship_days on the line, the most on the order).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("orders", sa.Column("presale_ship_days", sa.Integer, nullable=True))
    op.add_column("order_lines", sa.Column("presale_ship_days", sa.Integer, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("order_lines") as batch:
        batch.drop_column("presale_ship_days")
    with op.batch_alter_table("orders") as batch:
        batch.drop_column("presale_ship_days")
