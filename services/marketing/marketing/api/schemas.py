"""The field kinds marketing's API modules share: money in fen and times in UTC."""

from __future__ import annotations

from datetime import UTC
from typing import Any

from marshmallow import fields, validate

from ecom_common.schemas import MAX_INT


def Fen(minimum: int = 0, **kw: Any) -> fields.Int:  # noqa: N802  (a field, named as marshmallow's are)
    """An amount in fen: an integer from `minimum` (0) up."""
    return fields.Int(validate=validate.Range(min=minimum, max=MAX_INT), **kw)


def Time(**kw: Any) -> fields.AwareDateTime:  # noqa: N802
    """A time in a body: ISO-8601, read as UTC when it names no offset."""
    return fields.AwareDateTime(default_timezone=UTC, **kw)
