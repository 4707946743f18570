"""The promotion periods aftersales counts: marketing's (the one source, copied from its events into
`promotion_periods`) and, as a fallback, any still named by AFTERSALES_PROMOTION_PERIODS. A return
received in one of them has `promo_refund_hours` (48 h) to be refunded."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import sqlalchemy as sa

from ecom_common.clock import aware
from ecom_common.errors import RetryLater
from ecom_common.usecase import Ctx

from . import domain
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


def policy(ctx: Ctx[Settings]) -> domain.Policy:
    """The SOP's figures (settings) with the promotion periods in force: marketing's, not cancelled,
    and the ones the environment still names."""
    rows = ctx.session.execute(
        sa.select(periods.c.starts_at, periods.c.ends_at).where(periods.c.cancelled.is_(False))
    ).all()
    base = ctx.settings.policy
    copied = tuple((aware(r.starts_at), aware(r.ends_at)) for r in rows)
    return replace(base, promotion_periods=base.promotion_periods + copied) if copied else base
