"""Refunds (cancellations, late payments, after-sales caps) and T+7 settlement through the real
consumer path (inbox + handler + outbox) on SQLite."""

from __future__ import annotations

import sqlalchemy as sa

from billing.handlers import resend_pending_webhooks, settle_due
from billing.models import BillingOrder, LedgerEntry, OrderLine, Payout, Refund, SandboxIntent, Settlement
from ecom_testkit import auth


def ledger(db, shop_id="S1") -> list[tuple[str, int]]:
    with db.Session() as s:
        return [
            tuple(r)
            for r in s.execute(
                sa.select(LedgerEntry.kind, LedgerEntry.amount_fen)
                .where(LedgerEntry.shop_id == shop_id)
                .order_by(LedgerEntry.id)
            )
        ]


def balance(db, shop_id="S1") -> int:
    return sum(a for _, a in ledger(db, shop_id))


def order_row(db, order_id="O1") -> BillingOrder:
    with db.Session() as s:
        return s.get(BillingOrder, order_id)


def cancel(billing, order_id="O1", was_paid=True, case_id=None):
    return billing.event(
        "orders.OrderCancelled",
        {"order_id": order_id, "shop_id": "S1", "reason": "buyer cancelled", "was_paid": was_paid, "case_id": case_id},
    )


def complete(billing, order_id="O1", payable_fen=10_000):
    at = billing.config.clock.now().isoformat()
    return billing.event(
        "orders.OrderCompleted", {"order_id": order_id, "shop_id": "S1", "completed_at": at, "payable_fen": payable_fen}
    )


def approve(billing, case_id, amount_fen, lines, order_id="O1"):
    payload = {"case_id": case_id, "order_id": order_id, "shop_id": "S1", "amount_fen": amount_fen}
    if lines is not None:
        payload["lines"] = lines
    return billing.event("aftersales.RefundApproved", payload)


# Billing's copy of the order ------------------------------------------------------------------------
def test_order_placed_keeps_each_lines_share_of_the_payable_amount(billing):
    billing.placed(payable_fen=9_000)  # lines worth 100 yuan, 10 yuan off
    with billing.db.Session() as s:
        lines = s.execute(sa.select(OrderLine).order_by(OrderLine.line_no)).scalars().all()
    assert [(l.sku_code, l.quantity, l.share_fen, l.category_id) for l in lines] == [
        ("SKU-A", 2, 5_400, "C-dress"),
        ("SKU-B", 1, 3_600, "C-mask"),
    ]
    assert order_row(billing.db).payable_fen == 9_000


def test_an_order_placed_after_its_completion_arrived_takes_its_placing_time_and_lines(billing):
    # OrderCompleted overtook OrderPlaced (a redelivery): the copy made from the completion keeps its
    # status and settlement, and takes what only OrderPlaced carries when it arrives.
    complete(billing, payable_fen=9_000)
    assert order_row(billing.db).placed_at is None
    billing.event(
        "orders.OrderPlaced",
        {
            "order_id": "O1",
            "shop_id": "S1",
            "buyer_id": "bob",
            "payable_fen": 9_000,
            "lines": [{"sku_code": "SKU-A", "quantity": 1, "unit_price_fen": 9_000}],
        },
    )
    row = order_row(billing.db)
    assert row.status == "completed" and row.placed_at is not None and row.buyer_id == "bob"
    with billing.db.Session() as s:
        assert s.execute(sa.select(sa.func.count()).select_from(OrderLine)).scalar_one() == 1
        assert s.execute(sa.select(sa.func.count()).select_from(Settlement)).scalar_one() == 1


# Cancellation -----------------------------------------------------------------------------------------
def test_a_paid_order_cancelled_is_refunded_once_carrying_the_case_id(billing):
    billing.paid()
    outcome, env = cancel(billing, case_id="C1")
    assert outcome == "handled"
    assert billing.redeliver(env) == "duplicate"
    cancel(billing, case_id="C1")  # the same fact announced again, new event id
    [refund] = billing.events("billing.RefundSucceeded")
    assert refund["payload"]["amount_fen"] == 10_000 and refund["payload"]["case_id"] == "C1"
    assert ledger(billing.db) == [("payment", 10_000), ("refund", -10_000)]
    assert balance(billing.db) == 0
    with billing.db.Session() as s:
        intent = s.execute(sa.select(SandboxIntent)).scalar_one()
    assert intent.refunded_fen == 10_000  # back to the original route


