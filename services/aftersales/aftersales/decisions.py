"""Who may decide a refund, and when a second person must (no Flask, no SQL; plain values).

Multi-level review (多级审核): a case whose refund (`amount_fen`, what RefundApproved will ask) is above
AFTERSALES_SECOND_APPROVAL_FEN is approved twice. The first approval (cs, admin, or the system's
automatic one) leaves the case `requested` in the stage `awaiting_second_approval`; the second, by a
different person with a higher role (ops or admin of the shop), approves it, and only then is its
refund asked for. CONTRACTS.md fixes the eight case statuses, so the waiting state is a stage of
`requested`, not a ninth status: every consumer of case statuses stays right.
"""

from __future__ import annotations

from ecom_common.errors import ConflictError, Forbidden

AWAITING_SECOND = "awaiting_second_approval"
SECOND_APPROVED = "second_approved"
STAGES = (AWAITING_SECOND, SECOND_APPROVED)
FIRST_APPROVERS = ("cs", "admin")  # and the system (automatic approvals)
SECOND_APPROVERS = ("ops", "admin")  # the higher role of the shop (admin: the platform's)


def needs_second_approval(amount_fen: int, above_fen: int) -> bool:
    """0 (or less) switches the second approval off."""
    return above_fen > 0 and amount_fen > above_fen


def check_first_approver(roles: tuple[str, ...]) -> None:
    """ops give only the second approval: 403 for an ops-only caller otherwise (an actor without
    roles is the service itself: a handler, a job, the system)."""
    if roles and not any(r in FIRST_APPROVERS for r in roles):
        raise Forbidden("ops give only the second approval of a refund above the review threshold")


def check_second_approver(first_by: str | None, actor_id: str, roles: tuple[str, ...]) -> None:
    """The second approval: a higher role (ops or admin, else 403) and another person than the first
    approver (else 409: the same person cannot review their own decision)."""
    if not any(r in SECOND_APPROVERS for r in roles):
        raise Forbidden("the second approval needs ops or admin of the shop")
    if actor_id == first_by:
        raise ConflictError(f"{actor_id} gave the first approval: the second must come from someone else")


def new_customer_auto_approves(case_type: str, amount_fen: int, up_to_fen: int, earlier_completed: int) -> bool:
    """新客优先 (new customers let through first): a refund-only of at most `up_to_fen` (0: off) from a
    buyer with no earlier completed order in the shop is approved without a human."""
    return case_type == "refund_only" and 0 < amount_fen <= up_to_fen and earlier_completed == 0
