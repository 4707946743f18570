"""The complaints dashboard: open complaints by tier with the time left on each SLA clock."""

from __future__ import annotations

import sqlalchemy as sa
from marshmallow import Schema, fields

from ecom_common.auth import requires, shop_or_all
from ecom_common.clock import aware, iso
from ecom_common.http import Blueprint
from ecom_common.schemas import UtcTime
from ecom_common.usecase import use_case

from .. import domain
from ..domain import ComplaintStatus, Tier
from ..models import Complaint
from ..settings import Settings

blp = Blueprint("dashboard", __name__)


class DashboardArgs(Schema):
    shop_id = fields.Str(metadata={"description": "platform roles: one shop (default: all shops)"})


class DashboardOut(Schema):
    generated_at = UtcTime()
    shop_id = fields.Str(allow_none=True)
    tiers = fields.Dict()


@blp.route("/complaints/dashboard", methods=["GET"])
@requires("cs", "ops", "admin")
@blp.arguments(DashboardArgs, location="query")
@blp.response(200, DashboardOut)
def complaints_dashboard(args):
    """Open complaints by tier, most urgent first, with the time left on each clock (negative when
    overdue) and whether it was escalated."""
    shop_id = shop_or_all(args.get("shop_id"))
    stmt = sa.select(Complaint).where(Complaint.status != ComplaintStatus.RESOLVED).order_by(Complaint.due_at)
    if shop_id:
        stmt = stmt.where(Complaint.shop_id == shop_id)
    tiers = {t: {"open": 0, "overdue": 0, "escalated": 0, "items": []} for t in Tier.ALL}
    with use_case(Settings) as ctx:
        now = ctx.now
        for c in ctx.session.execute(stmt.limit(1000)).scalars():
            bucket = tiers[c.tier]
            clock = domain.time_left(None if c.met_at else c.due_at, now)
            bucket["open"] += 1
            bucket["overdue"] += int(clock["overdue"])
            bucket["escalated"] += int(bool(c.escalations))
            bucket["items"].append(
                {
                    "complaint_id": c.id,
                    "order_id": c.order_id,
                    "shop_id": c.shop_id,
                    "status": c.status,
                    "milestone": c.milestone,
                    "milestone_met": c.met_at is not None,
                    "due_at": iso(aware(c.due_at)),
                    "seconds_left": clock["seconds_left"],
                    "overdue": clock["overdue"],
                    "escalated": bool(c.escalations),
                    "created_at": iso(aware(c.created_at)),
                }
            )
    return {"generated_at": now, "shop_id": shop_id, "tiers": tiers}