def test_an_unpaid_order_cancelled_refunds_nothing(billing):
    billing.placed()
    cancel(billing, was_paid=False)
    assert billing.events("billing.RefundSucceeded") == []
    assert order_row(billing.db).status == "cancelled"


def test_paid_per_orders_but_no_payment_on_record_is_a_refund_failure(billing):
    billing.placed()
    cancel(billing, was_paid=True, case_id="C9")
    [failed] = billing.events("billing.RefundFailed")
    assert failed["payload"]["case_id"] == "C9" and "no succeeded payment" in failed["payload"]["reason"]


def test_a_late_success_after_the_cancellation_is_refunded_not_announced(billing):
    billing.placed()
    payment = billing.pay().get_json()  # pending at the provider
    cancel(billing, was_paid=False)  # the unpaid order times out meanwhile
    assert billing.events("billing.RefundSucceeded") == []
    assert billing.confirm(payment)  # the provider's success arrives late
    assert billing.events("billing.PaymentSucceeded") == []
    [refund] = billing.events("billing.RefundSucceeded")
    assert refund["payload"]["amount_fen"] == 10_000 and refund["payload"]["kind"] == "late_payment"
    assert balance(billing.db) == 0
    cancel(billing, was_paid=False)  # and again: still one refund
    assert len(billing.events("billing.RefundSucceeded")) == 1


def test_a_late_success_is_refunded_when_orders_answers_cancelled(billing):
    billing.placed()
    payment = billing.pay().get_json()
    billing.orders.orders["O1"]["status"] = "cancelled"  # OrderCancelled not consumed yet
    billing.confirm(payment)
    assert billing.events("billing.PaymentSucceeded") == []
    assert len(billing.events("billing.RefundSucceeded")) == 1
    assert order_row(billing.db).status == "cancelled"
    cancel(billing, was_paid=False)  # the event arrives later: no second refund
    assert len(billing.events("billing.RefundSucceeded")) == 1


# After-sales refunds ----------------------------------------------------------------------------------
def test_an_approved_refund_within_the_cap_is_paid_back(billing):
    billing.paid()
    approve(billing, "C1", 3_000, [{"sku_code": "SKU-A", "quantity": 1}])
    [refund] = billing.events("billing.RefundSucceeded")
    assert refund["payload"]["case_id"] == "C1" and refund["payload"]["amount_fen"] == 3_000
    assert order_row(billing.db).refunded_fen == 3_000
    approve(billing, "C1", 3_000, [{"sku_code": "SKU-A", "quantity": 1}])  # the same case again
    assert len(billing.events("billing.RefundSucceeded")) == 1


def test_a_second_refund_beyond_what_was_paid_is_refused_and_moves_nothing(billing):
    billing.paid()
    approve(billing, "C1", 6_000, [{"sku_code": "SKU-A", "quantity": 2}])
    approve(billing, "C2", 1, [{"sku_code": "SKU-A", "quantity": 1}])  # nothing left on that line
    approve(billing, "C3", 4_001, [{"sku_code": "SKU-B", "quantity": 1}])  # above the line's 4000
    assert len(billing.events("billing.RefundSucceeded")) == 1
    failed = billing.events("billing.RefundFailed")
    assert [(f["payload"]["case_id"], f["payload"]["code"]) for f in failed] == [
        ("C2", "quantity_exceeds_bought"),
        ("C3", "amount_exceeds_paid"),
    ]
    assert order_row(billing.db).refunded_fen == 6_000
    assert ledger(billing.db) == [("payment", 10_000), ("refund", -6_000)]
    approve(billing, "C4", 4_000, [{"sku_code": "SKU-B", "quantity": 1}])  # exactly what is left
    assert order_row(billing.db).refunded_fen == 10_000
    cancel(billing)  # nothing left to refund
    assert len(billing.events("billing.RefundSucceeded")) == 2
    with billing.db.Session() as s:
        statuses = s.execute(sa.select(Refund.case_id, Refund.status).order_by(Refund.created_at)).all()
    assert sorted(statuses) == [("C1", "succeeded"), ("C2", "failed"), ("C3", "failed"), ("C4", "succeeded")]


