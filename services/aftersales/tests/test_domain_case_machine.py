"""The after-sales case state machine under random sequences of actions (hypothesis stateful),
applied the way the service applies them: the operations functions the views and handlers call (approve,
reject, ship_return, receive, start_refund/retry, the refund-failed, reship and close transitions), each
in its own unit of work on a SQLite database.

Invariants after every step:
- multi-level review (run with a low AFTERSALES_SECOND_APPROVAL_FEN too): a refund above it is held
  `requested` by its first approval (the system's automatic one included), refused to a first
  approver again, and approved by ops' second approval only then;
- an accepted action moves the case where the machine says and adds exactly one timeline entry per
  transition it makes (approving a refund-only also starts its refund; receiving a return also starts
  its refund: two each);
- an illegal action raises IllegalTransition (-> 409) and changes nothing: status, timeline, events,
  claims;
- rejected and closed are terminal;
- the timeline replays through the machine from `requested` to the stored status;
- money: the case amount and its line shares never change and add up; the order's claims hold exactly
  the live case's units and money (released on rejection) and never exceed what was paid; a second
  case claiming the same money is refused while the first is alive; each refund request (RefundApproved)
  asks for the case amount with attempt 1, 2, 3...
"""

from __future__ import annotations

from dataclasses import replace

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test

from aftersales import decisions, domain, operations
from aftersales.domain import Action, CaseRequest, CaseType, RequestedLine, Status
from aftersales.models import Case, CaseEvent, Claim
from aftersales.settings import Settings
from ecom_common.clock import iso
from ecom_common.errors import ConflictError, Forbidden, IllegalTransition, RuleViolation
from ecom_common.usecase import Actor, Ctx
from ecom_testkit import recorded_events

LINES = [
    {"sku_code": "RED-M", "quantity": 2, "unit_price_fen": 3000},
    {"sku_code": "BLUE-L", "quantity": 1, "unit_price_fen": 8000},
]
PAYABLE = 14000


