"""The console's one job: expired sessions and failed sign-ins older than the throttle window go."""

from __future__ import annotations

import sqlalchemy as sa

from console import handlers
from console.models import SignInFailure, StaffSession
from ecom_testkit.console_support import sign_in


def count(db, model) -> int:
    with db.Session() as s:
        return s.execute(sa.select(sa.func.count()).select_from(model)).scalar_one()


def test_the_purge_forgets_expired_sessions_and_old_failures_only(app, signed_in, clock, db):
    signed_in("amy", ["ops"], shop_id="S1")  # a live session
    sign_in(app.test_client(), "nobody", "wrong-password")  # a failed sign-in, from another browser
    assert count(db, StaffSession) == 1 and count(db, SignInFailure) >= 1
    assert handlers.purge_expired_sessions(db) == 0  # nothing has expired yet
    clock.advance(days=30)
    assert handlers.purge_expired_sessions(db) >= 2
    assert count(db, StaffSession) == 0 and count(db, SignInFailure) == 0
    assert [job.name for job in handlers.JOBS] == ["purge-expired-sessions"]