def test_a_refund_for_an_unknown_or_unpaid_order_is_refused(billing):
    approve(billing, "C1", 100, [{"sku_code": "X", "quantity": 1}], order_id="O404")
    billing.placed("O2")
    approve(billing, "C2", 100, [{"sku_code": "SKU-A", "quantity": 1}], order_id="O2")
    assert [f["payload"]["code"] for f in billing.events("billing.RefundFailed")] == ["unknown_order", "order_not_paid"]


# Settlement -------------------------------------------------------------------------------------------
def test_completion_schedules_settlement_at_t_plus_7_and_the_job_pays_once(billing):
    billing.paid()
    complete(billing)
    complete(billing)  # announced twice: scheduled once
    [scheduled] = billing.events("billing.SettlementScheduled")
    with billing.db.Session() as s:
        st = s.execute(sa.select(Settlement)).scalar_one()
    assert (st.due_at.replace(tzinfo=None) - st.completed_at.replace(tzinfo=None)).days == 7
    assert scheduled["payload"]["settlement_id"] == st.settlement_id

    assert settle_due(billing.db) == 0  # not due yet
    billing.config.clock.advance(days=7, seconds=1)
    assert settle_due(billing.db) == 1
    assert settle_due(billing.db) == 0  # run twice: pays once
    [paid] = billing.events("billing.SettlementPaid")
    # default 5% on each line's share: 6000 -> 300, 4000 -> 200
    assert paid["payload"]["amount_fen"] == 9_500 and paid["payload"]["shop_id"] == "S1"
    assert ledger(billing.db) == [("payment", 10_000), ("commission", -500), ("payout", -9_500)]
    assert balance(billing.db) == 0


def test_commission_follows_the_category_rate(billing):
    resp = billing.client.put(
        "/api/v1/commission-rates",
        json={"rates": [{"category_id": "C-dress", "rate_bps": 1_000}]},
        headers=auth("admin", sub="root"),
    )
    assert resp.status_code == 200, resp.get_json()
    billing.paid()
    complete(billing)
    billing.config.clock.advance(days=8)
    settle_due(billing.db)
    assert ledger(billing.db)[1] == ("commission", -(600 + 200))  # 10% of 6000 + 5% of 4000


def test_a_refund_before_settlement_lowers_the_payout_and_the_commission(billing):
    billing.paid()
    complete(billing)
    approve(billing, "C1", 4_000, [{"sku_code": "SKU-B", "quantity": 1}])
    billing.config.clock.advance(days=8)
    settle_due(billing.db)
    [paid] = billing.events("billing.SettlementPaid")
    assert paid["payload"]["amount_fen"] == 6_000 - 300
    assert balance(billing.db) == 0


def test_a_refund_after_settlement_is_taken_from_the_next_payout(billing):
    billing.paid("O1")
    complete(billing, "O1")
    billing.config.clock.advance(days=8)
    settle_due(billing.db)  # O1 paid out: 9500
    approve(billing, "C1", 4_000, [{"sku_code": "SKU-B", "quantity": 1}])
    [refund] = billing.events("billing.RefundSucceeded")
    assert refund["payload"]["after_settlement"] is True
    # the commission taken on that money is given back (5% of 4000)
    assert ledger(billing.db)[-2:] == [("refund", -4_000), ("commission_reversal", 200)]
    settle_due(billing.db)
    assert len(billing.events("billing.SettlementPaid")) == 1  # nothing new due: nothing paid

    billing.paid("O2")
    complete(billing, "O2")
    billing.config.clock.advance(days=8)
    settle_due(billing.db)
    second = billing.events("billing.SettlementPaid")[-1]
    assert second["payload"]["amount_fen"] == 9_500 - 4_000 + 200
    assert balance(billing.db) == 0
    with billing.db.Session() as s:
        assert s.execute(sa.select(sa.func.count()).select_from(Payout)).scalar_one() == 2


