"""Compliance sweeps: every listed product scanned again against today's rules, in the background.

A sweep is a row of `compliance_sweeps`, queued in the transaction that adds a banned word (the word
list only grows stricter then; an exemption or a removed word can only clear products) and once per
CATALOG_SWEEP_EVERY_HOURS slot by the job `sweep-compliance`, which runs the queue:

1. queue the periodic sweep of the current slot: its id is derived from the slot and inserted with
   ON CONFLICT DO NOTHING, so two replicas queue it once;
2. claim the oldest pending sweep (or a running one whose lease ran out: its worker died) with one
   conditional UPDATE; the worker that changed the row runs it, the other finds nothing;
3. scan the listed products in batches, one transaction each, renewing the lease: every product with
   an error finding gets a report row (unique per sweep and product, so a taken-over sweep writes
   nothing twice) and, when CATALOG_SWEEP_DELIST is true, is delisted through the normal guarded
   transition (reason `compliance`, ProductDelisted, its timeline entry); a product changed meanwhile
   (409) is reported, not delisted;
4. mark it done with its counts, read back from the report rows.

The report is `GET /compliance/sweeps` and `GET /compliance/findings` (reviewers, admins).
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from typing import Any, NamedTuple

import sqlalchemy as sa

from ecom_common import ids
from ecom_common.db import Database, insert_ignore
from ecom_common.errors import ConcurrentChange
from ecom_common.usecase import Ctx, for_job

from . import compliance, domain, store
from .models import ComplianceFinding, ComplianceSweep, Product
from .settings import Settings

log = logging.getLogger("catalog.sweeps")

PENDING, RUNNING, DONE = "pending", "running", "done"
BANNED_WORD, PERIODIC = "banned_word", "periodic"
BATCH = 100


def queue(ctx: Ctx[Settings], *, trigger: str, word: str | None = None, sweep_id: str | None = None) -> bool:
    """Queue a sweep (in the caller's transaction); False when `sweep_id` is queued already."""
    row = {
        "id": sweep_id or ids.new_id("SW", ctx.now),
        "trigger": trigger,
        "word": word,
        "status": PENDING,
        "created_by": ctx.actor.id,
        "created_at": ctx.now,
        "scanned": 0,
        "flagged": 0,
        "delisted": 0,
    }
    return insert_ignore(ctx.session, ComplianceSweep.__table__, row) == 1


def queue_periodic(ctx: Ctx[Settings]) -> bool:
    """The periodic sweep of the slot `ctx.now` falls in, once however many replicas ask."""
    slot = domain.sweep_slot(ctx.now, ctx.settings.sweep_every_hours)
    return queue(ctx, trigger=PERIODIC, sweep_id=f"SWP-{slot:%Y%m%d%H}")


class Claim(NamedTuple):
    sweep_id: str
    holder: str  # this worker's token: its lease renewals and the finish are conditional on it


def claim(ctx: Ctx[Settings]) -> Claim | None:
    """Take the oldest pending sweep, or a running one whose worker stopped renewing its lease."""
    now = ctx.now
    open_ = sa.or_(
        ComplianceSweep.status == PENDING,
        sa.and_(ComplianceSweep.status == RUNNING, ComplianceSweep.lease_until < now),
    )
    stmt = sa.select(ComplianceSweep.id).where(open_).order_by(ComplianceSweep.created_at, ComplianceSweep.id)
    for sweep_id in ctx.session.execute(stmt.limit(5)).scalars().all():
        mine = Claim(str(sweep_id), uuid.uuid4().hex)
        if _lease(ctx, mine, open_):
            return mine
    return None


def renew(ctx: Ctx[Settings], mine: Claim) -> bool:
    """Extend this worker's lease; False when another worker took the sweep over (or finished it)."""
    return _lease(ctx, mine, sa.and_(ComplianceSweep.status == RUNNING, ComplianceSweep.holder == mine.holder))


def _lease(ctx: Ctx[Settings], mine: Claim, condition: Any) -> bool:
    lease = ctx.now + timedelta(seconds=ctx.settings.sweep_lease_seconds)
    updated = ctx.session.execute(
        sa.update(ComplianceSweep)
        .where(ComplianceSweep.id == mine.sweep_id, condition)
        .values(status=RUNNING, holder=mine.holder, lease_until=lease)
        .execution_options(synchronize_session=False)
    ).rowcount
    return bool(updated == 1)


def listed_after(ctx: Ctx[Settings], after: str, *, limit: int = BATCH) -> list[str]:
    """Ids of listed products past `after` (keyset order), `limit` at most."""
    stmt = sa.select(Product.id).where(Product.status == domain.LISTED, Product.id > after)
    return list(ctx.session.execute(stmt.order_by(Product.id).limit(limit)).scalars().all())


def take_down(ctx: Ctx[Settings], product: Product, *, note: str) -> None:
    """listed -> delisted by the platform itself (reason `compliance`): the normal guarded transition
    with its timeline entry and ProductDelisted; ConcurrentChange when the product changed meanwhile."""
    t = domain.delist(store.state_of(product), domain.COMPLIANCE, note)
    codes = [s.sku_code for s in product.skus]
    store.apply(ctx, product, t)
    ctx.record(store.delisted_event(product, domain.COMPLIANCE, codes))


def check(
    ctx: Ctx[Settings], sweep_id: str, product_id: str, rules: tuple[domain.CategoryTree, compliance.Lexicon]
) -> bool:
    """Scan one listed product against `rules` (the category tree and word list); report it (and
    delist it, CATALOG_SWEEP_DELIST) when it breaks a rule. True when it was reported."""
    product = ctx.session.get(Product, product_id)
    if product is None or product.status != domain.LISTED:
        return False
    tree, lexicon = rules
    errors = compliance.errors_of(compliance.scan_product(store.product_draft(product), tree, lexicon, ctx.settings))
    if not errors:
        return False
    rules = sorted({f.rule for f in errors})
    delisted = False
    if ctx.settings.sweep_delist:
        note = ", ".join(f"{f.rule} {f.text}".strip() for f in errors)[:400]
        try:
            take_down(ctx, product, note=f"sweep {sweep_id}: {note}")
            delisted = True
        except ConcurrentChange:
            log.info("sweep %s: product %s changed meanwhile, reported only", sweep_id, product_id)
    insert_ignore(
        ctx.session,
        ComplianceFinding.__table__,
        {
            "sweep_id": sweep_id,
            "product_id": product_id,
            "shop_id": product.shop_id,
            "title": product.title,
            "rules": rules,
            "findings": [f.to_dict() for f in errors],
            "delisted": delisted,
            "found_at": ctx.now,
        },
    )
    return True


def finish(ctx: Ctx[Settings], mine: Claim, *, scanned: int) -> None:
    """Mark the sweep done with its counts (read from its report, right after a take-over too)."""
    counts = ctx.session.execute(
        sa.select(sa.func.count(), sa.func.count().filter(ComplianceFinding.delisted.is_(True))).where(
            ComplianceFinding.sweep_id == mine.sweep_id
        )
    ).one()
    ctx.session.execute(
        sa.update(ComplianceSweep)
        .where(
            ComplianceSweep.id == mine.sweep_id,
            ComplianceSweep.status == RUNNING,
            ComplianceSweep.holder == mine.holder,
        )
        .values(
            status=DONE, finished_at=ctx.now, lease_until=None, scanned=scanned, flagged=counts[0], delisted=counts[1]
        )
        .execution_options(synchronize_session=False)
    )


def run(db: Database, mine: Claim) -> int:
    """Scan every listed product for the claimed sweep, one batch per transaction; how many products
    were reported."""
    after, scanned, reported = "", 0, 0
    while True:
        with for_job(db, Settings) as ctx:
            if not renew(ctx, mine):
                log.warning("sweep %s: lease lost, another worker runs it", mine.sweep_id)
                return reported
            rules = (store.load_tree(ctx.session), store.load_lexicon(ctx.session))
            batch = listed_after(ctx, after)
            for product_id in batch:
                reported += check(ctx, mine.sweep_id, product_id, rules)
        scanned += len(batch)
        if len(batch) < BATCH:
            break
        after = batch[-1]
    with for_job(db, Settings) as ctx:
        finish(ctx, mine, scanned=scanned)
    log.info("sweep %s: %d listed products scanned, %d break a rule", mine.sweep_id, scanned, reported)
    return reported


def sweeps_query(status: str | None) -> sa.Select[Any]:
    """Sweeps (api/compliance.py pages them newest first)."""
    stmt = sa.select(ComplianceSweep)
    return stmt.where(ComplianceSweep.status == status) if status else stmt


def findings_query(filters: dict[str, Any]) -> sa.Select[Any]:
    """Report rows; `filters`: sweep_id, shop_id, product_id, delisted (None: any)."""
    stmt = sa.select(ComplianceFinding)
    for name in ("sweep_id", "shop_id", "product_id", "delisted"):
        if filters.get(name) is not None:
            stmt = stmt.where(getattr(ComplianceFinding, name) == filters[name])
    return stmt
