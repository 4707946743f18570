"""marketing's promotion periods copied into inventory: the highest version wins, a cancellation is
kept, a cancellation that overtook its declaration waits (RetryLater)."""

import pytest
import sqlalchemy as sa

from ecom_common.errors import RetryLater
from ecom_common.usecase import Actor, for_job
from inventory import periods
from inventory.models import PromotionPeriod
from inventory.settings import Settings


def declared(deliver, version=1, name="双11", ends="2026-11-12T00:00:00Z"):
    payload = {"period_id": "PP1", "name": name, "starts_at": "2026-11-01T00:00:00Z", "ends_at": ends}
    deliver("marketing.PromotionPeriodDeclared", {**payload, "version": version})


def rows(db):
    with db.engine.connect() as conn:
        return [
            (r.name, r.version, r.cancelled)
            for r in conn.execute(sa.select(PromotionPeriod.name, PromotionPeriod.version, PromotionPeriod.cancelled))
        ]


def test_the_highest_version_wins(db, deliver):
    declared(deliver, version=2, name="双11 延长")
    declared(deliver, version=1)
    assert rows(db) == [("双11 延长", 2, False)]
    deliver("marketing.PromotionPeriodCancelled", {"period_id": "PP1", "version": 3})
    declared(deliver, version=2)
    assert rows(db) == [("双11 延长", 3, True)]


def test_a_cancellation_before_its_declaration_waits(db):
    with for_job(db, Settings, actor=Actor("test")) as ctx, pytest.raises(RetryLater):
        periods.copy_period(ctx, "PP9", 2, {"cancelled": True})
