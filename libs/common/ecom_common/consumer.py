"""Idempotent consumers with retries, back-off and dead-lettering.

For every message:
  1. parse the envelope (not an envelope -> straight to the DLQ: retrying cannot fix it);
  2. in ONE transaction: insert (consumer, event_id) into the inbox, run the handler, commit;
     an inbox key already there means the event was handled already: nothing runs, ack, skip;
  3. ack only after the commit.
A handler that raises is retried through the back-off tiers (<queue>.retry.N), then the message goes
to <queue>.dlq with the error in its headers; `ecom dlq replay` re-drives it. A database that is
unreachable is not the message's fault: the message is requeued without spending a retry.

Batches. When several messages of the queue are already waiting (a backlog: the broker has pushed up
to `prefetch` of them), up to `consumer_batch` are handled in one transaction: the inbox rows of
all of them in one INSERT, each handler in turn, the events they recorded in one INSERT (see
UnitOfWork.record), then one COMMIT for all, then the acks. BEGIN, COMMIT (its WAL flush), the inbox
and outbox INSERTs and the relay's pass over the events recorded are paid once per batch instead of
once per message (docs/perf-log.md, "Round trips per order" and "Statements built once"). Nothing
waits for a batch to fill: a message that arrives alone is handled alone, at once. If anything in a
batch fails (a handler raising, a deadlock with another batch, the database going away), the whole
batch is rolled back and its messages are handled again one by one, each in its own transaction,
exactly as above: the failing message takes its retry or dead-letter path and the others commit.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from kombu.connection import Connection
from kombu.entity import Queue
from kombu.message import Message
from kombu.messaging import Consumer, Producer

from . import bus, context, metrics
from .clock import iso, utcnow
from .db import Database, UnitOfWork, inbox, insert_new
from .events import Envelope
from .topology import dlq, retry_queue

log = logging.getLogger("ecom.consumer")

Handler = Callable[[UnitOfWork, Envelope], None]

INFRA_ERRORS = (sa.exc.OperationalError, sa.exc.InterfaceError, sa.exc.DisconnectionError)


@dataclass
class Subscription:
    """A queue of this service and the handler of each routing key it receives."""

    queue: str
    handlers: dict[str, Handler]


class Outcome:
    HANDLED = "handled"
    DUPLICATE = "duplicate"
    IGNORED = "ignored"
    RETRIED = "retried"
    DEAD = "dead_lettered"
    REQUEUED = "requeued"


class EventConsumer:
    def __init__(self, db: Database, subscription: Subscription, stop: threading.Event | None = None) -> None:
        self.db = db
        self.config = db.config
        self.sub = subscription
        self.stop = stop or threading.Event()
        self.topology = bus.topology_for(self.config)
        self.queue_name = self.topology.name(subscription.queue)
        # The inbox key is the plain queue name, the same in every namespace.
        self.consumer_name = subscription.queue
        self._producer: Producer | None = None

    # Handling messages ---------------------------------------------------------------------------
    def handle(self, envelope: Envelope) -> str:
        """Run the handler once per (consumer, event_id). Raises what the handler raises."""
        return self.handle_batch([envelope])[0]

    def handle_batch(self, envelopes: list[Envelope]) -> list[str]:
        """Handle envelopes of this queue in ONE transaction, in order; their outcomes. Raises what a
        handler raises, and then nothing of the batch is committed."""
        with self.db.uow() as uow:
            handlers = [self.sub.handlers.get(envelope.routing_key) for envelope in envelopes]
            # The inbox rows of the whole batch in one statement (one round trip, not one per
            # message), ON CONFLICT DO NOTHING rather than catching the unique violation: a copy
            # must not abort the transaction, which holds the rest of the batch. A copy handled by
            # another consumer right now makes this wait for its commit, then counts as a duplicate.
            now = utcnow()
            rows = {
                envelope.event_id: {
                    "consumer": self.consumer_name,
                    "event_id": envelope.event_id,
                    "event_type": envelope.routing_key,
                    "handled_at": now,
                }
                for envelope, handler in zip(envelopes, handlers, strict=False)
                if handler is not None
            }
            fresh = insert_new(uow.session, inbox, list(rows.values()), "event_id")
            outcomes: list[str] = []
            for envelope, handler in zip(envelopes, handlers, strict=False):
                if handler is None:
                    outcomes.append(Outcome.IGNORED)
                    continue
                if envelope.event_id not in fresh:
                    outcomes.append(Outcome.DUPLICATE)
                    continue
                fresh.discard(envelope.event_id)  # a second copy in the same batch is a duplicate
                with context.bound(envelope.correlation_id, envelope.event_id):
                    handler(uow, envelope)
                outcomes.append(Outcome.HANDLED)
            if Outcome.HANDLED in outcomes:
                uow.commit()
        return outcomes

    def on_message(self, body: object, message: Message) -> str | None:
        """Handle one message in a transaction of its own, and settle it: ack, retry, dead-letter or
        requeue. Returns the outcome (None for a message that is not an envelope)."""
        # Runs inside drain_events (or for each message of a failed batch): a stop request is only
        # seen after this returns, so shutdown always finishes (and acks) the message in hand.
        started = time.perf_counter()
        headers = dict(message.headers or {})
        envelope = self._parse(message, headers)
        if envelope is None:
            return None
        with context.bound(envelope.correlation_id, envelope.event_id):
            try:
                outcome = self.handle(envelope)
            except INFRA_ERRORS as exc:
                log.warning("database unavailable while handling %s; requeued: %r", envelope.routing_key, exc)
                self.stop.wait(1.0)
                message.requeue()
                outcome = Outcome.REQUEUED
            except Exception as exc:
                outcome = self._retry_or_dead_letter(message, headers, envelope, exc)
            else:
                # Outside the handler's `try`: an ack that fails (the broker going away, the channel
                # closed) is not the handler's failure. It must not send a copy of a handled message
                # to a retry queue or the DLQ; it raises to `run`, which reconnects, and the broker
                # redelivers the message, which the inbox then skips as a duplicate.
                message.ack()
            self._settled(message, envelope, outcome, started)
        return outcome

    def on_messages(self, messages: list[Message]) -> None:
        """Handle messages that were waiting together: one transaction for all of them, or, if that
        fails, one transaction each (`on_message`)."""
        if len(messages) == 1:
            self.on_message(None, messages[0])
            return
        started = time.perf_counter()
        batch: list[tuple[Message, Envelope]] = []
        for message in messages:
            envelope = self._parse(message, dict(message.headers or {}))
            if envelope is not None:
                batch.append((message, envelope))
        if not batch:
            return
        try:
            outcomes = self.handle_batch([envelope for _, envelope in batch])
        except Exception as exc:
            # Nothing of the batch was committed. Which message failed, and whether it deserves a retry,
            # a requeue or the DLQ, is decided message by message, as if there had been no batch.
            log.info(
                "batch of %d events on %s rolled back (%r); handling them one by one",
                len(batch),
                self.consumer_name,
                exc,
            )
            for i, (message, _) in enumerate(batch):
                if self.on_message(None, message) == Outcome.REQUEUED:
                    # The database is unreachable: the rest would meet the same outage, one second
                    # each. Back on the queue, untried, as the one that just was.
                    for rest, envelope in batch[i + 1 :]:
                        rest.requeue()
                        with context.bound(envelope.correlation_id, envelope.event_id):
                            self._settled(rest, envelope, Outcome.REQUEUED, started)
                    break
            return
        metrics.CONSUMER_BATCH.labels(self.config.service, self.consumer_name).observe(len(batch))
        for (message, envelope), outcome in zip(batch, outcomes, strict=False):
            message.ack()  # after the commit; a failure reconnects (see on_message)
            with context.bound(envelope.correlation_id, envelope.event_id):
                self._settled(message, envelope, outcome, started)

    def _parse(self, message: Message, headers: dict[str, Any]) -> Envelope | None:
        try:
            return Envelope.from_dict(bus.body_json(message))
        except Exception as exc:  # poison: no retry can parse it
            log.error("unparseable message dead-lettered: %r", exc)
            self._dead_letter(message, headers, exc, attempts=int(headers.get("x-attempts", 0)))
            metrics.EVENTS_HANDLED.labels(self.config.service, self.consumer_name, "?", Outcome.DEAD).inc()
            return None

    def _settled(self, message: Message, envelope: Envelope, outcome: str, started: float) -> None:
        log.info(
            "event %s",
            outcome,
            extra={"event_type": envelope.routing_key, "event_id": envelope.event_id, "queue": self.consumer_name},
        )
        metrics.EVENTS_HANDLED.labels(self.config.service, self.consumer_name, envelope.routing_key, outcome).inc()
        metrics.EVENT_LATENCY.labels(self.config.service, self.consumer_name).observe(time.perf_counter() - started)

    def on_undecodable(self, message: Message, exc: Exception) -> None:
        """kombu decodes a body by its content type before `on_message` sees it (e.g. broken JSON sent
        as application/json); such a message is poison too. Without this hook kombu raises out of
        drain_events, the consumer reconnects, the message is redelivered and the queue is stuck."""
        log.error("undecodable message dead-lettered: %r", exc)
        headers = dict(message.headers or {})
        self._dead_letter(message, headers, exc, attempts=int(headers.get("x-attempts", 0)))
        metrics.EVENTS_HANDLED.labels(self.config.service, self.consumer_name, "?", Outcome.DEAD).inc()

    def _retry_or_dead_letter(
        self, message: Message, headers: dict[str, Any], envelope: Envelope, exc: Exception
    ) -> str:
        attempts = int(headers.get("x-attempts", 0)) + 1
        delays = self.config.retry_delays
        if attempts <= len(delays):
            delay = delays[attempts - 1]
            log.warning(
                "handler failed for %s (attempt %d), retry in %ss: %r", envelope.routing_key, attempts, delay, exc
            )
            new_headers = {
                **_clean(headers),
                "x-attempts": attempts,
                "x-last-error": _error_text(exc),
                "x-retry-at": time.time() + delay,
            }
            bus.publish_raw(
                self._publisher(),
                "",
                self.topology.name(retry_queue(self.sub.queue, attempts)),
                _raw_body(message),
                headers=new_headers,
                message_id=envelope.event_id,
                expiration=delay,
            )
            message.ack()
            return Outcome.RETRIED
        log.error("handler failed for %s after %d attempts, dead-lettered: %r", envelope.routing_key, attempts, exc)
        self._dead_letter(message, headers, exc, attempts)
        return Outcome.DEAD

    def _dead_letter(self, message: Message, headers: dict[str, Any], exc: Exception, attempts: int) -> None:
        dl_headers = {
            **_clean(headers),
            "x-attempts": attempts,
            "x-error": _error_text(exc),
            "x-error-type": type(exc).__name__,
            "x-failed-at": iso(utcnow()),
            "x-original-queue": self.sub.queue,
        }
        bus.publish_raw(
            self._publisher(),
            "",
            self.topology.name(dlq(self.sub.queue)),
            _raw_body(message),
            headers=dl_headers,
            message_id=message.properties.get("message_id"),
        )
        message.ack()

    def _publisher(self) -> Producer:
        assert self._producer is not None, "the consumer publishes once run() has connected"
        return self._producer

    # The loop -----------------------------------------------------------------------------------
    def run(self) -> None:
        delay = 0.5
        while not self.stop.is_set():
            try:
                with bus.connect(self.config, role=f"consumer:{self.sub.queue}") as conn:
                    conn.ensure_connection(max_retries=1)
                    channel = conn.channel()
                    # Declare everything before consuming, so nothing published meanwhile is lost.
                    self.topology.declare(channel)
                    channel.basic_qos(0, self.config.prefetch, False)
                    self._producer = Producer(conn.channel())
                    queue = Queue(self.queue_name, no_declare=True)
                    pending: list[Message] = []
                    with Consumer(
                        channel,
                        [queue],
                        callbacks=[lambda body, message, pending=pending: pending.append(message)],
                        accept=None,
                        on_decode_error=self.on_undecodable,
                    ):
                        log.info("consuming %s", self.queue_name)
                        delay = 0.5
                        while not self.stop.is_set():
                            try:
                                conn.drain_events(timeout=1)
                                self._take_waiting(conn, pending)
                            except TimeoutError:
                                pass
                            if pending:
                                # Handled (and acked) before the stop flag is looked at again:
                                # shutdown finishes the messages in hand.
                                taken = pending[:]
                                pending.clear()
                                self.on_messages(taken)
                            if not self.config.embedded_bus:
                                conn.heartbeat_check()
            except Exception as exc:
                if self.stop.is_set():
                    break
                log.warning("consumer %s lost its connection, reconnecting in %.1fs: %r", self.queue_name, delay, exc)
                self.stop.wait(delay)
                delay = min(delay * 2, 15)

    def _take_waiting(self, conn: Connection, pending: list[Message]) -> None:
        """After a message arrived, take those already waiting behind it, without waiting for more:
        a backlog becomes a batch, a lone message is handled at once. (drain_events reads one frame
        per call, a message is three or more; a short read timeout keeps a half-read frame for the
        next call: py-amqp's read_frame.)"""
        limit = max(1, self.config.consumer_batch)
        frames = 0
        while pending and len(pending) < limit and frames < 8 * limit:
            try:
                conn.drain_events(timeout=WAITING_TIMEOUT)
            except TimeoutError:
                return
            frames += 1


# How long `_take_waiting` lets a read wait for the next frame of a backlog. Frames of messages
# already pushed by the broker are in the socket buffer and read at once; this only bounds what a
# lone message waits for company.
WAITING_TIMEOUT = 0.002


class RetryForwarder:
    """The embedded bus has no message TTL or dead-lettering: this thread holds retried messages
    until their `x-retry-at` and moves them back to their work queue (publish, then ack)."""

    def __init__(self, db: Database, queues: list[str], stop: threading.Event | None = None) -> None:
        self.config = db.config
        self.queues = queues
        self.stop = stop or threading.Event()
        self.topology = bus.topology_for(self.config)

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                self._run()
            except Exception as exc:
                if self.stop.is_set():
                    break
                log.warning("retry forwarder error: %r", exc)
                self.stop.wait(1.0)

    def _run(self) -> None:
        heap: list[tuple[float, int, str, Message]] = []
        seq = itertools.count()
        with bus.connect(self.config, role="retry-forwarder") as conn:
            channel = conn.channel()
            self.topology.declare(channel)
            producer = Producer(conn.channel())
            sources: dict[str, str] = {}
            for q in self.queues:
                for tier in range(1, len(self.config.retry_delays) + 1):
                    sources[self.topology.name(retry_queue(q, tier))] = self.topology.name(q)

            def hold(body: object, message: Message) -> None:
                target = sources[message.delivery_info["routing_key"]]
                due = float((message.headers or {}).get("x-retry-at", 0))
                heapq.heappush(heap, (due, next(seq), target, message))

            consumers = [Queue(name, no_declare=True) for name in sources]
            with Consumer(channel, consumers, callbacks=[hold], accept=None):
                while not self.stop.is_set():
                    with contextlib.suppress(TimeoutError):
                        conn.drain_events(timeout=0.2)
                    while heap and heap[0][0] <= time.time():
                        _, _, target, message = heapq.heappop(heap)
                        bus.publish_raw(
                            producer,
                            "",
                            target,
                            _raw_body(message),
                            headers=dict(message.headers or {}),
                            message_id=message.properties.get("message_id"),
                        )
                        message.ack()


def _raw_body(message: Message) -> str | bytes:
    raw: str | bytes = message.body
    if isinstance(raw, bytes):
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:  # a poison body goes to the DLQ byte for byte
            return raw
    return raw


def _clean(headers: dict[str, Any]) -> dict[str, Any]:
    # RabbitMQ's own dead-letter bookkeeping grows on each hop; we keep our own counters instead.
    return {
        k: v
        for k, v in headers.items()
        if not k.startswith("x-death") and not k.startswith("x-first-death") and not k.startswith("x-last-death")
    }


def _error_text(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}"[:2000]
