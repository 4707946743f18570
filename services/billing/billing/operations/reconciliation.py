"""The reconcile-three-way job's use case: a day's 三流合一 kept (reports.three_way judges it)."""

from __future__ import annotations

from datetime import date

from ecom_common.usecase import Ctx

from .. import reports
from ..models import ThreeWayRun
from ..settings import Settings


def record_three_way(ctx: Ctx[Settings], day: date) -> int:
    """The day's report over all shops, kept in three_way_runs (a rerun replaces it). Returns the
    number of mismatches."""
    report = reports.three_way(ctx.session, day, None)
    run = ctx.session.get(ThreeWayRun, day.isoformat()) or ThreeWayRun(day=day.isoformat())
    run.orders = report["orders_checked"]
    run.mismatch_count = len(report["mismatches"])
    run.mismatches = report["mismatches"]
    run.ran_at = ctx.now
    ctx.session.add(run)
    return run.mismatch_count
