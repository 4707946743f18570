"""marketing's use cases, `verb(ctx, thing, ...)`: shared by the API views, the event handlers and
the jobs. Operations never commit; whoever opened the unit of work does. One module per resource
(promotions, coupons, quotes, members), every use case named here: callers write
`operations.verb(ctx, ...)`.

Concurrency is safe by construction, in the SQL condition of the UPDATE that moves a counter or a
status (never read-then-write):
- a template's quantity: `claimed_quantity + 1 WHERE claimed_quantity < total_quantity`;
- a buyer's limit: `claimed + 1 WHERE claimed < per_buyer_limit` on (template, buyer);
- a claim's lock: `status = 'locked' WHERE status = 'available'`, so of many orders racing for one
  claim exactly one matches; the losers read who holds it and answer 422 `locked`;
- points: `points - n WHERE points >= n`;
- a first-N gift: `gifts_granted + 1 WHERE gifts_granted < gift_limit`;
- a re-purchase coupon: `repurchase_issued_at = now WHERE repurchase_issued_at IS NULL AND ...`;
- a campaign's subsidy: `subsidy_spent_fen + n WHERE subsidy_spent_fen + n <= subsidy_budget_fen`.
"""

from __future__ import annotations

from .campaigns import create_campaign, get_campaign
from .common import TIMEOUT, MCtx, PaidOrder
from .compensation import CompensationRequest, issue_compensation
from .coupons import claim_coupon, coupon_payload, create_template, get_claim, get_template, stop_template
from .members import add_points, complete_order, earn_points, member, record_paid, take_back_points
from .periods import cancel_period, change_period, declare_period, get_period, period_payload
from .promotions import active_promotions, active_rules, create_promotion, end_promotion, get_promotion, grant_gifts
from .quotes import (
    apply_payment,
    apply_refund,
    order_paid,
    order_placed,
    quote,
    quote_body,
    release_order,
    return_subsidy,
    stale_quotes,
)
from .segments import issue_level_coupon, issue_repurchase, level_coupon_due, repurchase_segment

__all__ = [
    "CompensationRequest",
    "issue_compensation",
    "cancel_period",
    "change_period",
    "declare_period",
    "get_period",
    "period_payload",
    "apply_refund",
    "TIMEOUT",
    "MCtx",
    "PaidOrder",
    "active_promotions",
    "active_rules",
    "add_points",
    "apply_payment",
    "claim_coupon",
    "complete_order",
    "coupon_payload",
    "create_campaign",
    "create_promotion",
    "create_template",
    "earn_points",
    "end_promotion",
    "get_campaign",
    "get_claim",
    "get_promotion",
    "get_template",
    "issue_level_coupon",
    "issue_repurchase",
    "level_coupon_due",
    "grant_gifts",
    "member",
    "order_paid",
    "order_placed",
    "quote",
    "quote_body",
    "record_paid",
    "release_order",
    "return_subsidy",
    "repurchase_segment",
    "stale_quotes",
    "stop_template",
    "take_back_points",
]
