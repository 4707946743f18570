"""analytics: covering indexes for the reads of the distinct-count rollups (bench/analytics.py at
200,000 orders, docs/perf-log.md): a report reads `buyer_day` and `visitor_day` by shop and day range
(or by day range for the platform) and needs the buyer's orders or the visitor's views with the key,
which the primary key (shop_id, day, id) does not hold, so every row of the range was fetched from
the heap, where a shop-day's rows lie scattered. With the numbers in the index (PostgreSQL INCLUDE;
plain indexes elsewhere) the reads are index-only scans.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

# index -> (table, key columns, included columns)
INDEXES = {
    "ix_buyer_day_shop_day": ("buyer_day", ["shop_id", "day"], ["buyer_id", "orders"]),
    "ix_buyer_day_day": ("buyer_day", ["day"], ["buyer_id", "orders"]),
    "ix_visitor_day_shop_day": ("visitor_day", ["shop_id", "day"], ["visitor_id", "views"]),
    "ix_visitor_day_day": ("visitor_day", ["day"], ["visitor_id", "views"]),
}


def upgrade() -> None:
    for name, (table, columns, include) in INDEXES.items():
        op.create_index(name, table, columns, unique=False, postgresql_include=include)


def downgrade() -> None:
    for name, (table, _, _) in INDEXES.items():
        op.drop_index(name, table_name=table)
