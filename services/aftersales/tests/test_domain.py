"""Domain rules without a database: the case and complaint state machines, the validation of a
request against its order, the split of an amount over lines, and the SLA maths with explicit times."""

from datetime import UTC, datetime, timedelta

import pytest

from aftersales import domain
from aftersales.domain import Action, CaseRequest, CaseType, OrderView, Policy, RequestedLine, Status
from aftersales.settings import Settings
from ecom_common.errors import IllegalTransition, RuleViolation

T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
POLICY = Policy()


def order(status="delivered", delivered_at=T0, payable=None, lines=None):
    lines = lines or [
        {"sku_code": "RED-M", "quantity": 2, "unit_price_fen": 3000},
        {"sku_code": "BLUE-L", "quantity": 1, "unit_price_fen": 8000},
    ]
    data = {
        "order_id": "O1",
        "shop_id": "S1",
        "buyer_id": "bob",
        "status": status,
        "lines": lines,
        "delivered_at": delivered_at.isoformat().replace("+00:00", "Z") if delivered_at else None,
    }
    if payable is not None:
        data["payable_fen"] = payable
    return OrderView.from_json(data)


# State machine ----------------------------------------------------------------------------------
def walk(case_type, actions):
    status = Status.REQUESTED
    seen = [status]
    for action in actions:
        status = domain.next_status(case_type, status, action)
        seen.append(status)
    return seen


def test_return_path():
    assert walk(
        CaseType.RETURN,
        [
            Action.APPROVE,
            Action.SHIP_RETURN,
            Action.RECEIVE,
            Action.START_REFUND,
            Action.REFUND_FAILED,
            Action.RETRY_REFUND,
            Action.CLOSE,
        ],
    ) == ["requested", "approved", "awaiting_return", "received", "refunding", "refunding", "refunding", "closed"]


def test_exchange_path():
    assert walk(
        CaseType.EXCHANGE, [Action.APPROVE, Action.SHIP_RETURN, Action.RECEIVE, Action.RESHIP, Action.CLOSE]
    ) == ["requested", "approved", "awaiting_return", "received", "reshipped", "closed"]


def test_refund_only_path_and_rejection():
    assert walk(CaseType.REFUND_ONLY, [Action.APPROVE, Action.START_REFUND, Action.CLOSE])[-1] == "closed"
    assert walk(CaseType.RETURN, [Action.REJECT]) == ["requested", "rejected"]


@pytest.mark.parametrize(
    "case_type,status,action",
    [
        (CaseType.RETURN, Status.REQUESTED, Action.RECEIVE),  # nothing shipped back yet
        (CaseType.RETURN, Status.APPROVED, Action.START_REFUND),  # a return refunds after receipt
        (CaseType.REFUND_ONLY, Status.APPROVED, Action.SHIP_RETURN),  # nothing to send back
        (CaseType.EXCHANGE, Status.RECEIVED, Action.START_REFUND),  # an exchange refunds nothing
        (CaseType.RETURN, Status.RECEIVED, Action.RESHIP),
        (CaseType.RETURN, Status.CLOSED, Action.APPROVE),
        (CaseType.RETURN, Status.REJECTED, Action.APPROVE),
        (CaseType.REFUND_ONLY, Status.REQUESTED, Action.CLOSE),
        (CaseType.EXCHANGE, Status.RECEIVED, Action.CLOSE),  # not before the replacement ships
    ],
)
def test_illegal_transitions(case_type, status, action):
    with pytest.raises(IllegalTransition) as err:
        domain.next_status(case_type, status, action)
    assert err.value.current == status


def test_allowed_actions():
    assert domain.allowed_actions(CaseType.RETURN, Status.REQUESTED) == [Action.APPROVE, Action.REJECT]
    assert domain.allowed_actions(CaseType.EXCHANGE, Status.CLOSED) == []


def test_the_first_of_two_approvals_keeps_a_refund_requested():
    # what `approve` does to a refund above AFTERSALES_SECOND_APPROVAL_FEN; not an action of its own
    for case_type in (CaseType.RETURN, CaseType.REFUND_ONLY):
        assert domain.next_status(case_type, Status.REQUESTED, Action.FIRST_APPROVE) == Status.REQUESTED
        assert Action.FIRST_APPROVE not in domain.allowed_actions(case_type, Status.REQUESTED)
    for case_type, status in ((CaseType.EXCHANGE, Status.REQUESTED), (CaseType.RETURN, Status.APPROVED)):
        with pytest.raises(IllegalTransition):
            domain.next_status(case_type, status, Action.FIRST_APPROVE)


