"""catalog tables (SQLAlchemy). The shared outbox/inbox tables come from ecom_common.db.

Keep in step with migrations/versions/ (0001_initial.py, 0002_special_goods.py, 0003_compliance_sweeps.py).
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from ecom_common.db import BigId, UtcDateTime

metadata = sa.MetaData()


class Base(DeclarativeBase):
    metadata = metadata


class Category(Base):
    __tablename__ = "categories"

    id: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    parent_id: Mapped[str | None] = mapped_column(
        sa.String(40), sa.ForeignKey("categories.id"), nullable=True, index=True
    )
    name: Mapped[str] = mapped_column(sa.String(60), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)

    attributes: Mapped[list[CategoryAttribute]] = relationship(
        order_by="CategoryAttribute.position", cascade="all, delete-orphan", lazy="selectin"
    )


class CategoryAttribute(Base):
    __tablename__ = "category_attributes"
    __table_args__ = (sa.UniqueConstraint("category_id", "name", name="uq_category_attribute_name"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    category_id: Mapped[str] = mapped_column(sa.String(40), sa.ForeignKey("categories.id"), nullable=False)
    name: Mapped[str] = mapped_column(sa.String(60), nullable=False)
    type: Mapped[str] = mapped_column(sa.String(16), nullable=False)
    required: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=False)
    options: Mapped[list] = mapped_column(sa.JSON, nullable=False, default=list)
    position: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)


class Product(Base):
    __tablename__ = "products"
    __table_args__ = (
        sa.Index("ix_products_status_submitted", "status", "submitted_at"),
        sa.Index("ix_products_shop_status", "shop_id", "status"),
    )

    id: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    shop_id: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    category_id: Mapped[str] = mapped_column(sa.String(40), sa.ForeignKey("categories.id"), nullable=False, index=True)
    title: Mapped[str] = mapped_column(sa.String(200), nullable=False)
    brand: Mapped[str | None] = mapped_column(sa.String(100), nullable=True)
    description: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    attributes: Mapped[dict] = mapped_column(sa.JSON, nullable=False, default=dict)
    images: Mapped[list] = mapped_column(sa.JSON, nullable=False, default=list)
    video: Mapped[dict | None] = mapped_column(sa.JSON, nullable=True)
    status: Mapped[str] = mapped_column(sa.String(20), nullable=False)
    # Bumped by every change; every UPDATE of a product is conditional on the version it read.
    version: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=1)
    delist_reason: Mapped[str | None] = mapped_column(sa.String(20), nullable=True)
    review_required: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=False)
    submitted_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    review_due_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    reviewed_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    reviewed_by: Mapped[str | None] = mapped_column(sa.String(120), nullable=True)
    reject_reason: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    listed_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    deleted_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True, index=True)
    status_before_delete: Mapped[str | None] = mapped_column(sa.String(20), nullable=True)
    created_by: Mapped[str] = mapped_column(sa.String(120), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False, index=True)

    skus: Mapped[list[Sku]] = relationship(order_by="Sku.position", cascade="all, delete-orphan", lazy="selectin")


class Sku(Base):
    __tablename__ = "skus"
    # A SKU code is unique per shop (docs/interfaces.md); a deleted product keeps its codes until it
    # is purged, so that a restore cannot collide.
    __table_args__ = (sa.UniqueConstraint("shop_id", "sku_code", name="uq_sku_shop_code"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    product_id: Mapped[str] = mapped_column(sa.String(40), sa.ForeignKey("products.id"), nullable=False, index=True)
    shop_id: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    sku_code: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    spec: Mapped[dict] = mapped_column(sa.JSON, nullable=False, default=dict)
    barcode: Mapped[str | None] = mapped_column(sa.String(32), nullable=True)
    weight_g: Mapped[int | None] = mapped_column(sa.Integer, nullable=True)
    list_price_fen: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    promo_price_fen: Mapped[int | None] = mapped_column(sa.Integer, nullable=True)
    member_price_fen: Mapped[int | None] = mapped_column(sa.Integer, nullable=True)
    low_stock_threshold: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=10)
    # Special goods (migration 0002): custom-made or fresh goods are not returnable without a reason
    # (不支持七天无理由退货); a presale SKU promises to ship within this many days (预计N天内发货).
    no_7day_return: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=False)
    presale_ship_days: Mapped[int | None] = mapped_column(sa.Integer, nullable=True)
    position: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
    # The last inventory.LowStock alert, shown to ops on the product.
    low_stock_available: Mapped[int | None] = mapped_column(sa.Integer, nullable=True)
    low_stock_alert_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class TimelineEntry(Base):
    """Every transition and edit of a product: who, when, why."""

    __tablename__ = "product_timeline"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    product_id: Mapped[str] = mapped_column(sa.String(40), nullable=False, index=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    actor: Mapped[str] = mapped_column(sa.String(120), nullable=False)
    actor_roles: Mapped[str] = mapped_column(sa.String(200), nullable=False, default="")
    action: Mapped[str] = mapped_column(sa.String(30), nullable=False)
    from_status: Mapped[str | None] = mapped_column(sa.String(20), nullable=True)
    to_status: Mapped[str] = mapped_column(sa.String(20), nullable=False)
    reason: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    details: Mapped[dict | None] = mapped_column(sa.JSON, nullable=True)


class BannedWord(Base):
    """The advertising-law word list (kind "banned") and its exemptions (kind "exemption")."""

    __tablename__ = "banned_words"

    word: Mapped[str] = mapped_column(sa.String(50), primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(10), nullable=False)
    note: Mapped[str | None] = mapped_column(sa.String(200), nullable=True)
    created_by: Mapped[str] = mapped_column(sa.String(120), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)


class ComplianceSweep(Base):
    """One re-scan of every listed product against today's rules (sweeps.py): queued when a banned
    word is added (trigger `banned_word`) and once per CATALOG_SWEEP_EVERY_HOURS slot (`periodic`, its
    id derived from the slot so two replicas queue it once), run by the job `sweep-compliance`."""

    __tablename__ = "compliance_sweeps"
    __table_args__ = (sa.Index("ix_compliance_sweeps_status_created", "status", "created_at"),)

    id: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    trigger: Mapped[str] = mapped_column(sa.String(20), nullable=False)
    word: Mapped[str | None] = mapped_column(sa.String(50), nullable=True)
    # pending -> running (claimed with a lease by one worker) -> done
    status: Mapped[str] = mapped_column(sa.String(10), nullable=False)
    created_by: Mapped[str] = mapped_column(sa.String(120), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    # The worker running it (a token per claim) and until when; a lapsed lease may be taken over.
    holder: Mapped[str | None] = mapped_column(sa.String(64), nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    scanned: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
    flagged: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
    delisted: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)


class ComplianceFinding(Base):
    """The sweep's report: a listed product that now breaks a rule, which ones, and whether the
    sweep delisted it (CATALOG_SWEEP_DELIST). One row per (sweep, product): a re-run writes nothing twice."""

    __tablename__ = "compliance_findings"
    __table_args__ = (sa.UniqueConstraint("sweep_id", "product_id", name="uq_compliance_finding_product"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    sweep_id: Mapped[str] = mapped_column(sa.String(40), sa.ForeignKey("compliance_sweeps.id"), nullable=False)
    product_id: Mapped[str] = mapped_column(sa.String(40), nullable=False, index=True)
    shop_id: Mapped[str] = mapped_column(sa.String(64), nullable=False, index=True)
    title: Mapped[str] = mapped_column(sa.String(200), nullable=False)
    rules: Mapped[list] = mapped_column(sa.JSON, nullable=False, default=list)
    findings: Mapped[list] = mapped_column(sa.JSON, nullable=False, default=list)
    delisted: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=False)
    found_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
