"""aftersales: a serious or crisis complaint's solution may refund (through a refund-only case, whose
id is kept) and carry a compensation coupon (asked of marketing with CompensationCouponRequested).

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
    op.add_column("complaints", sa.Column("refund_case_id", sa.String(40), nullable=True))
    op.add_column("complaints", sa.Column("refund_fen", sa.Integer, nullable=True))
    op.add_column("complaints", sa.Column("coupon_fen", sa.Integer, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("complaints") as batch:
        batch.drop_column("coupon_fen")
        batch.drop_column("refund_fen")
        batch.drop_column("refund_case_id")
