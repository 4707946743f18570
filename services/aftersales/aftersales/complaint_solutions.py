"""A serious or crisis complaint's solution (质量问题: 退款 + 补偿券), the service layer.

cs resolves the complaint (`POST /complaints/{complaint_id}/resolve {text, refund_fen, coupon_fen}`);
in the same unit of work, so that all of it happens or none:

- a refund goes the one refund path aftersales has: a refund-only case of the complaint's order,
  opened for the buyer and approved by the agent (`RefundApproved` without lines: billing spreads it
  over the order's lines). Its money is claimed like any case's (claims.take, a conditional UPDATE
  per row), so it is capped by what the order paid less what its other cases claim or refunded
  (422 above that);
- a compensation coupon is asked of marketing with `aftersales.CompensationCouponRequested`, keyed by
  the complaint: the complaint is resolved once (a guarded UPDATE, 409 the second time), so the
  request is made once, and marketing issues once per complaint_id.

Both are written on the complaint's timeline (`refund`, `compensation_coupon`) and kept on it
(`refund_case_id`, `refund_fen`, `coupon_fen`). A general complaint's solution carries neither (422).
"""

from __future__ import annotations

import sqlalchemy as sa

from ecom_common.errors import RuleViolation
from ecom_common.events import make_event

from . import domain, operations
from .domain import CaseType, Reason, Tier
from .models import Claim, Complaint, ComplaintEvent

SOLVABLE = (Tier.SERIOUS, Tier.CRISIS)
# An order that was paid for (and not cancelled): its money can be refunded in part.
PAID = frozenset({"paid", "awaiting_stock", "on_hold", "awaiting_shipment", "shipped", "delivered", "completed"})


def compensation_draft(order: domain.OrderView, amount_fen: int, claimed: dict[str, int]) -> domain.CaseDraft:
    """A money-only refund-only case of `order`: `amount_fen` spread over its lines in proportion to
    what each still has unclaimed (`claimed`: fen per SKU and for the order, Claim.ORDER_ROW)."""
    if order.status not in PAID:
        raise RuleViolation(
            f"the order is {order.status}: nothing paid to refund", {"refund_fen": ["The order was not paid."]}
        )
    room = [max(0, l.cap_fen - claimed.get(l.sku_code, 0)) for l in order.lines]
    cap = min(sum(room), order.payable_fen - claimed.get(Claim.ORDER_ROW, 0))
    if amount_fen > cap:
        raise RuleViolation(
            "the refund is above what the order paid less what its cases claim or refunded",
            {"refund_fen": [f"At most {max(cap, 0)}."]},
        )
    shares = domain.allocate(amount_fen, room)
    lines = tuple(
        domain.CaseLine(l.sku_code, 0, l.unit_price_fen, share, l.cap_fen, l.quantity)
        for l, share in zip(order.lines, shares, strict=True)
        if share
    )
    return domain.CaseDraft(CaseType.REFUND_ONLY, Reason.OTHER, order, lines, amount_fen, False, False, None)


def claimed_fen(ctx: operations.AftersalesCtx, order_id: str) -> dict[str, int]:
    rows = ctx.session.execute(sa.select(Claim.sku_code, Claim.claimed_fen).where(Claim.order_id == order_id)).all()
    return {sku: int(fen) for sku, fen in rows}


def resolve(
    ctx: operations.AftersalesCtx,
    complaint_id: str,
    *,
    text: str,
    solution: dict[str, int | None],
    order: domain.OrderView | None = None,
) -> Complaint:
    """Resolve the complaint with `text`; `solution`: refund_fen and coupon_fen (None or 0: none).
    `order` (orders' view of the complaint's order) is needed for a refund."""
    c = operations.complaint_of(ctx, complaint_id)
    refund_fen, coupon_fen = solution.get("refund_fen") or 0, solution.get("coupon_fen") or 0
    if (refund_fen or coupon_fen) and c.tier not in SOLVABLE:
        raise RuleViolation(
            "only a serious or crisis complaint's solution carries a refund or a coupon",
            {"refund_fen" if refund_fen else "coupon_fen": [f"Not for a {c.tier} complaint."]},
        )
    c = operations.act_on_complaint(ctx, c, action="resolve", text=text)  # 409 once resolved
    if refund_fen:
        if order is None or order.order_id != c.order_id:
            raise RuleViolation("orders does not know the complaint's order", {"refund_fen": ["No order to refund."]})
        refund(ctx, c, order, refund_fen)
    if coupon_fen:
        compensate(ctx, c, coupon_fen)
    ctx.session.flush()
    ctx.session.refresh(c)
    return c


def refund(ctx: operations.AftersalesCtx, c: Complaint, order: domain.OrderView, amount_fen: int) -> None:
    draft = compensation_draft(order, amount_fen, claimed_fen(ctx, c.order_id))
    evidence = {"images": [], "text": f"complaint {c.id}: {c.resolution or ''}"[:2000]}
    case = operations.open_case(ctx, draft, evidence=evidence)
    operations.approve(ctx, case, reason=f"the solution of complaint {c.id}")
    c.refund_case_id, c.refund_fen = case.id, amount_fen
    note = f"{amount_fen} fen refunded to the buyer through refund-only case {case.id}"
    ctx.session.add(
        ComplaintEvent(complaint_id=c.id, action="refund", status=c.status, at=ctx.now, by=ctx.actor.id, note=note)
    )


def compensate(ctx: operations.AftersalesCtx, c: Complaint, amount_fen: int) -> None:
    ctx.record(
        make_event(
            "aftersales.CompensationCouponRequested",
            {
                "complaint_id": c.id,
                "order_id": c.order_id,
                "shop_id": c.shop_id,
                "buyer_id": c.buyer_id,
                "amount_fen": amount_fen,
                "funded_by": "shop",
                "reason": f"{c.tier} complaint",
            },
        )
    )
    c.coupon_fen = amount_fen
    note = f"a {amount_fen} fen compensation coupon asked of marketing for the buyer"
    ctx.session.add(
        ComplaintEvent(
            complaint_id=c.id, action="compensation_coupon", status=c.status, at=ctx.now, by=ctx.actor.id, note=note
        )
    )
