"""What every logistics view reads: the service's settings, the time, which roles are shipping staff,
the `?shop_id=` a shop's settings are asked for by, and a commit that a concurrent writer lost."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from marshmallow import Schema, fields

from ecom_common.db import is_unique_violation
from ecom_common.errors import Conflict
from ecom_common.http import current_config

from .. import operations as ops

# The roles that work with shipments: they read the lists, the stats and the exception queue.
STAFF = ("warehouse", "ops", "admin", "cs")


def settings() -> ops.Settings:
    """logistics' settings (LOGISTICS_*), as configured for this app."""
    return ops.Settings.from_config(current_config())


def now() -> datetime:
    """The configured clock's time (tests move it)."""
    return current_config().clock.now()


class ShopQuery(Schema):
    shop_id = fields.Str(metadata={"description": "required for platform roles; merchant staff use their own"})


def commit_or_conflict(uow) -> None:
    """Commit; a row another request inserted meanwhile (a unique key) is a 409 to retry."""
    try:
        uow.commit()
    except sa.exc.IntegrityError as exc:
        if is_unique_violation(exc):
            raise Conflict("changed concurrently by another request; retry") from exc
        raise