# Validation against the order -------------------------------------------------------------------
def test_order_lines_of_one_sku_are_summed():
    o = order(
        lines=[
            {"sku_code": "A", "quantity": 1, "unit_price_fen": 100},
            {"sku_code": "A", "quantity": 2, "unit_price_fen": 90},
        ]
    )
    assert o.line("A").quantity == 3 and o.line("A").cap_fen == 280 and o.payable_fen == 280


def test_return_defaults_amount_to_what_was_paid_and_splits_it():
    d = domain.draft_case(
        order(),
        CaseRequest(CaseType.RETURN, "quality", [RequestedLine("RED-M", 2), RequestedLine("BLUE-L", 1)], None),
        T0,
        POLICY,
    )
    assert d.amount_fen == 14000 and [l.amount_fen for l in d.lines] == [6000, 8000]
    assert not d.auto_approve and not d.before_shipment


def test_a_discounted_line_refunds_what_it_paid_never_its_list_price():
    # 满减 and a coupon took 1,197 fen off RED-M's 6,000 (orders' paid_fen); the engine is not re-run
    discounted = order(
        payable=12500,
        lines=[
            {"sku_code": "RED-M", "quantity": 2, "unit_price_fen": 3000, "paid_fen": 4803},
            {"sku_code": "BLUE-L", "quantity": 1, "unit_price_fen": 8000, "paid_fen": 7697},
        ],
    )
    both = domain.draft_case(
        discounted, CaseRequest(CaseType.RETURN, "quality", [RequestedLine("RED-M", 2)], None), T0, POLICY
    )
    assert both.amount_fen == 4803
    # one of two units: the proportional share, rounded down, so that two such returns never exceed 4,803
    one = domain.draft_case(
        discounted, CaseRequest(CaseType.RETURN, "quality", [RequestedLine("RED-M", 1)], None), T0, POLICY
    )
    assert one.amount_fen == 2401 and 2 * one.amount_fen <= 4803
    with pytest.raises(RuleViolation) as refused:
        domain.draft_case(
            discounted,
            CaseRequest(CaseType.REFUND_ONLY, "not_as_described", [RequestedLine("BLUE-L", 1)], 7698),
            T0,
            POLICY,
        )
    assert "amount_fen" in refused.value.errors


def test_quantity_above_bought_is_refused():
    with pytest.raises(RuleViolation) as err:
        domain.draft_case(order(), CaseRequest(CaseType.RETURN, "size", [RequestedLine("RED-M", 3)], None), T0, POLICY)
    assert "lines.0.quantity" in err.value.errors


def test_unknown_sku_and_duplicate_line_are_refused():
    with pytest.raises(RuleViolation) as err:
        domain.draft_case(
            order(),
            CaseRequest(
                CaseType.RETURN,
                "size",
                [RequestedLine("RED-M", 1), RequestedLine("NOPE", 1), RequestedLine("RED-M", 1)],
                None,
            ),
            T0,
            POLICY,
        )
    assert set(err.value.errors) == {"lines.1.sku_code", "lines.2.sku_code"}


def test_amount_cap_is_unit_price_times_quantity():
    domain.draft_case(
        order(), CaseRequest(CaseType.REFUND_ONLY, "not_as_described", [RequestedLine("RED-M", 1)], 3000), T0, POLICY
    )
    with pytest.raises(RuleViolation) as err:
        domain.draft_case(
            order(),
            CaseRequest(CaseType.REFUND_ONLY, "not_as_described", [RequestedLine("RED-M", 1)], 3001),
            T0,
            POLICY,
        )
    assert "amount_fen" in err.value.errors


def test_amount_cap_is_also_what_the_order_paid():
    # A discounted order: the lines are worth 14000 but the buyer paid 10000.
    with pytest.raises(RuleViolation):
        domain.draft_case(
            order(payable=10000),
            CaseRequest(CaseType.RETURN, "quality", [RequestedLine("RED-M", 2), RequestedLine("BLUE-L", 1)], 12000),
            T0,
            POLICY,
        )


