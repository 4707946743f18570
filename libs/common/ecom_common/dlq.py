"""Dead-letter queues: look at what failed, and re-drive it once the cause is fixed."""

from __future__ import annotations

from typing import Any

from kombu.entity import Queue
from kombu.messaging import Producer

from . import bus
from .config import Config
from .topology import SUBSCRIPTIONS, dlq


def _check(queue: str) -> None:
    if queue not in SUBSCRIPTIONS:
        raise SystemExit(f"unknown queue {queue!r}; queues: {', '.join(SUBSCRIPTIONS)}")


def list_dead_letters(config: Config, queue: str, limit: int = 1000) -> list[dict[str, Any]]:
    """Read without removing: messages are fetched unacknowledged and returned to the queue on close."""
    _check(queue)
    topology = bus.topology_for(config)
    items: list[dict[str, Any]] = []
    with bus.connect(config) as conn:
        channel = conn.channel()
        topology.declare(channel)
        q = Queue(topology.name(dlq(queue)), no_declare=True)(channel)
        held = []
        while len(items) < limit:
            message = q.get(no_ack=False)
            if message is None:
                break
            held.append(message)
            headers = dict(message.headers or {})
            body: dict[str, Any] | str
            try:
                body = bus.body_json(message)
            except Exception:
                body = message.body if isinstance(message.body, str) else repr(message.body)
            items.append(
                {
                    "event_id": body.get("event_id") if isinstance(body, dict) else None,
                    "type": f"{body.get('producer')}.{body.get('type')}" if isinstance(body, dict) else None,
                    "attempts": headers.get("x-attempts"),
                    "error": headers.get("x-error"),
                    "failed_at": headers.get("x-failed-at"),
                    "body": body,
                }
            )
        for message in held:
            message.requeue()
    return items


def replay(config: Config, queue: str, limit: int = 1000) -> int:
    """Move dead letters back to the work queue with their attempts reset (publish, then ack)."""
    _check(queue)
    topology = bus.topology_for(config)
    moved = 0
    with bus.connect(config) as conn:
        channel = conn.channel()
        topology.declare(channel)
        producer = Producer(conn.channel())
        q = Queue(topology.name(dlq(queue)), no_declare=True)(channel)
        while moved < limit:
            message = q.get(no_ack=False)
            if message is None:
                break
            headers = dict(message.headers or {})
            replays = int(headers.get("x-replays", 0)) + 1
            raw = message.body.decode("utf-8") if isinstance(message.body, bytes) else message.body
            bus.publish_raw(
                producer,
                "",
                topology.name(queue),
                raw,
                headers={"x-replays": replays, "x-previous-error": headers.get("x-error", "")},
                message_id=message.properties.get("message_id"),
            )
            message.ack()
            moved += 1
    return moved
