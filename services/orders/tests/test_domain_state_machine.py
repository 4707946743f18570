"""The order state machine, exhaustively: every (status, action) pair is either the one transition
written below or an IllegalTransition (-> 409).

The expected table is written out here by hand from CONTRACTS.md and the issue, not derived from
domain.TRANSITIONS, so a change to the machine has to be made (and justified) in both places.
"""

from __future__ import annotations

import itertools

import pytest

from ecom_common.errors import IllegalTransition
from orders import domain

S = domain
EXPECTED = {
    ("pending_payment", "pay"): "paid",
    ("pending_payment", "cancel"): "cancelled",
    ("pending_payment", "close_unpaid"): "cancelled",
    ("paid", "wait_for_stock"): "awaiting_stock",
    ("paid", "pass_audit"): "awaiting_shipment",
    ("paid", "hold"): "on_hold",
    ("paid", "cancel"): "cancelled",
    ("awaiting_stock", "pass_audit"): "awaiting_shipment",
    ("awaiting_stock", "hold"): "on_hold",
    ("awaiting_stock", "cancel"): "cancelled",
    ("on_hold", "approve"): "awaiting_shipment",
    ("on_hold", "reject"): "cancelled",
    ("on_hold", "cancel"): "cancelled",
    ("awaiting_shipment", "ship"): "shipped",
    ("awaiting_shipment", "cancel"): "cancelled",
    ("shipped", "deliver"): "delivered",
    ("delivered", "complete"): "completed",
    # an address change before dispatch re-runs the audit; an audited order may be held again
    ("awaiting_shipment", "readdress_hold"): "on_hold",
}
ACTIONS = [
    "pay",
    "wait_for_stock",
    "pass_audit",
    "hold",
    "approve",
    "reject",
    "cancel",
    "close_unpaid",
    "ship",
    "deliver",
    "complete",
    "readdress_hold",
]
STATUSES = [
    "pending_payment",
    "paid",
    "awaiting_stock",
    "on_hold",
    "awaiting_shipment",
    "shipped",
    "delivered",
    "completed",
    "cancelled",
]


def test_the_statuses_are_exactly_those_of_the_contract():
    assert list(domain.STATUSES) == STATUSES


def test_the_actions_are_exactly_these():
    assert sorted(domain.TRANSITIONS) == sorted(ACTIONS)


@pytest.mark.parametrize("status,action", list(itertools.product(STATUSES, ACTIONS)))
def test_every_status_action_pair(status, action):
    expected = EXPECTED.get((status, action))
    if expected is None:
        with pytest.raises(IllegalTransition) as info:
            domain.next_status(status, action)
        assert info.value.current == status
        assert info.value.errors == {"status": [status]}
        assert not domain.can(status, action)
    else:
        assert domain.next_status(status, action) == expected
        assert domain.can(status, action)


@pytest.mark.parametrize("status", ["completed", "cancelled"])
def test_final_statuses_have_no_way_out(status):
    assert all(not domain.can(status, action) for action in ACTIONS)


def test_every_status_is_reachable_from_placing():
    reached, frontier = {"pending_payment"}, ["pending_payment"]
    while frontier:
        current = frontier.pop()
        for action in ACTIONS:
            if domain.can(current, action):
                nxt = domain.next_status(current, action)
                if nxt not in reached:
                    reached.add(nxt)
                    frontier.append(nxt)
    assert reached == set(STATUSES)


def test_cancel_is_allowed_exactly_before_shipment():
    for status in STATUSES:
        allowed = status in ("pending_payment", "paid", "awaiting_stock", "on_hold", "awaiting_shipment")
        assert domain.can(status, "cancel") is allowed
        if not allowed:
            with pytest.raises(IllegalTransition):
                domain.check_cancel_allowed(status)


def test_an_unknown_action_is_a_programming_error_not_a_409():
    with pytest.raises(ValueError):
        domain.next_status("paid", "teleport")


def test_the_illegal_transition_message_says_what_and_from_where():
    with pytest.raises(IllegalTransition) as info:
        domain.next_status("shipped", "cancel")
    assert str(info.value) == "cannot cancel a order that is shipped"


@pytest.mark.parametrize(
    "status,tab",
    [
        ("pending_payment", "to_pay"),
        ("paid", "to_ship"),
        ("awaiting_stock", "to_ship"),
        ("on_hold", "to_ship"),
        ("awaiting_shipment", "to_ship"),
        ("shipped", "to_receive"),
        ("delivered", "to_receive"),
        ("completed", "completed"),
        ("cancelled", None),
    ],
)
def test_tabs(status, tab):
    assert domain.tab_of(status) == tab


def test_tab_labels():
    assert [t[1] for t in domain.TABS] == ["待付款", "待发货", "待收货", "已完成"]
