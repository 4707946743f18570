"""orders: each line keeps catalog's special-goods flag at placing (`no_7day_return`: custom-made or
fresh goods, 不支持七天无理由退货), which aftersales reads when a buyer asks for a no_reason return.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("order_lines", sa.Column("no_7day_return", sa.Boolean, nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("order_lines") as batch:
        batch.drop_column("no_7day_return")
