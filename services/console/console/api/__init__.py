"""The console's pages: one Flask blueprint (`base.blp`), a module per area."""

from __future__ import annotations

from . import (  # noqa: F401 (they register routes)
    auth,
    cases,
    complaints,
    dashboard,
    finance,
    marketing,
    orders,
    products,
    review,
    saved_filters,
    shipping,
    staff,
    stock,
)
from .base import blp

__all__ = ["blp"]
