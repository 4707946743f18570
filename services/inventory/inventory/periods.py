"""marketing's promotion periods, copied from its events into `promotion_periods` (marketing is
their one source): the periods the pre-promotion cover report (reports.py) is asked for."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from ecom_common.errors import RetryLater
from ecom_common.usecase import Ctx

from .models import PromotionPeriod
from .settings import Settings

periods = PromotionPeriod.__table__


def copy_period(ctx: Ctx[Settings], period_id: str, version: int, values: dict[str, Any]) -> str:
    """marketing.PromotionPeriodDeclared / Cancelled: keep the highest version seen. `values`: name,
    starts_at, ends_at, or cancelled=True; a cancellation of a period not seen yet waits for its
    declaration (RetryLater). Returns updated | inserted | stale."""
    updated = ctx.session.execute(
        periods.update()
        .where(periods.c.period_id == period_id, periods.c.version < version)
        .values(**values, version=version)
    ).rowcount
    if updated:
        return "updated"
    if ctx.session.execute(sa.select(periods.c.period_id).where(periods.c.period_id == period_id)).first():
        return "stale"
    if values.get("cancelled"):
        raise RetryLater(f"promotion period {period_id} cancelled before it was declared here")
    ctx.session.execute(periods.insert().values(**values, period_id=period_id, version=version, cancelled=False))
    return "inserted"
