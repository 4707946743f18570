"""logistics: the carrier's actual cost of a shipment (fen), for cost per parcel and statements.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("shipments") as batch:
        batch.add_column(sa.Column("carrier_cost_fen", sa.Integer, nullable=True))
        batch.create_index("ix_shipments_carrier_dispatched", ["carrier", "dispatched_at"])


def downgrade() -> None:
    with op.batch_alter_table("shipments") as batch:
        batch.drop_index("ix_shipments_carrier_dispatched")
        batch.drop_column("carrier_cost_fen")
