"""marketing's promotion periods copied into aftersales: a return received in a declared period has
48 h to be refunded (24 h otherwise); the highest version wins; a cancelled period no longer counts;
AFTERSALES_PROMOTION_PERIODS still counts beside them (fallback)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from aftersales import periods
from aftersales.settings import Settings
from ecom_common.clock import iso, parse_iso
from ecom_common.errors import RetryLater
from ecom_common.usecase import Actor, for_job


def declare(api, version=1, starts=None, ends=None):
    now = api.clock.now()
    payload = {
        "period_id": "PP1",
        "name": "双11",
        "starts_at": starts or iso(now - timedelta(days=1)),
        "ends_at": ends or iso(now + timedelta(days=1)),
        "version": version,
    }
    assert api.deliver("marketing.PromotionPeriodDeclared", payload)[0] == "handled"


def refund_hours(api):
    cid = api.open_case(reason="quality")["case_id"]
    api.act(cid, "approve")
    api.act(cid, "return-shipment", {"carrier": "SF", "tracking_no": "SF123456"}, role="buyer", sub="bob", shop_id=None)
    received = api.act(cid, "receive", {"resellable": True}, role="warehouse", sub="wally")
    assert received["sla"]["kind"] == "refund"
    due = parse_iso(received["sla"]["due_at"])
    return round((due - api.clock.now()).total_seconds() / 3600)


def test_a_return_received_in_marketings_period_has_48_hours(api):
    assert refund_hours(api) == 24
    declare(api)
    assert refund_hours(api) == 48


def test_a_cancelled_period_no_longer_counts_and_late_versions_change_nothing(api):
    declare(api, version=2)
    # an older version, delivered late, that would have ended the period already: ignored
    declare(api, version=1, ends=iso(api.clock.now() - timedelta(hours=1)))
    assert refund_hours(api) == 48
    api.deliver("marketing.PromotionPeriodCancelled", {"period_id": "PP1", "name": "双11", "version": 3})
    assert refund_hours(api) == 24


def test_a_cancellation_before_its_declaration_waits(db):
    with for_job(db, Settings, actor=Actor("test")) as ctx, pytest.raises(RetryLater):
        periods.copy_period(ctx, "PP9", 2, {"cancelled": True})