class CaseMachine(RuleBasedStateMachine):
    def __init__(self, db, clock, settings):
        super().__init__()
        self.db, self.clock, self.settings = db, clock, settings
        self.policy = settings.policy
        self.n = 0

    @initialize(
        case_type=st.sampled_from(CaseType.ALL),
        take_blue=st.booleans(),
        red=st.integers(0, 2),
        amount_cut=st.integers(0, 100),
    )
    def open(self, case_type, take_blue, red, amount_cut):
        CaseMachine.orders = getattr(CaseMachine, "orders", 0) + 1
        self.order = domain.OrderView.from_json(
            {
                "order_id": f"O{CaseMachine.orders}",
                "shop_id": "S1",
                "buyer_id": "bob",
                "status": "delivered",
                "lines": LINES,
                "payable_fen": PAYABLE,
                "delivered_at": iso(self.clock.now()),
            }
        )
        wanted = [RequestedLine("RED-M", red, "RED-L" if case_type == CaseType.EXCHANGE else None)] if red else []
        if take_blue or not wanted:
            wanted.append(RequestedLine("BLUE-L", 1, "BLUE-XL" if case_type == CaseType.EXCHANGE else None))
        full = sum(3000 * l.quantity if l.sku_code == "RED-M" else 8000 for l in wanted)
        amount = None if case_type == CaseType.EXCHANGE else max(1, full * (100 - amount_cut) // 100)
        draft = domain.draft_case(
            self.order, CaseRequest(case_type, "quality", wanted, amount), self.clock.now(), self.policy
        )
        with self.db.uow() as uow:
            case = operations.open_case(self.ctx(uow, "bob"), draft, evidence={"images": [], "text": ""})
            uow.commit()
            self.case_id = case.id
        self.type, self.amount = case_type, draft.amount_fen
        self.units = sum(l.quantity for l in draft.lines)
        self.shares = {l.sku_code: (l.quantity, l.amount_fen) for l in draft.lines}
        # a small refund-only is approved (and its refund asked) at once: two more transitions
        self.status, self.entries = Status.REQUESTED, 1
        self.refund_requests = 0
        self.awaiting_second = False  # multi-level review: first approval given, the second pending
        if draft.auto_approve and self.held(draft.amount_fen):
            self.entries, self.awaiting_second = 2, True  # the system's is the first of two approvals
        elif draft.auto_approve:
            self.status, self.entries, self.refund_requests = Status.REFUNDING, 3, 1
        self.refund_failed = False
        assert self.stored()[:2] == (self.status, self.entries)

    # helpers --------------------------------------------------------------------------------------
    def ctx(self, uow, by, roles=()):
        return Ctx(uow=uow, actor=Actor(by, roles), settings=self.settings)

    def held(self, amount):
        return decisions.needs_second_approval(amount, self.settings.second_approval_above_fen)

    def stored(self):
        with self.db.Session() as s:
            status = s.execute(sa.select(Case.status).where(Case.id == self.case_id)).scalar_one()
            entries = s.execute(
                sa.select(sa.func.count()).select_from(CaseEvent).where(CaseEvent.case_id == self.case_id)
            ).scalar_one()
            claims = s.execute(
                sa.select(Claim.sku_code, Claim.claimed_qty, Claim.claimed_fen)
                .where(Claim.order_id == self.order.order_id)
                .order_by(Claim.sku_code)
            ).all()
        return status, entries, [tuple(c) for c in claims], len(recorded_events(self.db))

    def attempt(self, work, transitions: int, target: str | None, allowed: bool, refusals=IllegalTransition):
        """Run `work(uow, case, now)`; if `allowed`, expect `transitions` new entries ending in
        `target`, else IllegalTransition and nothing changed."""
        self.clock.advance(minutes=5)
        before = self.stored()
        if not allowed:
            try:
                with self.db.uow() as uow:
                    work(uow, uow.session.get(Case, self.case_id), self.clock.now())
                    uow.commit()
            except refusals:
                pass
            else:
                raise AssertionError(f"accepted in {self.status}")
            assert self.stored() == before, "a refused action changed something"
            return False
        with self.db.uow() as uow:
            work(uow, uow.session.get(Case, self.case_id), self.clock.now())
            uow.commit()
        status, entries, _, _ = self.stored()
        assert (status, entries) == (target, self.entries + transitions)
        self.status, self.entries = status, entries
        return True

    def can(self, action):
        return action in domain.allowed_actions(self.type, self.status)

    def refund_asked(self):
        self.refund_requests += 1
        event = recorded_events(self.db, "aftersales.RefundApproved")[-1]["payload"]
        assert (event["case_id"], event["amount_fen"], event["attempt"]) == (
            self.case_id,
            self.amount,
            self.refund_requests,
        )

    # rules ------------------------------------------------------------------------------------------
    @rule()
    def approve(self):
        refund_only = self.type == CaseType.REFUND_ONLY
        target = Status.REFUNDING if refund_only else Status.APPROVED
        if self.can(Action.APPROVE) and not self.awaiting_second and self.held(self.amount):
            # the first of two approvals: still requested, one timeline entry
            self.awaiting_second = self.attempt(
                lambda uow, c, now: operations.approve(self.ctx(uow, "carol"), c), 1, Status.REQUESTED, True
            )
            return
        if (
            self.attempt(
                lambda uow, c, now: operations.approve(self.ctx(uow, "carol"), c),
                2 if refund_only else 1,
                target,
                self.can(Action.APPROVE) and not self.awaiting_second,  # carol has no higher role: 403
                refusals=(IllegalTransition, Forbidden, ConflictError),
            )
            and refund_only
        ):
            self.refund_asked()

    @rule()
    def second_approve(self):
        """ops' approval: the second one of a held refund, refused otherwise (403 for a first approval,
        409 once decided)."""
        refund_only = self.type == CaseType.REFUND_ONLY
        allowed = self.can(Action.APPROVE) and self.awaiting_second
        done = self.attempt(
            lambda uow, c, now: operations.approve(self.ctx(uow, "olga", ("ops",)), c),
            2 if refund_only else 1,
            Status.REFUNDING if refund_only else Status.APPROVED,
            allowed,
            refusals=(IllegalTransition, Forbidden),
        )
        if done:
            self.awaiting_second = False
            with self.db.Session() as s:
                assert s.get(Case, self.case_id).second_approved_by == "olga"
        if done and refund_only:
            self.refund_asked()

    @rule()
    def reject(self):
        self.attempt(
            lambda uow, c, now: operations.reject(self.ctx(uow, "carol"), c, reason="not our fault"),
            1,
            Status.REJECTED,
            self.can(Action.REJECT),
        )

    @rule()
    def ship_return(self):
        self.attempt(
            lambda uow, c, now: operations.ship_return(self.ctx(uow, "bob"), c, carrier="SF", tracking_no="SF123"),
            1,
            Status.AWAITING_RETURN,
            self.can(Action.SHIP_RETURN),
        )

    @rule(resellable=st.booleans())
    def receive(self, resellable):
        is_return = self.type == CaseType.RETURN
        if (
            self.attempt(
                lambda uow, c, now: operations.receive(self.ctx(uow, "wang"), c, resellable=resellable, note=None),
                2 if is_return else 1,
                Status.REFUNDING if is_return else Status.RECEIVED,
                self.can(Action.RECEIVE),
            )
            and is_return
        ):
            self.refund_asked()

    @rule()
    def refund_failed(self):
        def work(uow, c, now):
            operations.refund_failed(self.ctx(uow, "billing"), c, refund_id="R1", error="card closed")

        if self.attempt(work, 1, Status.REFUNDING, self.can(Action.REFUND_FAILED)):
            self.refund_failed = True

    @rule()
    def retry_refund(self):
        allowed = self.can(Action.RETRY_REFUND) and self.refund_failed
        if self.attempt(
            lambda uow, c, now: operations.start_refund(self.ctx(uow, "carol"), c, retry=True),
            1,
            Status.REFUNDING,
            allowed,
        ):
            self.refund_failed = False
            self.refund_asked()

    @rule()
    def reship(self):
        self.attempt(
            lambda uow, c, now: operations.reship(
                self.ctx(uow, "logistics"), c, shipment_id="S1", carrier="SF", tracking_no="SF9"
            ),
            1,
            Status.RESHIPPED,
            self.can(Action.RESHIP),
        )

    @rule()
    def close(self):
        self.attempt(
            lambda uow, c, now: operations.close(self.ctx(uow, "billing"), c, outcome="refunded", reason="done"),
            1,
            Status.CLOSED,
            self.can(Action.CLOSE),
        )

    @rule()
    def competing_case_for_the_same_money(self):
        """A second case asking for everything that was paid: refused while this case holds a claim."""
        if self.status == Status.REJECTED:
            return
        draft = domain.draft_case(
            self.order,
            CaseRequest(CaseType.RETURN, "quality", [RequestedLine("RED-M", 2), RequestedLine("BLUE-L", 1)], None),
            self.clock.now(),
            self.policy,
        )
        before = self.stored()
        try:
            with self.db.uow() as uow:
                operations.open_case(self.ctx(uow, "bob"), draft, evidence={"images": [], "text": ""})
                uow.commit()
        except RuleViolation:
            pass
        else:
            raise AssertionError("the same units and money were claimed twice")
        assert self.stored() == before

    # invariants -----------------------------------------------------------------------------------------
    @invariant()
    def terminal_states_stay_terminal(self):
        if self.status in Status.FINAL:
            assert domain.allowed_actions(self.type, self.status) == []

    @invariant()
    def timeline_replays_through_the_machine(self):
        with self.db.Session() as s:
            case = s.get(Case, self.case_id)
            entries = list(case.timeline)
            assert case.status == self.status and len(entries) == self.entries
            assert (entries[0].action, entries[0].status) == ("request", Status.REQUESTED)
            for before, after in zip(entries, entries[1:], strict=False):
                assert domain.next_status(self.type, before.status, after.action) == after.status
            assert entries[-1].status == case.status
            # money
            assert case.amount_fen == self.amount == sum(l.amount_fen for l in case.lines)
            assert {l.sku_code: (l.quantity, l.amount_fen) for l in case.lines} == self.shares
            assert case.refund_attempts == self.refund_requests
            claims = {
                c.sku_code: c
                for c in s.execute(sa.select(Claim).where(Claim.order_id == self.order.order_id)).scalars()
            }
        live = self.status != Status.REJECTED
        order_row = claims[Claim.ORDER_ROW]
        assert order_row.cap_fen == PAYABLE and order_row.claimed_fen <= PAYABLE
        assert (order_row.claimed_qty, order_row.claimed_fen) == ((self.units, self.amount) if live else (0, 0))
        for sku, (qty, fen) in self.shares.items():
            assert (claims[sku].claimed_qty, claims[sku].claimed_fen) == ((qty, fen) if live else (0, 0))
            assert claims[sku].claimed_fen <= claims[sku].cap_fen


@pytest.mark.parametrize("second_above", [50000, 1000], ids=["one-approval", "two-approvals"])
def test_random_action_sequences_keep_the_case_invariants(api, second_above):
    # 1000: most refunds need a second approval, those below 5000 auto-approved by the system first
    base = Settings.from_config(api.config)
    run_state_machine_as_test(
        lambda: CaseMachine(api.db, api.clock, replace(base, second_approval_above_fen=second_above)),
        settings=settings(
            max_examples=25,
            stateful_step_count=20,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
