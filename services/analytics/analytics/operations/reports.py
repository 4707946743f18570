"""analytics' reads and the use cases around them: the KPI report, campaign ROI, alerts, A/B
experiments. `verb(ctx, thing, ...)`, never committing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import sqlalchemy as sa

from ecom_common.db import insert_ignore
from ecom_common.errors import NotFound, RuleViolation
from ecom_common.events import make_event
from ecom_common.ids import new_id
from ecom_common.usecase import Ctx

from .. import domain, queries
from ..models import BuyerDay, Experiment, KpiAlertSent, ShopDay, Visit, VisitorDay
from ..settings import Settings


# KPIs --------------------------------------------------------------------------------------------
def kpi_report(ctx: Ctx[Settings], shop_id: str | None, *, start: date, end: date) -> dict[str, Any]:
    """The KPIs of `shop_id` (None: every shop, the platform totals) from `start` to `end` (days,
    both included) with the previous period of the same length, the daily series and the top lists.
    The caller has checked that it may see the shop."""
    try:
        domain.check_range(start, end, ctx.settings.max_range_days)
    except domain.RangeError as exc:
        raise RuleViolation(str(exc), errors={"from": [str(exc)]}) from exc
    prev_start, prev_end = domain.previous_period(start, end)
    lookback = ctx.settings.old_buyer_days
    current = domain.kpis(queries.aggregates(ctx.session, shop_id, start, end, lookback))
    previous = domain.kpis(queries.aggregates(ctx.session, shop_id, prev_start, prev_end, lookback))
    return {
        "shop_id": shop_id,
        "from": start.isoformat(),
        "to": end.isoformat(),
        "previous_from": prev_start.isoformat(),
        "previous_to": prev_end.isoformat(),
        "kpis": current,
        "previous": previous,
        "change": {name: domain.change(value, previous[name]) for name, value in current.items()},
        "series": queries.series(ctx.session, shop_id, start, end),
        **queries.top(ctx.session, shop_id, start, end, ctx.settings.top_n),
        "breakdowns": queries.breakdowns(ctx.session, shop_id, start, end),
    }


def campaign_roi(ctx: Ctx[Settings], shop_id: str | None, *, start: date, end: date) -> dict[str, Any]:
    """Each promotion's (and coupon source's) ROI over `start`..`end` (paid days) for `shop_id` (None:
    every shop), and the totals; the caller has checked that it may see the shop."""
    try:
        domain.check_range(start, end, ctx.settings.max_range_days)
    except domain.RangeError as exc:
        raise RuleViolation(str(exc), errors={"from": [str(exc)]}) from exc
    rows = queries.campaigns(ctx.session, shop_id, start, end)
    attributed, spend = sum(r["attributed_fen"] for r in rows), sum(r["spend_fen"] for r in rows)
    return {
        "shop_id": shop_id,
        "from": start.isoformat(),
        "to": end.isoformat(),
        "target_roi": domain.ROI_TARGET,
        "campaigns": rows,
        "total": {"attributed_fen": attributed, "spend_fen": spend, "roi": domain.roi(attributed, spend)},
    }


# Alerts ------------------------------------------------------------------------------------------
def raise_alerts(ctx: Ctx[Settings], day: date) -> list[dict[str, Any]]:
    """Every shop active on `day` (orders or visits) whose KPIs of that day are past a bound gets an
    `analytics.KpiAlert` per KPI, once (the kpi_alerts row's key): the payloads raised now."""
    shops = sorted(
        set(ctx.session.execute(sa.select(ShopDay.shop_id).where(ShopDay.day == day)).scalars())
        | set(ctx.session.execute(sa.select(VisitorDay.shop_id).where(VisitorDay.day == day).distinct()).scalars())
    )
    raised = []
    for shop_id in shops:
        k = domain.kpis(queries.aggregates(ctx.session, shop_id, day, day, ctx.settings.old_buyer_days))
        for alert in domain.alerts(shop_id, k, ctx.settings.alert_policy):
            row = {"shop_id": shop_id, "day": day, "raised_at": ctx.now, **alert.__dict__}
            if not insert_ignore(ctx.session, KpiAlertSent.__table__, row):
                continue
            payload = {"shop_id": shop_id, **alert.__dict__, "from": day.isoformat(), "to": day.isoformat()}
            ctx.record(make_event("analytics.KpiAlert", payload))
            raised.append(payload)
    return raised


# A/B experiments ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class ExperimentIn:
    shop_id: str
    name: str
    target: str
    variants: tuple[domain.Variant, ...]
    starts_on: date | None = None
    ends_on: date | None = None


def create_experiment(ctx: Ctx[Settings], spec: ExperimentIn) -> Experiment:
    """A shop's experiment on conversion; the first variant is the control. Starts today unless
    told otherwise (the shop's day)."""
    try:
        domain.check_variants(spec.variants)
    except domain.ExperimentError as exc:
        raise RuleViolation(str(exc), errors={"variants": [str(exc)]}) from exc
    starts_on = spec.starts_on or domain.day_of(ctx.now, ctx.settings.day_utc_offset_hours)
    if spec.ends_on is not None and spec.ends_on < starts_on:
        raise RuleViolation("ends_on is before starts_on", errors={"ends_on": ["before starts_on"]})
    experiment = Experiment(
        id=new_id("X", ctx.now),
        shop_id=spec.shop_id,
        name=spec.name,
        target=spec.target,
        variants=[{"name": v.name, "weight": v.weight} for v in spec.variants],
        metric="conversion",
        starts_on=starts_on,
        ends_on=spec.ends_on,
        created_at=ctx.now,
        created_by=ctx.actor.id,
    )
    ctx.session.add(experiment)
    ctx.session.flush()
    return experiment


def get_experiment(ctx: Ctx[Settings], experiment_id: str) -> Experiment:
    experiment = ctx.session.get(Experiment, experiment_id)
    if experiment is None:
        raise NotFound("experiment not found")
    ctx.require_visible(experiment.shop_id, None, "experiment")
    return experiment


def _variants(experiment: Experiment) -> tuple[domain.Variant, ...]:
    return tuple(domain.Variant(v["name"], int(v["weight"])) for v in experiment.variants)


def assignment(ctx: Ctx[Settings], experiment_id: str, visitor_id: str) -> dict[str, str]:
    """The variant `visitor_id` sees (always the same); the storefront sends it back on each visit."""
    experiment = get_experiment(ctx, experiment_id)
    return {
        "experiment_id": experiment.id,
        "visitor_id": visitor_id,
        "variant": domain.assign(experiment.id, visitor_id, _variants(experiment)),
    }


def experiment_report(ctx: Ctx[Settings], experiment_id: str) -> dict[str, Any]:
    """Per variant: the distinct visitors whose visits carried it in the experiment's days, and how
    many of them paid in the shop in those days (a signed-in buyer's visitor_id is their buyer id);
    conversion, lift over the control, p-value and the winner by the SOP's rule (domain)."""
    experiment = get_experiment(ctx, experiment_id)
    start = experiment.starts_on
    end = experiment.ends_on or domain.day_of(ctx.now, ctx.settings.day_utc_offset_hours)
    names = [v.name for v in _variants(experiment)]
    buyers = sa.select(BuyerDay.buyer_id).where(
        BuyerDay.shop_id == experiment.shop_id, BuyerDay.day >= start, BuyerDay.day <= end
    )
    counts = {
        variant: (int(n), int(x))
        for variant, n, x in ctx.session.execute(
            sa.select(
                Visit.variant,
                sa.func.count(sa.distinct(Visit.visitor_id)),
                sa.func.count(sa.distinct(sa.case((Visit.visitor_id.in_(buyers), Visit.visitor_id)))),
            )
            .where(Visit.shop_id == experiment.shop_id, Visit.day >= start, Visit.day <= end)
            .where(Visit.variant.in_(names))
            .group_by(Visit.variant)
        )
    }
    report = domain.experiment_report([(name, *counts.get(name, (0, 0))) for name in names])
    return {"experiment_id": experiment.id, "shop_id": experiment.shop_id, "from": start, "to": end, **report}
