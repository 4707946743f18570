"""analytics: fulfilment timings on shipment facts, complaint filing, reviews (NPS), SLA breaches,
discounts (campaign ROI); their shop-day columns and the breakdown and campaign rollups.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

from ecom_common.db import UtcDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

SHOP_DAY = (
    "dispatch_due",
    "dispatched_on_time",
    "dispatch_timed",
    "dispatch_seconds",
    "delivered_timed",
    "delivered_on_time",
    "complaints_filed",
    "sla_breaches",
    "reviews",
    "stars_sum",
    "nps_scores",
    "promoters",
    "detractors",
)


def _zero(name: str) -> sa.Column:
    return sa.Column(name, sa.BigInteger(), server_default="0", nullable=False)


def upgrade() -> None:
    with op.batch_alter_table("shipment_facts") as batch:
        batch.add_column(sa.Column("dispatch_by", UtcDateTime, nullable=True))
        batch.add_column(sa.Column("paid_to_dispatch_s", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("dispatched_on_time", sa.Boolean(), nullable=True))
        batch.add_column(sa.Column("delivered_on_time", sa.Boolean(), nullable=True))
    with op.batch_alter_table("case_facts") as batch:
        batch.add_column(sa.Column("filed_day", sa.Date(), nullable=True))
        batch.add_column(sa.Column("escalated_day", sa.Date(), nullable=True))
    # Complaints known so far were known from their first escalation, on their opened day.
    op.execute("UPDATE case_facts SET escalated_day = opened_day WHERE kind = 'complaint'")
    with op.batch_alter_table("shop_day") as batch:
        for name in SHOP_DAY:
            batch.add_column(_zero(name))
    op.create_table(
        "review_facts",
        sa.Column("review_id", sa.String(length=40), nullable=False),
        sa.Column("order_id", sa.String(length=40), nullable=False),
        sa.Column("shop_id", sa.String(length=64), nullable=False),
        sa.Column("stars", sa.Integer(), nullable=False),
        sa.Column("nps", sa.Integer(), nullable=True),
        sa.Column("at", UtcDateTime, nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.PrimaryKeyConstraint("review_id"),
    )
    op.create_index("ix_review_facts_shop_day", "review_facts", ["shop_id", "day"])
    op.create_table(
        "breach_facts",
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("ref_id", sa.String(length=40), nullable=False),
        sa.Column("milestone", sa.String(length=32), nullable=False),
        sa.Column("shop_id", sa.String(length=64), nullable=False),
        sa.Column("at", UtcDateTime, nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.PrimaryKeyConstraint("kind", "ref_id", "milestone"),
    )
    op.create_table(
        "discount_facts",
        sa.Column("order_id", sa.String(length=40), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("ref", sa.String(length=64), nullable=False),
        sa.Column("shop_id", sa.String(length=64), nullable=False),
        sa.Column("funded_by", sa.String(length=16), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("order_paid_fen", sa.BigInteger(), nullable=True),
        sa.Column("paid_day", sa.Date(), nullable=True),
        sa.PrimaryKeyConstraint("order_id", "source", "ref"),
    )
    op.create_table(
        "breakdown_day",
        sa.Column("shop_id", sa.String(length=64), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("metric", sa.String(length=32), nullable=False),
        sa.Column("label", sa.String(length=64), nullable=False),
        _zero("count"),
        sa.PrimaryKeyConstraint("shop_id", "day", "metric", "label"),
    )
    op.create_table(
        "campaign_day",
        sa.Column("shop_id", sa.String(length=64), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("ref", sa.String(length=64), nullable=False),
        _zero("orders"),
        _zero("attributed_fen"),
        _zero("spend_fen"),
        sa.PrimaryKeyConstraint("shop_id", "day", "source", "ref"),
    )


def downgrade() -> None:
    for table in ("campaign_day", "breakdown_day", "discount_facts", "breach_facts", "review_facts"):
        op.drop_table(table)
    with op.batch_alter_table("shop_day") as batch:
        for name in SHOP_DAY:
            batch.drop_column(name)
    with op.batch_alter_table("case_facts") as batch:
        batch.drop_column("escalated_day")
        batch.drop_column("filed_day")
    with op.batch_alter_table("shipment_facts") as batch:
        for name in ("delivered_on_time", "dispatched_on_time", "paid_to_dispatch_s", "dispatch_by"):
            batch.drop_column(name)
