"""aftersales tables (SQLAlchemy). The shared outbox/inbox tables come from ecom_common.db."""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase

metadata = sa.MetaData()


class Base(DeclarativeBase):
    metadata = metadata
