"""console tables (SQLAlchemy): staff accounts, their sign-in sessions, failed sign-ins and saved filters.
The shared outbox/inbox tables come from ecom_common.db. Keep in step with migrations/versions/."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from ecom_common.db import BigId, UtcDateTime

metadata = sa.MetaData()


class Base(DeclarativeBase):
    metadata = metadata


class StaffAccount(Base):
    """A person who signs in: name, argon2 hash of the password, roles (comma separated), shop."""

    __tablename__ = "console_staff"

    id: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(64), unique=True, nullable=False)
    display_name: Mapped[str] = mapped_column(sa.String(64), nullable=False, default="")
    password_hash: Mapped[str] = mapped_column(sa.String(200), nullable=False)
    roles: Mapped[str] = mapped_column(sa.String(200), nullable=False)
    shop_id: Mapped[str | None] = mapped_column(sa.String(64), nullable=True)
    disabled: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    created_by: Mapped[str] = mapped_column(sa.String(64), nullable=False)

    @property
    def role_list(self) -> tuple[str, ...]:
        return tuple(r for r in self.roles.split(",") if r)


class StaffSession(Base):
    """A sign-in: the cookie holds a random token, the table its SHA-256 (a leaked table signs no one
    in), with the CSRF token of the session's forms. Disabling a person ends their sessions."""

    __tablename__ = "console_sessions"

    token_hash: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    staff_id: Mapped[str] = mapped_column(sa.ForeignKey("console_staff.id"), nullable=False, index=True)
    csrf_token: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)


class SignInFailure(Base):
    """One failed sign-in, for throttling by name and by client address."""

    __tablename__ = "console_signin_failures"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(sa.String(64), nullable=False, index=True)
    address: Mapped[str] = mapped_column(sa.String(64), nullable=False, index=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False, index=True)


class SavedFilter(Base):
    """A list filter a person saved under a name (their own: nobody else sees it), as the query
    string of the page's filter fields."""

    __tablename__ = "console_saved_filters"
    __table_args__ = (sa.UniqueConstraint("staff_id", "page", "name", name="uq_console_saved_filters_name"),)

    id: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    staff_id: Mapped[str] = mapped_column(sa.ForeignKey("console_staff.id"), nullable=False, index=True)
    page: Mapped[str] = mapped_column(sa.String(32), nullable=False)
    name: Mapped[str] = mapped_column(sa.String(40), nullable=False)
    query: Mapped[str] = mapped_column(sa.String(500), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