def test_order_status_must_be_delivered_or_completed():
    for status in ("pending_payment", "shipped", "cancelled"):
        with pytest.raises(RuleViolation):
            domain.draft_case(
                order(status=status),
                CaseRequest(CaseType.RETURN, "quality", [RequestedLine("RED-M", 1)], None),
                T0,
                POLICY,
            )
    domain.draft_case(
        order(status="completed"),
        CaseRequest(CaseType.RETURN, "quality", [RequestedLine("RED-M", 1)], None),
        T0,
        POLICY,
    )


def test_before_shipment_only_refund_only_and_the_whole_order():
    o = order(status="awaiting_shipment", delivered_at=None)
    with pytest.raises(RuleViolation):
        domain.draft_case(o, CaseRequest(CaseType.RETURN, "other", [RequestedLine("RED-M", 1)], None), T0, POLICY)
    with pytest.raises(RuleViolation) as err:
        domain.draft_case(o, CaseRequest(CaseType.REFUND_ONLY, "other", [RequestedLine("RED-M", 1)], None), T0, POLICY)
    assert "lines" in err.value.errors
    d = domain.draft_case(o, CaseRequest(CaseType.REFUND_ONLY, "no_reason", [], None), T0, POLICY)
    assert d.before_shipment and d.amount_fen == 14000 and len(d.lines) == 2 and not d.auto_approve


def test_no_reason_only_within_seven_days_of_delivery():
    lines = [RequestedLine("RED-M", 1)]
    domain.draft_case(order(), CaseRequest(CaseType.RETURN, "no_reason", lines, None), T0 + timedelta(days=7), POLICY)
    with pytest.raises(RuleViolation) as err:
        domain.draft_case(
            order(), CaseRequest(CaseType.RETURN, "no_reason", lines, None), T0 + timedelta(days=7, seconds=1), POLICY
        )
    assert "reason" in err.value.errors
    # Other reasons are not bound to the window; the window is a setting.
    domain.draft_case(order(), CaseRequest(CaseType.RETURN, "quality", lines, None), T0 + timedelta(days=30), POLICY)
    domain.draft_case(
        order(),
        CaseRequest(CaseType.RETURN, "no_reason", lines, None),
        T0 + timedelta(days=9),
        Policy(no_reason_days=10),
    )


def test_exchange_needs_the_new_spec_and_refunds_nothing():
    with pytest.raises(RuleViolation) as err:
        domain.draft_case(
            order(), CaseRequest(CaseType.EXCHANGE, "size", [RequestedLine("RED-M", 1)], None), T0, POLICY
        )
    assert "lines.0.new_sku_code" in err.value.errors
    with pytest.raises(RuleViolation):
        domain.draft_case(
            order(), CaseRequest(CaseType.EXCHANGE, "size", [RequestedLine("RED-M", 1, "RED-L")], 100), T0, POLICY
        )
    d = domain.draft_case(
        order(), CaseRequest(CaseType.EXCHANGE, "size", [RequestedLine("RED-M", 1, "RED-L")], None), T0, POLICY
    )
    assert d.amount_fen == 0 and d.shipping_paid_by == "buyer"
    d = domain.draft_case(
        order(), CaseRequest(CaseType.EXCHANGE, "quality", [RequestedLine("RED-M", 1, "RED-M")], None), T0, POLICY
    )
    assert d.shipping_paid_by == "merchant"


def test_auto_approval_is_below_the_threshold_and_refund_only():
    assert domain.auto_approves(CaseType.REFUND_ONLY, 4999, POLICY)
    assert not domain.auto_approves(CaseType.REFUND_ONLY, 5000, POLICY)
    assert not domain.auto_approves(CaseType.RETURN, 100, POLICY)
    assert domain.auto_approves(CaseType.REFUND_ONLY, 9000, Policy(auto_approve_below_fen=10000))


@pytest.mark.parametrize(
    "amount,caps",
    [(14000, [6000, 8000]), (1, [3, 3, 3]), (10, [3, 3, 4]), (7, [1, 100]), (0, [5, 5]), (99, [33, 33, 34])],
)
def test_allocate_adds_up_and_respects_caps(amount, caps):
    shares = domain.allocate(amount, caps)
    assert sum(shares) == amount
    assert all(0 <= s <= c for s, c in zip(shares, caps, strict=False))


# SLA maths --------------------------------------------------------------------------------------
def test_response_sla_is_24_hours_from_request():
    assert domain.case_sla(CaseType.RETURN, Status.REQUESTED, T0, POLICY) == ("response", T0 + timedelta(hours=24))
    assert domain.case_sla(CaseType.RETURN, Status.REQUESTED, T0, Policy(response_hours=12))[1] == T0 + timedelta(
        hours=12
    )


