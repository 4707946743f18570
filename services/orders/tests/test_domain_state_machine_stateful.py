"""The order state machine under random sequences of actions (hypothesis stateful), applied the way
the service applies them: `operations.move` / `operations.cancel` on a stored order (SQLite), each
action in its own unit of work.

Invariants after every step:
- an accepted action moves the order to the status TRANSITIONS names and adds exactly one timeline
  entry (from_status = the status before, status = the status after, who and why kept);
- an illegal action raises IllegalTransition (-> 409) and changes nothing: same status, same timeline,
  no event recorded;
- a writer holding a stale copy of the order (another request moved it meanwhile) is refused
  (ConcurrentChange -> 409) and writes nothing;
- completed and cancelled are terminal: no action leaves them;
- the timeline is a chain: each entry starts where the previous one ended;
- money never changes after placing (goods, discount, shipping, payable; payable = goods - discount +
  shipping); a cancellation's OrderCancelled says was_paid exactly when the order had been paid.
"""

from __future__ import annotations

import uuid
from types import SimpleNamespace

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test

from ecom_common.errors import ConcurrentChange, IllegalTransition
from ecom_common.usecase import Actor, Ctx
from ecom_testkit import recorded_events
from orders import domain, operations, pricing
from orders.models import Order, OrderLine, TimelineEntry
from orders.settings import Settings

ACTIONS = sorted(domain.TRANSITIONS)
# What the service writes with each action besides the status (handlers/api), so that the stored
# order looks like a real one (paid_at is what OrderCancelled.was_paid is read from).
CHANGES = {
    domain.Action.PAY: lambda now: {"paid_at": now, "payment_id": "P1"},
    domain.Action.SHIP: lambda now: {"shipped_at": now, "carrier": "SF", "tracking_no": "SF1"},
    domain.Action.DELIVER: lambda now: {"delivered_at": now},
    domain.Action.COMPLETE: lambda now: {"completed_at": now},
    domain.Action.HOLD: lambda now: {"held_at": now, "held_reasons": ",amount_over_limit,"},
}


def as_(uow, by: str) -> Ctx:
    """The context an operation runs in, acting as `by`."""
    return Ctx(uow=uow, actor=Actor(by), settings=Settings())