# Discounts priced by marketing ----------------------------------------------------------------------
# SKU-A x2 at 30 yuan and SKU-B at 40: a 10-yuan platform coupon apportioned 600 / 400, the buyer pays 90.
DISCOUNTED = [
    {"sku_code": "SKU-A", "quantity": 2, "unit_price_fen": 3_000, "paid_fen": 5_400, "category_id": "C-dress"},
    {"sku_code": "SKU-B", "quantity": 1, "unit_price_fen": 4_000, "paid_fen": 3_600, "category_id": "C-mask"},
]
PLATFORM_COUPON = [
    {
        "line": 0,
        "sku_code": "SKU-A",
        "source": "platform_coupon",
        "ref": "CL1",
        "amount_fen": 600,
        "funded_by": "platform",
    },
    {
        "line": 1,
        "sku_code": "SKU-B",
        "source": "platform_coupon",
        "ref": "CL1",
        "amount_fen": 400,
        "funded_by": "platform",
    },
]


def test_lines_are_weighted_by_what_they_paid_and_remember_the_platform_funded_part(billing):
    billing.placed(payable_fen=9_000 + 1_000, lines=DISCOUNTED, discounts=PLATFORM_COUPON)  # 10 yuan shipping
    with billing.db.Session() as s:
        lines = s.execute(sa.select(OrderLine).order_by(OrderLine.line_no)).scalars().all()
    assert [(l.share_fen, l.platform_fen) for l in lines] == [(6_000, 600), (4_000, 400)]


def test_the_platform_pays_its_coupons_to_the_shop_at_settlement(billing):
    billing.paid(payable_fen=9_000, lines=DISCOUNTED, discounts=PLATFORM_COUPON)
    complete(billing, payable_fen=9_000)
    billing.config.clock.advance(days=8)
    settle_due(billing.db)
    # commission 5% of what the buyer paid per line (270 + 180); the shop gets the coupon's 1,000 on top
    assert ledger(billing.db) == [
        ("payment", 9_000),
        ("commission", -450),
        ("platform_subsidy", 1_000),
        ("payout", -9_550),
    ]
    [paid] = billing.events("billing.SettlementPaid")
    assert paid["payload"]["amount_fen"] == 9_000 - 450 + 1_000


def test_a_refund_before_settlement_pays_only_the_subsidy_of_what_stays_paid(billing):
    billing.paid(payable_fen=9_000, lines=DISCOUNTED, discounts=PLATFORM_COUPON)
    complete(billing, payable_fen=9_000)
    approve(billing, "C1", 3_600, [{"sku_code": "SKU-B", "quantity": 1}])  # SKU-B refunded in full
    billing.config.clock.advance(days=8)
    settle_due(billing.db)
    assert ("platform_subsidy", 600) in ledger(billing.db)  # SKU-A's part only
    assert balance(billing.db) == 0


def test_a_refund_after_settlement_takes_the_lines_subsidy_back(billing):
    billing.paid(payable_fen=9_000, lines=DISCOUNTED, discounts=PLATFORM_COUPON)
    complete(billing, payable_fen=9_000)
    billing.config.clock.advance(days=8)
    settle_due(billing.db)
    approve(billing, "C1", 1_800, [{"sku_code": "SKU-B", "quantity": 1}])  # half of what SKU-B paid
    # commission back on 1,800 (90); half of SKU-B's 400 subsidy taken back
    assert ledger(billing.db)[-3:] == [("refund", -1_800), ("commission_reversal", 90), ("subsidy_reversal", -200)]


def test_refunds_exceeding_new_income_are_carried_forward_not_paid(billing):
    billing.paid("O1")
    complete(billing, "O1")
    billing.config.clock.advance(days=8)
    settle_due(billing.db)
    approve(billing, "C1", 10_000, None)  # the whole order refunded after payout
    billing.paid("O2", payable_fen=1_000, lines=[{"sku_code": "SKU-C", "quantity": 1, "unit_price_fen": 1_000}])
    complete(billing, "O2", payable_fen=1_000)
    billing.config.clock.advance(days=8)
    assert settle_due(billing.db) == 0  # 1000 - 50 - 10000 + 500 < 0
    with billing.db.Session() as s:
        st = s.execute(sa.select(Settlement).where(Settlement.order_id == "O2")).scalar_one()
    assert st.status == "settled" and st.payout_id is None
    resp = billing.get("/api/v1/ledger?shop_id=S1")
    assert resp.get_json()["unpaid_released_fen"] == 1_000 - 50 - 10_000 + 500


def test_the_webhook_retry_job_is_registered(billing):
    assert resend_pending_webhooks(billing.db) == 0
