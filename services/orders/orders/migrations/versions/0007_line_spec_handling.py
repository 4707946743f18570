"""orders: each line keeps catalog's SKU spec (规格) and handling marks (["fragile", "liquid"])
at placing (null when the SKU has none), which OrderReadyToShip carries to logistics' pick list.

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
    op.add_column("order_lines", sa.Column("spec", sa.JSON, nullable=True))
    op.add_column("order_lines", sa.Column("handling", sa.JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("order_lines") as batch:
        batch.drop_column("handling")
        batch.drop_column("spec")
