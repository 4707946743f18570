"""Keyset pagination for every list: `?limit=&cursor=` in, `{"items", "next_cursor"}` out.

The cursor is opaque to clients (unpadded base64url of the last row's key values) and checked
against the key columns before it reaches SQL: a cursor the list did not issue is a 400 problem.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from marshmallow import Schema, fields, validate
from sqlalchemy.orm import QueryableAttribute, Session

from .errors import BadRequest

MAX_PAGE = 200


class PageArgs(Schema):
    """Base for list query schemas: `?limit=&cursor=` plus the list's own filters."""

    limit = fields.Int(load_default=50, validate=validate.Range(min=1, max=MAX_PAGE))
    cursor = fields.Str(
        load_default=None,
        metadata={
            "pattern": "^[A-Za-z0-9_-]*$",
            "description": "Opaque: only a `next_cursor` this list returned (unpadded base64url); any other value is "
            "a 400 problem.",
        },
    )


def encode_cursor(values: Sequence[Any]) -> str:
    raw = json.dumps([v.isoformat() if isinstance(v, datetime) else v for v in values])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


# A key column of a list, as the services name it: a mapped class's attribute (`Order.created_at`).
PageKey = QueryableAttribute[Any]

# A cursor this kit wrote is a few dozen characters; anything much longer was not written by it.
MAX_CURSOR = 512


def decode_cursor(cursor: str, columns: Sequence[PageKey]) -> list[Any]:
    """The key values `encode_cursor` wrote, each checked against its column before it reaches SQL.

    A cursor is client input: a value of another shape (a list or object, a string for an integer
    key, an integer past 64 bits, a NUL) would otherwise fail in the database driver, a 500."""
    try:
        if len(cursor) > MAX_CURSOR:
            raise ValueError("too long")
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()).decode())
        if not isinstance(values, list) or len(values) != len(columns):
            raise ValueError("wrong arity")
        return [_cursor_value(value, col) for value, col in zip(values, columns, strict=False)]
    except (ValueError, TypeError):
        raise BadRequest("the cursor is not valid", {"cursor": ["Not a cursor returned by this list."]}) from None


def _cursor_value(value: object, column: PageKey) -> Any:
    """`value` as `column` holds it, or TypeError/ValueError."""
    kind = column.type.python_type
    if value is None and column.nullable:
        return None  # a nullable key (exception_since) is written as null when the last row has none
    if kind is datetime and isinstance(value, str):
        return datetime.fromisoformat(value)
    if kind is int and type(value) is int and -(2**63) <= value < 2**63:  # bool is not an id
        return value
    if (
        kind is str
        and isinstance(value, str)
        and len(value) <= (column.type.length or MAX_CURSOR)
        and "\x00" not in value
    ):
        value.encode()  # a lone surrogate (JSON \ud800) cannot be sent to the database: ValueError
        return value
    raise TypeError(f"not a {kind.__name__} for {column.key}")


def paginate(
    session: Session,
    stmt: sa.Select[Any],
    keys: Sequence[PageKey],
    limit: int,
    cursor: str | None,
    descending: bool = True,
    to_item: Callable[[Any], Any] = lambda row: row,
) -> dict[str, Any]:
    """Keyset pagination over `keys` (unique together, e.g. [created_at, id]).

    Returns {"items": [...], "next_cursor": str|None}; stable under concurrent inserts.
    """
    order = [k.desc() if descending else k.asc() for k in keys]
    stmt = stmt.order_by(*order)
    if cursor:
        values = decode_cursor(cursor, keys)
        row_cmp = sa.tuple_(*keys) < sa.tuple_(*values) if descending else sa.tuple_(*keys) > sa.tuple_(*values)
        stmt = stmt.where(row_cmp)
    rows = session.execute(stmt.limit(limit + 1)).scalars().all()
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        next_cursor = encode_cursor([getattr(last, k.key) for k in keys])
    return {"items": [to_item(r) for r in rows], "next_cursor": next_cursor}
