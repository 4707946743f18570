"""logistics handlers: one function per consumed event, and the scheduled jobs."""
from __future__ import annotations

from ecom_common.consumer import Subscription
from ecom_common.jobs import Job

HANDLERS: dict = {}

SUBSCRIPTIONS = [Subscription("logistics.events", HANDLERS)]
JOBS: list[Job] = []
