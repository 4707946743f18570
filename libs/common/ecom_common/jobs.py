"""Scheduled jobs (stale unpaid orders, stalled shipments, SLA escalation, settlement, purge).

Several worker replicas may run the same job: a lease row in the service's database lets exactly one
of them run it at a time. Jobs must be idempotent anyway (a lease can expire under a slow run).
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa

from . import metrics
from .db import Database, is_unique_violation, job_leases

log = logging.getLogger("ecom.jobs")

HOLDER = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


@dataclass
class Job:
    name: str
    run: Callable[[Database], int]  # returns how many things it acted on (for logs and metrics)
    interval: float | None = None  # seconds; None -> config.job_interval


def acquire_lease(db: Database, name: str, ttl: float, holder: str = HOLDER) -> bool:
    now = db.config.clock.now()
    expires = now + timedelta(seconds=ttl)
    with db.engine.begin() as conn:
        taken = conn.execute(
            job_leases.update()
            .where(job_leases.c.name == name, sa.or_(job_leases.c.expires_at < now, job_leases.c.holder == holder))
            .values(holder=holder, expires_at=expires)
        ).rowcount
        if taken == 1:
            return True
    try:
        with db.engine.begin() as conn:
            conn.execute(job_leases.insert().values(name=name, holder=holder, expires_at=expires))
        return True
    except sa.exc.IntegrityError as exc:
        if is_unique_violation(exc):
            return False
        raise


def release_lease(db: Database, name: str, holder: str = HOLDER) -> None:
    now = db.config.clock.now()
    with db.engine.begin() as conn:
        conn.execute(
            job_leases.update()
            .where(job_leases.c.name == name, job_leases.c.holder == holder)
            .values(expires_at=now, last_run_at=now)
        )


def run_once(db: Database, job: Job, ttl: float = 300) -> int | None:
    """Run the job if this process gets the lease; None when another holder has it."""
    if not acquire_lease(db, job.name, ttl):
        return None
    started = time.perf_counter()
    try:
        count = job.run(db) or 0
        metrics.JOB_RUNS.labels(db.config.service, job.name, "ok").inc()
        if count:
            log.info("job %s acted on %d in %.0f ms", job.name, count, (time.perf_counter() - started) * 1000)
        return count
    except Exception:
        metrics.JOB_RUNS.labels(db.config.service, job.name, "error").inc()
        log.exception("job %s failed", job.name)
        raise
    finally:
        release_lease(db, job.name)


class Scheduler:
    def __init__(self, db: Database, jobs: list[Job], stop: threading.Event | None = None):
        self.db = db
        self.jobs = jobs
        self.stop = stop or threading.Event()

    def run(self) -> None:
        next_at = {job.name: 0.0 for job in self.jobs}
        while not self.stop.is_set():
            now = time.monotonic()
            for job in self.jobs:
                if now >= next_at[job.name]:
                    with contextlib.suppress(Exception):  # logged; try again next interval
                        run_once(self.db, job)
                    next_at[job.name] = now + (job.interval or self.db.config.job_interval)
            self.stop.wait(0.5)
