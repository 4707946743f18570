"""logistics: shared tables, shipping templates, carriers and rules, shipments, timeline, tracking.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""
from datetime import datetime, timezone

import sqlalchemy as sa
from alembic import op

from ecom_common.db import BigId, UtcDateTime
from ecom_common.migrations import create_common_tables, drop_common_tables

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# The seed carriers (README "Carriers"): a next-day carrier and a cheaper one for 江浙沪 and the
# rest, a wide-coverage one for remote regions and a cheap one for heavy parcels.
SEED_CARRIERS = [
    ("SF", "顺丰速运", "next day (江浙沪)"),
    ("ZTO", "中通快递", "standard, nationwide"),
    ("EMS", "中国邮政EMS", "wide coverage incl. remote regions"),
    ("DBL", "德邦快递", "heavy parcels"),
]


def upgrade() -> None:
    create_common_tables(op)
    op.create_table(
        "shipping_templates",
        sa.Column("shop_id", sa.String(64), primary_key=True),
        sa.Column("body", sa.JSON, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
        sa.Column("updated_by", sa.String(120), nullable=False),
    )
    op.create_table(
        "shop_senders",
        sa.Column("shop_id", sa.String(64), primary_key=True),
        sa.Column("body", sa.JSON, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
        sa.Column("updated_by", sa.String(120), nullable=False),
    )
    carriers = op.create_table(
        "carriers",
        sa.Column("code", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("services", sa.String(200), nullable=True),
        sa.Column("updated_at", UtcDateTime, nullable=False),
    )
    now = datetime.now(timezone.utc)
    op.bulk_insert(carriers, [
        {"code": c, "name": n, "active": True, "services": s, "updated_at": now} for c, n, s in SEED_CARRIERS
    ])
    op.create_table(
        "carrier_rule_sets",
        sa.Column("shop_id", sa.String(64), primary_key=True),
        sa.Column("rules", sa.JSON, nullable=False),
        sa.Column("default_carrier", sa.String(32), nullable=True),
        sa.Column("updated_at", UtcDateTime, nullable=False),
        sa.Column("updated_by", sa.String(120), nullable=False),
    )
    op.create_table(
        "promotion_periods",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("starts_at", UtcDateTime, nullable=False),
        sa.Column("ends_at", UtcDateTime, nullable=False),
    )
    op.create_table(
        "shipments",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("dedupe_key", sa.String(120), nullable=False, unique=True),
        sa.Column("shop_id", sa.String(64), nullable=False),
        sa.Column("order_id", sa.String(40), nullable=False, index=True),
        sa.Column("case_id", sa.String(40), nullable=True),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("carrier", sa.String(32), nullable=True),
        sa.Column("carrier_reason", sa.String(200), nullable=True),
        sa.Column("tracking_no", sa.String(64), nullable=True),
        sa.Column("lines", sa.JSON, nullable=False),
        sa.Column("receiver", sa.JSON, nullable=False),
        sa.Column("province", sa.String(20), nullable=True),
        sa.Column("weight_g", sa.Integer, nullable=True),
        sa.Column("priority", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("paid_at", UtcDateTime, nullable=True),
        sa.Column("dispatch_due_at", UtcDateTime, nullable=False),
        sa.Column("promotion", sa.String(100), nullable=True),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("dispatched_at", UtcDateTime, nullable=True),
        sa.Column("dispatched_late", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("delivered_at", UtcDateTime, nullable=True),
        sa.Column("cancelled_at", UtcDateTime, nullable=True),
        sa.Column("last_progress_at", UtcDateTime, nullable=True),
        sa.Column("exception_open", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("exception_kind", sa.String(20), nullable=True),
        sa.Column("exception_reason", sa.String(500), nullable=True),
        sa.Column("exception_since", UtcDateTime, nullable=True),
        sa.Column("order_cancelled_after_dispatch", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("version", sa.Integer, nullable=False, server_default="1"),
        sa.UniqueConstraint("carrier", "tracking_no", name="uq_shipment_carrier_tracking"),
    )
    op.create_index("ix_shipments_shop_created", "shipments", ["shop_id", "created_at", "id"])
    op.create_index("ix_shipments_status_due", "shipments", ["status", "dispatch_due_at"])
    op.create_table(
        "shipment_events",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("shipment_id", sa.String(40), sa.ForeignKey("shipments.id"), nullable=False, index=True),
        sa.Column("at", UtcDateTime, nullable=False),
        sa.Column("actor", sa.String(120), nullable=False),
        sa.Column("action", sa.String(40), nullable=False),
        sa.Column("from_status", sa.String(24), nullable=True),
        sa.Column("to_status", sa.String(24), nullable=True),
        sa.Column("reason", sa.String(500), nullable=True),
        sa.Column("data", sa.JSON, nullable=True),
    )
    op.create_table(
        "tracking_events",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("shipment_id", sa.String(40), sa.ForeignKey("shipments.id"), nullable=False, index=True),
        sa.Column("carrier", sa.String(32), nullable=False),
        sa.Column("carrier_event_id", sa.String(100), nullable=False),
        sa.Column("tracking_no", sa.String(64), nullable=False),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("location", sa.String(200), nullable=True),
        sa.Column("reason", sa.String(500), nullable=True),
        sa.Column("occurred_at", UtcDateTime, nullable=True),
        sa.Column("received_at", UtcDateTime, nullable=False),
        sa.UniqueConstraint("carrier", "carrier_event_id", name="uq_tracking_carrier_event"),
    )
    op.create_table(
        "cancelled_orders",
        sa.Column("order_id", sa.String(40), primary_key=True),
        sa.Column("shop_id", sa.String(64), nullable=False),
        sa.Column("cancelled_at", UtcDateTime, nullable=False),
        sa.Column("reason", sa.String(500), nullable=True),
    )


def downgrade() -> None:
    for table in ("cancelled_orders", "tracking_events", "shipment_events", "shipments", "promotion_periods",
                  "carrier_rule_sets", "carriers", "shop_senders", "shipping_templates"):
        op.drop_table(table)
    drop_common_tables(op)