def test_refund_sla_24h_after_receipt_48h_in_a_promotion():
    assert domain.case_sla(CaseType.RETURN, Status.RECEIVED, T0, POLICY) == ("refund", T0 + timedelta(hours=24))
    promo = Settings.from_config(
        _Cfg({"AFTERSALES_PROMOTION_PERIODS": "2026-11-11T00:00:00Z/2026-11-21T00:00:00Z"})
    ).policy
    assert promo.in_promotion(T0) and not promo.in_promotion(T0 + timedelta(days=1))
    assert domain.case_sla(CaseType.RETURN, Status.RECEIVED, T0, promo)[1] == T0 + timedelta(hours=48)
    # Refunding keeps the clock of the receipt, not of the moment billing was asked.
    later = T0 + timedelta(hours=5)
    assert domain.case_sla(CaseType.RETURN, Status.REFUNDING, later, POLICY, received_at=T0)[1] == T0 + timedelta(
        hours=24
    )


def test_refund_only_48h_exchange_reship_24h_and_no_clock_while_waiting_on_the_buyer():
    assert domain.case_sla(CaseType.REFUND_ONLY, Status.REFUNDING, T0, POLICY)[1] == T0 + timedelta(hours=48)
    assert domain.case_sla(CaseType.EXCHANGE, Status.RECEIVED, T0, POLICY) == ("reship", T0 + timedelta(hours=24))
    assert domain.case_sla(CaseType.RETURN, Status.APPROVED, T0, POLICY) == (None, None)
    assert domain.case_sla(CaseType.EXCHANGE, Status.RESHIPPED, T0, POLICY) == (None, None)


def test_time_left():
    clock = domain.time_left(T0 + timedelta(hours=2), T0 + timedelta(minutes=30))
    assert clock["seconds_left"] == 5400 and not clock["overdue"]
    assert domain.time_left(T0, T0 + timedelta(seconds=1))["overdue"]


def test_settings_are_read_from_config():
    p = Settings.from_config(
        _Cfg(
            {
                "AFTERSALES_AUTO_APPROVE_FEN": "8000",
                "AFTERSALES_NO_REASON_DAYS": "15",
                "AFTERSALES_COMPLAINT_GENERAL_HOURS": "1",
                "AFTERSALES_RETURN_ADDRESSES": '{"S1": "杭州市余杭区 1 号"}',
            }
        )
    ).policy
    assert (p.auto_approve_below_fen, p.no_reason_days, p.complaint_general_hours) == (8000, 15, 1)
    assert p.return_address("S1") == "杭州市余杭区 1 号" and p.return_address("S2") == p.default_return_address


# Complaints -------------------------------------------------------------------------------------
def test_complaint_clocks_per_tier():
    assert domain.complaint_due("general", T0, POLICY) == T0 + timedelta(hours=2)
    assert domain.complaint_due("serious", T0, POLICY) == T0 + timedelta(hours=4)
    assert domain.complaint_due("crisis", T0, POLICY) == T0 + timedelta(hours=24)


def test_what_stops_each_clock():
    assert domain.meets_milestone("general", "respond") and domain.meets_milestone("crisis", "respond")
    assert not domain.meets_milestone("serious", "respond")  # a serious complaint needs a solution
    assert domain.meets_milestone("serious", "resolve")


def test_complaint_machine_and_breach():
    assert domain.complaint_next("open", "respond") == "responded"
    assert domain.complaint_next("responded", "resolve") == "resolved"
    with pytest.raises(IllegalTransition):
        domain.complaint_next("resolved", "respond")
    assert domain.breached(T0, None, T0 + timedelta(seconds=1))
    assert not domain.breached(T0, None, T0)
    assert not domain.breached(T0, T0 - timedelta(minutes=1), T0 + timedelta(hours=1))


def test_feedback_only_on_a_finished_case():
    domain.check_feedback_allowed(Status.CLOSED)
    domain.check_feedback_allowed(Status.REJECTED)
    with pytest.raises(IllegalTransition):
        domain.check_feedback_allowed(Status.REFUNDING)


class _Cfg:
    def __init__(self, settings):
        self.settings = settings

    def setting(self, name, default, cast=str):
        raw = self.settings.get(name)
        return default if raw in (None, "") else cast(raw)
