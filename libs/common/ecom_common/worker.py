"""The worker process of a service: its consumers, its outbox relay and its scheduled jobs.

Each runs in its own thread with its own broker connection (py-amqp connections are not thread-safe).
SIGTERM or SIGINT: stop taking messages, finish the one in hand, ack, close, exit 0.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable, Iterator
from types import FrameType

from .consumer import EventConsumer, RetryForwarder, Subscription
from .db import Database
from .jobs import Job, Scheduler
from .outbox import Relay

log = logging.getLogger("ecom.worker")


class Worker:
    def __init__(
        self, db: Database, subscriptions: list[Subscription], jobs: list[Job] | None = None, relay: bool = True
    ) -> None:
        self.db = db
        self.stop_event = threading.Event()
        self.consumers = [EventConsumer(db, sub, self.stop_event) for sub in subscriptions]
        self.jobs = jobs or []
        self.relay_enabled = relay
        self._threads: list[threading.Thread] = []

    def _targets(self) -> Iterator[tuple[str, Callable[[], None]]]:
        if self.relay_enabled:
            yield "relay", Relay(self.db, self.stop_event).run
        for consumer in self.consumers:
            yield f"consumer:{consumer.sub.queue}", consumer.run
        if self.db.config.embedded_bus and self.consumers:
            yield "retry-forwarder", RetryForwarder(self.db, [c.sub.queue for c in self.consumers], self.stop_event).run
        if self.jobs:
            yield "scheduler", Scheduler(self.db, self.jobs, self.stop_event).run

    def start(self) -> Worker:
        for name, target in self._targets():
            thread = threading.Thread(target=target, name=f"{self.db.config.service}-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def request_stop(self) -> None:
        """Ask every thread to stop after what it has in hand (returns at once)."""
        self.stop_event.set()
        self.db.outbox_signal.set()

    def stop(self, timeout: float = 30) -> None:
        self.request_stop()
        for thread in self._threads:
            thread.join(timeout)
        self._threads.clear()

    def run_forever(self) -> int:
        def on_signal(signum: int, _frame: FrameType | None) -> None:
            log.info("signal %s: finishing the message in hand and stopping", signum)
            self.request_stop()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        self.start()
        log.info("worker %s started: %s", self.db.config.service, ", ".join(t.name for t in self._threads))
        while not self.stop_event.wait(1.0):
            pass
        self.stop()
        log.info("worker %s stopped", self.db.config.service)
        return 0
