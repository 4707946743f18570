"""The platform's promotion periods (双11, 618...): marketing is their one source. Every declaration
or change emits `marketing.PromotionPeriodDeclared` (the whole period, with a `version` that grows
with each change), a cancellation `marketing.PromotionPeriodCancelled`; logistics (48 h dispatch),
aftersales (48 h refunds) and inventory (the pre-promotion cover report) keep their copy from them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from ecom_common.clock import aware, iso
from ecom_common.errors import ConflictError, NotFound, RuleViolation
from ecom_common.events import make_event
from ecom_common.ids import new_id

from ..models import PromotionPeriod
from .common import MCtx

ACTIVE, CANCELLED = "active", "cancelled"


def _check(starts_at: datetime, ends_at: datetime) -> None:
    if aware(ends_at) <= aware(starts_at):
        raise RuleViolation("a period ends after it starts", {"ends_at": ["Must be after starts_at."]})


def period_payload(period: PromotionPeriod) -> dict[str, Any]:
    return {
        "period_id": period.period_id,
        "name": period.name,
        "starts_at": iso(period.starts_at),
        "ends_at": iso(period.ends_at),
        "version": period.version,
    }


def get_period(ctx: MCtx, period_id: str) -> PromotionPeriod:
    found = ctx.session.get(PromotionPeriod, period_id, populate_existing=True)
    if found is None:
        raise NotFound("promotion period not found")
    return found


def declare_period(ctx: MCtx, name: str, starts_at: datetime, ends_at: datetime) -> PromotionPeriod:
    """A new period (PromotionPeriodDeclared, version 1)."""
    _check(starts_at, ends_at)
    now = ctx.now
    period = PromotionPeriod(
        period_id=new_id("PP", now),
        name=name,
        starts_at=starts_at,
        ends_at=ends_at,
        status=ACTIVE,
        version=1,
        updated_by=ctx.actor.id[:120],
        created_at=now,
        updated_at=now,
    )
    ctx.session.add(period)
    ctx.session.flush()
    ctx.record(make_event("marketing.PromotionPeriodDeclared", period_payload(period)))
    return period


def change_period(ctx: MCtx, period_id: str, changes: dict[str, Any]) -> PromotionPeriod:
    """New name or times of an active period (PromotionPeriodDeclared again, next version). The
    version moves by a conditional UPDATE on the one read: a concurrent change is a 409."""
    period = get_period(ctx, period_id)
    if period.status != ACTIVE:
        raise ConflictError("a cancelled period cannot change", {"status": [period.status]})
    values = {k: changes[k] for k in ("name", "starts_at", "ends_at") if changes.get(k) is not None}
    _check(values.get("starts_at", period.starts_at), values.get("ends_at", period.ends_at))
    _bump(ctx, period, values)
    period = get_period(ctx, period_id)
    ctx.record(make_event("marketing.PromotionPeriodDeclared", period_payload(period)))
    return period


def cancel_period(ctx: MCtx, period_id: str) -> PromotionPeriod:
    """Call a period off (PromotionPeriodCancelled); cancelling again changes nothing."""
    period = get_period(ctx, period_id)
    if period.status == CANCELLED:
        return period
    _bump(ctx, period, {"status": CANCELLED})
    period = get_period(ctx, period_id)
    ctx.record(
        make_event(
            "marketing.PromotionPeriodCancelled",
            {"period_id": period.period_id, "name": period.name, "version": period.version},
        )
    )
    return period


def _bump(ctx: MCtx, period: PromotionPeriod, values: dict[str, Any]) -> None:
    done = ctx.session.execute(
        sa.update(PromotionPeriod)
        .where(PromotionPeriod.period_id == period.period_id, PromotionPeriod.version == period.version)
        .values(**values, version=period.version + 1, updated_by=ctx.actor.id[:120], updated_at=ctx.now)
        .execution_options(synchronize_session=False)
    ).rowcount
    if done != 1:
        raise ConflictError("the period changed meanwhile; reload and try again")
