"""The console's pages: one Flask blueprint (`base.blp`), a module per area."""

from __future__ import annotations

from . import auth, cases, complaints, dashboard, finance, marketing, orders, products, review, shipping, staff, stock  # noqa: F401 (they register routes)
from .base import blp

__all__ = ["blp"]
