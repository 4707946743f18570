"""Campaigns: targets, phases and a budget split (推广 / 补贴 / 物料 / 备用金). The subsidy share pays
the discounts of the campaign's promotions: a quote that locks an order reserves them by
conditional UPDATE (`subsidy_spent_fen + n WHERE subsidy_spent_fen + n <= subsidy_budget_fen`), so
the budget is never overspent; a campaign whose budget cannot pay stops applying its promotions."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from ecom_common.errors import NotFound, RuleViolation
from ecom_common.ids import new_id

from .. import domain
from ..models import Campaign
from .common import MCtx

# The default phases (BUSINESS-RULES.md, Marketing): days each, in order, from the campaign's start.
PHASES = (("warm-up", 3), ("burst", 2), ("return", 1))
SPLIT = {"promotion": 50, "subsidy": 30, "material": 10, "reserve": 10}


def default_phases(body: dict[str, Any]) -> list[dict[str, Any]]:
    phases, at = [], body["starts_at"]
    for name, days in PHASES:
        phases.append({"name": name, "starts_at": at.isoformat(), "ends_at": (at + timedelta(days=days)).isoformat()})
        at += timedelta(days=days)
    return phases


def _phases(given: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """Phases as given (editable dates), stored with ISO times; each ends after it starts (422)."""
    out = []
    for phase in given or []:
        if phase["ends_at"] <= phase["starts_at"]:
            raise RuleViolation(
                f"phase {phase['name']} ends before it starts", {"phases": ["ends_at before starts_at"]}
            )
        out.append({**phase, "starts_at": phase["starts_at"].isoformat(), "ends_at": phase["ends_at"].isoformat()})
    return out


def create_campaign(ctx: MCtx, shop_id: str, body: dict[str, Any]) -> Campaign:
    split = body.get("split") or SPLIT
    campaign = Campaign(
        campaign_id=new_id("CP", ctx.now),
        shop_id=shop_id,
        name=body["name"],
        targets=body.get("targets") or {},
        phases=_phases(body.get("phases")) or default_phases(body),
        budget_fen=body["budget_fen"],
        split=split,
        subsidy_budget_fen=body["budget_fen"] * split["subsidy"] // 100,
        subsidy_spent_fen=0,
        attributed_gmv_fen=0,
        created_at=ctx.now,
        created_by=ctx.actor.id,
    )
    ctx.session.add(campaign)
    ctx.session.flush()
    return campaign


def get_campaign(ctx: MCtx, campaign_id: str) -> Campaign:
    campaign = ctx.session.get(Campaign, campaign_id)
    if campaign is None:
        raise NotFound("campaign not found")
    ctx.require_visible(campaign.shop_id, what="campaign")
    return campaign


def subsidy_needs(quote: domain.Quote, campaign_of: dict[str, str]) -> dict[str, int]:
    """Campaign id -> the discounts its promotions give in this quote."""
    needs: dict[str, int] = {}
    for row in quote.discounts:
        campaign_id = campaign_of.get(row.ref or "")
        if campaign_id is not None:
            needs[campaign_id] = needs.get(campaign_id, 0) + row.amount_fen
    return needs


def short_of(ctx: MCtx, needs: dict[str, int]) -> list[str]:
    """The campaigns whose subsidy left cannot pay what they are asked (a preview: nothing reserved)."""
    if not needs:
        return []
    rows = ctx.session.execute(
        sa.select(Campaign.campaign_id, Campaign.subsidy_budget_fen - Campaign.subsidy_spent_fen).where(
            Campaign.campaign_id.in_(needs)
        )
    ).all()
    left = {campaign_id: remaining for campaign_id, remaining in rows}
    return sorted(c for c, n in needs.items() if left.get(c, 0) < n)


def reserve(ctx: MCtx, needs: dict[str, int]) -> list[str]:
    """Reserve each campaign's subsidy, all or none: the campaigns that could not pay (after the
    others' reservations are undone), or [] when everything is reserved."""
    done, short = [], []
    for campaign_id, amount in sorted(needs.items()):
        if _move(ctx, campaign_id, amount):
            done.append(campaign_id)
        else:
            short.append(campaign_id)
    if short:
        for campaign_id in done:
            _move(ctx, campaign_id, -needs[campaign_id])
    return short


def release(ctx: MCtx, reserved: dict[str, int]) -> None:
    for campaign_id, amount in sorted(reserved.items()):
        _move(ctx, campaign_id, -amount)


def attribute(ctx: MCtx, reserved: dict[str, int], paid_fen: int) -> None:
    """A paid order's GMV counts for every campaign whose promotions it used."""
    for campaign_id in sorted(reserved):
        ctx.session.execute(
            sa.update(Campaign)
            .where(Campaign.campaign_id == campaign_id)
            .values(attributed_gmv_fen=Campaign.attributed_gmv_fen + paid_fen)
            .execution_options(synchronize_session=False)
        )


def _move(ctx: MCtx, campaign_id: str, amount: int) -> bool:
    spent = Campaign.subsidy_spent_fen
    return bool(
        ctx.session.execute(
            sa.update(Campaign)
            .where(Campaign.campaign_id == campaign_id, spent + amount <= Campaign.subsidy_budget_fen)
            .values(subsidy_spent_fen=spent + amount)
            .execution_options(synchronize_session=False)
        ).rowcount
    )