class OrderMachine(RuleBasedStateMachine):
    def __init__(self, db, clock):
        super().__init__()
        self.db, self.clock = db, clock

    @initialize(
        unit_price=st.integers(1, 10**6),
        list_extra=st.integers(0, 10**5),
        quantity=st.integers(1, 20),
        shipping=st.integers(0, 5000),
    )
    def place(self, unit_price, list_extra, quantity, shipping):
        line = pricing.PricedLine("SKU-1", quantity, "商品", "C1", unit_price + list_extra, unit_price, 500)
        totals = pricing.totals([line], shipping)
        now = self.clock.now()
        self.order_id = f"O{uuid.uuid4().hex[:12]}"
        address = domain.Address.from_dict(
            {
                "name": "张三",
                "phone": "13812345678",
                "province": "浙江",
                "city": "杭州",
                "street": "文三路",
                "detail": "1号",
            }
        )
        with self.db.uow() as uow:
            uow.session.add(
                Order(
                    id=self.order_id,
                    shop_id="S1",
                    buyer_id="bob",
                    status=domain.PENDING_PAYMENT,
                    presale=False,
                    priority=False,
                    note="",
                    address=address.to_dict(),
                    address_masked=address.masked(),
                    receiver_phone=address.phone,
                    goods_fen=totals.goods_fen,
                    discount_fen=totals.discount_fen,
                    shipping_fen=totals.shipping_fen,
                    payable_fen=totals.payable_fen,
                    held_reasons="",
                    created_at=now,
                    updated_at=now,
                    lines=[
                        OrderLine(
                            line_no=0,
                            sku_code="SKU-1",
                            title="商品",
                            category_id="C1",
                            quantity=quantity,
                            list_price_fen=line.list_price_fen,
                            unit_price_fen=unit_price,
                            weight_g=500,
                        )
                    ],
                    timeline=[
                        TimelineEntry(
                            status=domain.PENDING_PAYMENT,
                            from_status=None,
                            action="placed",
                            at=now,
                            by="bob",
                            reason="placed",
                        )
                    ],
                )
            )
            uow.commit()
        self.money = (totals.goods_fen, totals.discount_fen, totals.shipping_fen, totals.payable_fen)
        self.status = domain.PENDING_PAYMENT
        self.entries = 1
        self.paid = False
        self.events = len(recorded_events(self.db))

    # helpers ---------------------------------------------------------------------------------------
    def load(self, session) -> Order:
        return session.get(Order, self.order_id)

    def stored(self) -> tuple[str, int]:
        with self.db.Session() as s:
            status = s.execute(sa.select(Order.status).where(Order.id == self.order_id)).scalar_one()
            entries = s.execute(
                sa.select(sa.func.count()).select_from(TimelineEntry).where(TimelineEntry.order_id == self.order_id)
            ).scalar_one()
        return status, entries

    def expect_refused(self, call, error=IllegalTransition):
        with pytest.raises(error), self.db.uow() as uow:
            call(uow)
            uow.commit()
        assert self.stored() == (self.status, self.entries), "a refused action changed the order"
        assert len(recorded_events(self.db)) == self.events, "a refused action recorded an event"

    def accepted(self, action: str, by: str) -> None:
        target = domain.TRANSITIONS[action][1]
        status, entries = self.stored()
        assert (status, entries) == (target, self.entries + 1)
        with self.db.Session() as s:
            last = s.execute(
                sa.select(TimelineEntry)
                .where(TimelineEntry.order_id == self.order_id)
                .order_by(TimelineEntry.id.desc())
                .limit(1)
            ).scalar_one()
        assert (last.from_status, last.status, last.action, last.by) == (self.status, target, action, by)
        self.status, self.entries = target, entries
        if action == domain.Action.PAY:
            self.paid = True

    # rules ---------------------------------------------------------------------------------------------
    @rule(action=st.sampled_from(ACTIONS), by=st.sampled_from(["bob", "olga", "system"]))
    def act(self, action, by):
        self.clock.advance(minutes=1)

        def apply(uow):
            now = self.clock.now()
            changes = CHANGES.get(action, lambda _: {})(now)
            operations.move(as_(uow, by), self.load(uow.session), action, f"{action} by {by}", **changes)

        if domain.can(self.status, action):
            with self.db.uow() as uow:
                apply(uow)
                uow.commit()
            self.accepted(action, by)
        else:
            self.expect_refused(apply)

    @rule(by=st.sampled_from(["bob", "olga"]))
    def cancel(self, by):
        """The service's cancel: the transition plus OrderCancelled for inventory and billing."""
        self.clock.advance(minutes=1)

        def apply(uow):
            operations.cancel(as_(uow, by), self.load(uow.session), "buyer changed mind")

        if not domain.can(self.status, domain.Action.CANCEL):
            self.expect_refused(apply)
            return
        with self.db.uow() as uow:
            apply(uow)
            uow.commit()
        self.accepted(domain.Action.CANCEL, by)
        events = recorded_events(self.db, "orders.OrderCancelled")
        assert len(recorded_events(self.db)) == self.events + 1
        self.events += 1
        payload = events[-1]["payload"]
        assert payload["order_id"] == self.order_id and payload["was_paid"] is self.paid
        assert payload["payable_fen"] == self.money[3]

    @rule(action=st.sampled_from(ACTIONS))
    def stale_writer(self, action):
        """Another request moved the order after this one read it: this one's write is refused."""
        if not domain.can(self.status, action):
            return
        other = domain.PENDING_PAYMENT if self.status != domain.PENDING_PAYMENT else domain.PAID
        with self.db.engine.begin() as conn:  # the other writer, committed
            conn.execute(sa.update(Order).where(Order.id == self.order_id).values(status=other))
        stale = SimpleNamespace(id=self.order_id, status=self.status)  # what this request had read
        with pytest.raises(ConcurrentChange), self.db.uow() as uow:
            operations.move(as_(uow, "olga"), stale, action, "stale")
            uow.commit()
        with self.db.engine.begin() as conn:
            assert conn.execute(sa.select(Order.status).where(Order.id == self.order_id)).scalar_one() == other
            conn.execute(sa.update(Order).where(Order.id == self.order_id).values(status=self.status))
        assert self.stored() == (self.status, self.entries)

    # invariants ------------------------------------------------------------------------------------------
    @invariant()
    def terminal_states_stay_terminal(self):
        if self.status in domain.FINAL:
            assert all(not domain.can(self.status, a) for a in ACTIONS)

    @invariant()
    def timeline_is_a_chain_and_money_is_unchanged(self):
        with self.db.Session() as s:
            order = self.load(s)
            entries = list(order.timeline)
            assert order.status == self.status and len(entries) == self.entries
            assert entries[0].from_status is None
            for before, after in zip(entries, entries[1:], strict=False):
                assert after.from_status == before.status
            assert entries[-1].status == order.status
            goods, discount, shipping, payable = self.money
            assert (order.goods_fen, order.discount_fen, order.shipping_fen, order.payable_fen) == self.money
            assert payable == goods - discount + shipping and discount >= 0 and payable >= 0


def test_random_action_sequences_keep_the_order_invariants(db, clock):
    run_state_machine_as_test(
        lambda: OrderMachine(db, clock),
        settings=settings(
            max_examples=30,
            stateful_step_count=20,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
