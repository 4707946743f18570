"""catalog: shared tables, categories with attributes, products, SKUs, timeline, banned words;
seeds the default category tree and the banned-word list (catalog.seed.SEED_*).

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


def upgrade() -> None:
    create_common_tables(op)
    categories = op.create_table(
        "categories",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("parent_id", sa.String(40), sa.ForeignKey("categories.id"), nullable=True, index=True),
        sa.Column("name", sa.String(60), nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
    )
    attributes = op.create_table(
        "category_attributes",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("category_id", sa.String(40), sa.ForeignKey("categories.id"), nullable=False),
        sa.Column("name", sa.String(60), nullable=False),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("required", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("options", sa.JSON, nullable=False),
        sa.Column("position", sa.Integer, nullable=False, server_default="0"),
        sa.UniqueConstraint("category_id", "name", name="uq_category_attribute_name"),
    )
    op.create_table(
        "products",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("shop_id", sa.String(64), nullable=False),
        sa.Column("category_id", sa.String(40), sa.ForeignKey("categories.id"), nullable=False, index=True),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("brand", sa.String(100), nullable=True),
        sa.Column("description", sa.Text, nullable=True),
        sa.Column("attributes", sa.JSON, nullable=False),
        sa.Column("images", sa.JSON, nullable=False),
        sa.Column("video", sa.JSON, nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("version", sa.Integer, nullable=False, server_default="1"),
        sa.Column("delist_reason", sa.String(20), nullable=True),
        sa.Column("review_required", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("submitted_at", UtcDateTime, nullable=True),
        sa.Column("review_due_at", UtcDateTime, nullable=True),
        sa.Column("reviewed_at", UtcDateTime, nullable=True),
        sa.Column("reviewed_by", sa.String(120), nullable=True),
        sa.Column("reject_reason", sa.Text, nullable=True),
        sa.Column("listed_at", UtcDateTime, nullable=True),
        sa.Column("deleted_at", UtcDateTime, nullable=True, index=True),
        sa.Column("status_before_delete", sa.String(20), nullable=True),
        sa.Column("created_by", sa.String(120), nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False, index=True),
        sa.Index("ix_products_status_submitted", "status", "submitted_at"),
        sa.Index("ix_products_shop_status", "shop_id", "status"),
    )
    op.create_table(
        "skus",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("product_id", sa.String(40), sa.ForeignKey("products.id"), nullable=False, index=True),
        sa.Column("shop_id", sa.String(64), nullable=False),
        sa.Column("sku_code", sa.String(64), nullable=False),
        sa.Column("spec", sa.JSON, nullable=False),
        sa.Column("barcode", sa.String(32), nullable=True),
        sa.Column("weight_g", sa.Integer, nullable=True),
        sa.Column("list_price_fen", sa.Integer, nullable=False),
        sa.Column("promo_price_fen", sa.Integer, nullable=True),
        sa.Column("member_price_fen", sa.Integer, nullable=True),
        sa.Column("low_stock_threshold", sa.Integer, nullable=False, server_default="10"),
        sa.Column("position", sa.Integer, nullable=False, server_default="0"),
        sa.Column("low_stock_available", sa.Integer, nullable=True),
        sa.Column("low_stock_alert_at", UtcDateTime, nullable=True),
        sa.UniqueConstraint("shop_id", "sku_code", name="uq_sku_shop_code"),
    )
    op.create_table(
        "product_timeline",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("product_id", sa.String(40), nullable=False, index=True),
        sa.Column("at", UtcDateTime, nullable=False),
        sa.Column("actor", sa.String(120), nullable=False),
        sa.Column("actor_roles", sa.String(200), nullable=False, server_default=""),
        sa.Column("action", sa.String(30), nullable=False),
        sa.Column("from_status", sa.String(20), nullable=True),
        sa.Column("to_status", sa.String(20), nullable=False),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("details", sa.JSON, nullable=True),
    )
    words = op.create_table(
        "banned_words",
        sa.Column("word", sa.String(50), primary_key=True),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("note", sa.String(200), nullable=True),
        sa.Column("created_by", sa.String(120), nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
    )
    _seed(categories, attributes, words)


def _seed(categories, attributes, words) -> None:
    # The default tree and word list, from one place (catalog.seed) so that the README, the tests
    # and the database agree. Admins change both through the API afterwards.
    from catalog.seed import SEED_BANNED_WORDS, SEED_CATEGORIES, SEED_EXEMPTIONS

    now = datetime.now(timezone.utc)
    op.bulk_insert(categories, [
        {"id": c["id"], "parent_id": c["parent_id"], "name": c["name"], "created_at": now, "updated_at": now}
        for c in SEED_CATEGORIES
    ])
    op.bulk_insert(attributes, [
        {"category_id": c["id"], "name": a["name"], "type": a["type"], "required": a["required"],
         "options": a.get("options", []), "position": i}
        for c in SEED_CATEGORIES for i, a in enumerate(c["attributes"])
    ])
    op.bulk_insert(words, [
        {"word": w, "kind": "banned", "note": "default list (广告法)", "created_by": "seed", "created_at": now}
        for w in SEED_BANNED_WORDS
    ] + [
        {"word": w, "kind": "exemption", "note": "default exemption", "created_by": "seed", "created_at": now}
        for w in SEED_EXEMPTIONS
    ])


def downgrade() -> None:
    op.drop_table("banned_words")
    op.drop_table("product_timeline")
    op.drop_table("skus")
    op.drop_table("products")
    op.drop_table("category_attributes")
    op.drop_table("categories")
    drop_common_tables(op)
