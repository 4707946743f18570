"""What several logistics views share: which roles are shipping staff, the `?shop_id=` a shop's
settings are asked for by, and a commit that a concurrent writer lost."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from marshmallow import Schema, fields

from ecom_common.db import is_unique_violation
from ecom_common.errors import Conflict

# The roles that work with shipments: they read the lists, the stats and the exception queue.
STAFF = ("warehouse", "ops", "admin", "cs")


class ShopArgs(Schema):
    shop_id = fields.Str(metadata={"description": "required for platform roles; merchant staff use their own"})


@contextmanager
def conflict_on_unique(detail: str = "changed concurrently by another request; retry", errors=None) -> Iterator[None]:
    """Around a `use_case` block: a row another request inserted meanwhile (a unique key, seen at the
    flush or the COMMIT) is a 409 to retry."""
    try:
        yield
    except sa.exc.IntegrityError as exc:
        if is_unique_violation(exc):
            raise Conflict(detail, errors) from exc
        raise
