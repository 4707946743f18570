"""orders: find an order by the receiver's phone (full number or last four digits), name, or SKU.

`receiver_phone_last4` and `receiver_phone_hash` (HMAC-SHA256 of the number's digits, keyed by
ORDERS_PHONE_SEARCH_KEY or a key derived from ECOM_JWT_SECRET) are what phone search matches;
`receiver_name` is the receiver's name as written; order_lines.sku_code gets an index. Orders placed
before this revision are filled in here, with the key the service will use.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03
"""

import os

import sqlalchemy as sa
from alembic import op

from ecom_common.config import load_jwt_secret
from orders.domain import phone_digest, phone_last4
from orders.settings import phone_key

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("orders", sa.Column("receiver_phone_last4", sa.String(4), nullable=False, server_default=""))
    op.add_column("orders", sa.Column("receiver_phone_hash", sa.String(64), nullable=False, server_default=""))
    op.add_column("orders", sa.Column("receiver_name", sa.String(50), nullable=False, server_default=""))
    op.create_index("ix_orders_phone_last4", "orders", ["receiver_phone_last4", "created_at"])
    op.create_index("ix_orders_phone_hash", "orders", ["receiver_phone_hash"])
    op.create_index("ix_orders_receiver_name", "orders", ["receiver_name"])
    op.create_index("ix_order_lines_sku_code", "order_lines", ["sku_code"])
    _backfill()


def _backfill() -> None:
    bind = op.get_bind()
    orders = sa.table(
        "orders",
        sa.column("id", sa.String),
        sa.column("receiver_phone", sa.String),
        sa.column("address", sa.JSON),
        sa.column("receiver_phone_last4", sa.String),
        sa.column("receiver_phone_hash", sa.String),
        sa.column("receiver_name", sa.String),
    )
    rows = bind.execute(sa.select(orders.c.id, orders.c.receiver_phone, orders.c.address)).all()
    if not rows:
        return
    key = phone_key(os.environ.get("ORDERS_PHONE_SEARCH_KEY"), load_jwt_secret())
    for order_id, phone, address in rows:
        bind.execute(
            orders.update()
            .where(orders.c.id == order_id)
            .values(
                receiver_phone_last4=phone_last4(phone),
                receiver_phone_hash=phone_digest(key, phone),
                receiver_name=((address or {}).get("name") or "")[:50],
            )
        )


def downgrade() -> None:
    op.drop_index("ix_order_lines_sku_code", "order_lines")
    op.drop_index("ix_orders_receiver_name", "orders")
    op.drop_index("ix_orders_phone_hash", "orders")
    op.drop_index("ix_orders_phone_last4", "orders")
    with op.batch_alter_table("orders") as batch:
        batch.drop_column("receiver_name")
        batch.drop_column("receiver_phone_hash")
        batch.drop_column("receiver_phone_last4")
