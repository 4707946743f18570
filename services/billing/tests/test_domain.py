"""Domain rules without a database: signatures, test cards, refund caps, commission, settlement due
logic and the ledger's arithmetic."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from billing import domain, sandbox, shares
from billing.domain import EntryKind
from billing.shares import LineBalance
from ecom_common import ids
from ecom_common.errors import BadRequest, IllegalTransition, RuleViolation, Unauthorized

SECRET = "whsec_domain"
BODY = b'{"id":"evt_1","type":"payment_intent.succeeded"}'
NOW = 1_800_000_000


# Signatures ---------------------------------------------------------------------------------------
def test_a_signed_body_verifies_and_returns_its_timestamp():
    header = domain.sign(SECRET, BODY, NOW)
    assert header.startswith(f"t={NOW},v1=")
    assert domain.verify_signature(SECRET, BODY, header, NOW + 10, 300) == NOW


@pytest.mark.parametrize(
    "tamper",
    [
        lambda h, b: (h, b + b" "),  # body changed after signing
        lambda h, b: (domain.sign("other-secret", b, NOW), b),  # signed with another secret
        lambda h, b: (h.replace(f"t={NOW}", f"t={NOW + 1}"), b),  # timestamp moved (it is inside the MAC)
    ],
)
def test_a_tampered_webhook_is_unauthorized(tamper):
    header, body = tamper(domain.sign(SECRET, BODY, NOW), BODY)
    with pytest.raises(domain.SignatureError) as err:
        domain.verify_signature(SECRET, body, header, NOW, 300)
    assert err.value.problem is Unauthorized


def test_a_signature_outside_the_tolerance_window_is_refused():
    header = domain.sign(SECRET, BODY, NOW)
    with pytest.raises(domain.SignatureError, match="tolerance") as err:
        domain.verify_signature(SECRET, BODY, header, NOW + 301, 300)
    assert err.value.problem is Unauthorized
    with pytest.raises(domain.SignatureError):
        domain.verify_signature(SECRET, BODY, header, NOW - 301, 300)


@pytest.mark.parametrize("header", [None, "", "garbage", "t=abc,v1=00", "v1=abcd", f"t={NOW}"])
def test_a_garbled_signature_header_is_a_bad_request(header):
    with pytest.raises(domain.SignatureError) as err:
        domain.verify_signature(SECRET, BODY, header, NOW, 300)
    assert err.value.problem is BadRequest


def test_any_of_several_signatures_may_match_during_secret_rotation():
    good = domain.signature_for(SECRET, BODY, NOW)
    header = f"t={NOW},v1={'0' * 64},v1={good}"
    assert domain.verify_signature(SECRET, BODY, header, NOW, 300) == NOW


# Test cards ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "card, status, code",
    [
        ("4242424242424242", "succeeded", None),
        ("4000000000000002", "failed", "card_declined"),
        ("4000000000009995", "failed", "insufficient_funds"),
        ("4000000000000069", "failed", "expired_card"),
        ("4000000000000119", "failed", "processing_error"),
        ("5555555555554444", "succeeded", None),  # any other valid card number succeeds
    ],
)
def test_test_cards_are_deterministic(card, status, code):
    outcome = sandbox.plan_outcome("card", card)
    assert (outcome.status, outcome.failure_code) == (status, code)
    assert outcome.auto_confirm


def test_the_slow_card_is_only_confirmed_by_the_providers_retry():
    outcome = sandbox.plan_outcome("card", "4000000000000077")
    assert outcome.status == "succeeded" and outcome.auto_confirm is False


@pytest.mark.parametrize("method", ["alipay", "wechat", "unionpay"])
def test_wallets_always_succeed(method):
    assert sandbox.plan_outcome(method, None).status == "succeeded"


@pytest.mark.parametrize(
    "method, card, field",
    [
        ("alipay", "4242424242424242", "card_number"),  # a card number on a wallet
        ("card", None, "card_number"),  # a card payment without a number
        ("card", "4242424242424241", "card_number"),  # fails the Luhn check
        ("paypal", None, "method"),
    ],
)
def test_bad_payment_instruments_are_rule_violations(method, card, field):
    with pytest.raises(RuleViolation) as err:
        sandbox.plan_outcome(method, card)
    assert field in err.value.errors


# Payability -----------------------------------------------------------------------------------------
def facts(**kw):
    base = dict(order_id="O1", shop_id="S1", buyer_id="bob", status="pending_payment", payable_fen=10_000)
    base.update(kw)
    return domain.OrderFacts(**base)


def test_a_pending_order_is_payable_for_its_payable_amount():
    assert domain.check_payable(facts(), "bob", None, False) == 10_000
    assert domain.check_payable(facts(), "bob", 10_000, False) == 10_000


def test_payability_refusals():
    with pytest.raises(domain.UnknownOrderError):
        domain.check_payable(facts(), "mallory", None, False)
    with pytest.raises(domain.NotPayableError):
        domain.check_payable(facts(status="cancelled"), "bob", None, False)
    with pytest.raises(domain.NotPayableError):
        domain.check_payable(facts(status="paid"), "bob", None, False)
    with pytest.raises(domain.NotPayableError):
        domain.check_payable(facts(), "bob", None, billing_knows_cancelled=True)
    with pytest.raises(RuleViolation) as err:
        domain.check_payable(facts(), "bob", 9_999, False)
    assert "amount_fen" in err.value.errors


def test_orders_answer_with_nested_totals_is_understood():
    f = domain.OrderFacts.from_orders_api(
        {
            "order_id": "O9",
            "shop_id": "S1",
            "buyer_id": "bob",
            "status": "pending_payment",
            "totals": {"payable_fen": 123},
        }
    )
    assert f.payable_fen == 123


def test_payment_and_intent_state_machines():
    domain.check_payment_transition("pending", "succeeded")
    domain.check_payment_transition("pending", "failed")
    for current, target in [("succeeded", "failed"), ("failed", "succeeded"), ("succeeded", "pending")]:
        with pytest.raises(IllegalTransition):
            domain.check_payment_transition(current, target)
    sandbox.check_intent_transition("requires_confirmation", "pending")
    with pytest.raises(IllegalTransition):
        sandbox.check_intent_transition("requires_confirmation", "succeeded")


# Allocation and refund caps ----------------------------------------------------------------------
def test_allocate_splits_exactly_and_proportionally():
    assert shares.allocate(100, [1, 1, 1]) == [34, 33, 33]
    assert shares.allocate(9_000, [6_000, 4_000]) == [5_400, 3_600]
    parts = shares.allocate(9_999, [3, 7, 11])
    assert sum(parts) == 9_999
    assert shares.allocate(0, [5, 5]) == [0, 0]


def test_line_shares_spread_a_discount_over_the_lines():
    lines = [
        {"sku_code": "A", "quantity": 2, "unit_price_fen": 3_000},
        {"sku_code": "B", "quantity": 1, "unit_price_fen": 4_000},
    ]
    assert shares.line_shares(9_000, lines) == [5_400, 3_600]  # 10% off, paid 90 yuan


def balances():
    return [LineBalance(1, "A", 2, 3_000, 6_000, "C1"), LineBalance(2, "B", 1, 4_000, 4_000, "C2")]


def test_a_refund_within_what_was_paid_for_the_lines_is_planned():
    plan = shares.plan_line_refund(balances(), [{"sku_code": "A", "quantity": 1}], 3_000, 10_000, 0)
    assert plan.amount_fen == 3_000
    assert [(p.line_no, p.amount_fen, p.quantity) for p in plan.parts] == [(1, 3_000, 1)]


def test_a_refund_above_what_was_paid_for_the_lines_is_refused():
    with pytest.raises(domain.RefundRefusedError) as err:
        shares.plan_line_refund(balances(), [{"sku_code": "A", "quantity": 1}], 3_001, 10_000, 0)
    assert err.value.code == "amount_exceeds_paid"


def test_what_was_refunded_already_lowers_the_cap():
    b = balances()
    b[0].refunded_fen, b[0].refunded_qty = 3_000, 1
    plan = shares.plan_line_refund(b, [{"sku_code": "A", "quantity": 1}], 3_000, 10_000, 3_000)
    assert plan.amount_fen == 3_000
    with pytest.raises(domain.RefundRefusedError) as err:
        shares.plan_line_refund(b, [{"sku_code": "A", "quantity": 2}], 100, 10_000, 3_000)
    assert err.value.code == "quantity_exceeds_bought"
    # A partial refund leaves the rest of the line's money for a later refund of the same units.
    b = balances()
    b[0].refunded_fen, b[0].refunded_qty = 1_000, 1
    plan = shares.plan_line_refund(b, [{"sku_code": "A", "quantity": 1}], 5_000, 10_000, 1_000)
    assert plan.amount_fen == 5_000


def test_the_order_level_remainder_caps_a_refund_too():
    with pytest.raises(domain.RefundRefusedError) as err:
        shares.plan_line_refund(balances(), [{"sku_code": "B", "quantity": 1}], 4_000, 10_000, 7_000)
    assert err.value.code == "amount_exceeds_paid"


@pytest.mark.parametrize(
    "lines, amount, paid, code",
    [
        ([{"sku_code": "Z", "quantity": 1}], 100, 10_000, "line_not_in_order"),
        ([{"sku_code": "B", "quantity": 2}], 100, 10_000, "quantity_exceeds_bought"),
        ([{"sku_code": "A", "quantity": 1}], 0, 10_000, "amount_not_positive"),
        ([{"sku_code": "A", "quantity": 1}], 100, 0, "order_not_paid"),
    ],
)
def test_refund_refusals(lines, amount, paid, code):
    with pytest.raises(domain.RefundRefusedError) as err:
        shares.plan_line_refund(balances(), lines, amount, paid, 0)
    assert err.value.code == code


def test_a_refund_without_lines_is_capped_by_the_order():
    plan = shares.plan_line_refund(balances(), None, 10_000, 10_000, 0)
    assert sum(p.amount_fen for p in plan.parts) == 10_000
    with pytest.raises(domain.RefundRefusedError):
        shares.plan_line_refund(balances(), None, 10_001, 10_000, 0)


def test_a_full_refund_takes_what_is_left_line_by_line():
    b = balances()
    b[1].refunded_fen, b[1].refunded_qty = 4_000, 1
    plan = shares.plan_full_refund(b, 10_000, 4_000)
    assert plan.amount_fen == 6_000
    assert [(p.line_no, p.amount_fen, p.quantity) for p in plan.parts] == [(1, 6_000, 2), (2, 0, 0)]
    assert shares.plan_full_refund(b, 10_000, 10_000).amount_fen == 0


# Commission -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "amount, bps, expected",
    [
        (10_000, 500, 500),  # 5% of 100 yuan
        (10, 500, 1),  # 0.5 fen rounds half up
        (9, 500, 0),  # 0.45 fen rounds down
        (12_345, 250, 309),  # 308.625
        (0, 500, 0),
        (-10, 500, -1),  # symmetric for reversals
    ],
)
def test_commission_rounds_half_up_in_fen(amount, bps, expected):
    assert domain.commission_fen(amount, bps) == expected


def test_commission_per_line_uses_the_category_rate_or_the_default():
    lines = domain.commission_for(
        [(1, "C-dress", 6_000), (2, "C-mask", 4_000), (3, None, 1_000)], {"C-dress": 800}, 500
    )
    assert [(l.rate_bps, l.commission_fen) for l in lines] == [(800, 480), (500, 200), (500, 50)]


def test_a_rate_above_100_percent_is_refused():
    with pytest.raises(ValueError):
        domain.commission_fen(100, 10_001)


# Settlement due logic -------------------------------------------------------------------------------
def test_settlement_is_due_seven_days_after_completion():
    completed = datetime(2026, 11, 1, 10, 0, tzinfo=UTC)
    due = domain.settlement_due_at(completed, 7)
    assert due == datetime(2026, 11, 8, 10, 0, tzinfo=UTC)
    assert not domain.is_due(due, due - timedelta(seconds=1))
    assert domain.is_due(due, due)
    assert domain.is_due(due, due + timedelta(days=1))
    assert domain.settlement_due_at(completed, 0.5) == completed + timedelta(hours=12)


# The ledger -----------------------------------------------------------------------------------------
def test_entry_signs_follow_the_kind():
    assert domain.entry_amount(EntryKind.PAYMENT, 100) == 100
    assert domain.entry_amount(EntryKind.REFUND, 100) == -100
    assert domain.entry_amount(EntryKind.COMMISSION, 5) == -5
    assert domain.entry_amount(EntryKind.COMMISSION_REVERSAL, 5) == 5
    assert domain.entry_amount(EntryKind.PAYOUT, 95) == -95
    with pytest.raises(ValueError):
        domain.entry_amount(EntryKind.PAYMENT, -1)


def test_a_settled_order_balances_to_zero():
    entries = [
        domain.entry_amount(EntryKind.PAYMENT, 10_000),
        domain.entry_amount(EntryKind.REFUND, 2_000),
        domain.entry_amount(EntryKind.COMMISSION, 400),
    ]
    payout = domain.payout_amount(entries)
    assert payout == 7_600
    assert domain.balance(entries + [domain.entry_amount(EntryKind.PAYOUT, payout)]) == 0


def test_nothing_is_paid_out_when_refunds_exceed_new_income():
    assert domain.payout_amount([domain.entry_amount(EntryKind.REFUND, 500), 100]) is None
    assert domain.payout_amount([]) is None


def test_ids_carry_their_prefix_and_sort_by_time():
    a = ids.new_id("P", datetime(2026, 1, 1, tzinfo=UTC))
    b = ids.new_id("P", datetime(2026, 1, 2, tzinfo=UTC))
    assert a.startswith("P") and a < b
