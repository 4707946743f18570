"""console handlers: it consumes no event (it reads the services over HTTP with each person's token),
and its one scheduled job forgets expired sessions and old failed sign-ins."""

from __future__ import annotations

from ecom_common.consumer import Subscription
from ecom_common.db import Database
from ecom_common.jobs import Job
from ecom_common.usecase import for_job

from . import operations
from .settings import Settings

SUBSCRIPTIONS: list[Subscription] = []


def purge_expired_sessions(db: Database) -> int:
    with for_job(db, Settings) as ctx:
        return operations.purge_expired(ctx)


JOBS: list[Job] = [Job("purge-expired-sessions", purge_expired_sessions, interval=3600)]
