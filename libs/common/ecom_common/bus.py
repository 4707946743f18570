"""Connections to the bus: RabbitMQ (BROKER_URL=amqp://...) or the embedded durable bus.

Rules from MESSAGING-NOTES.md that this module enforces:
- publisher confirms on RabbitMQ (`confirm_publish`), so a publish returns only once the broker has
  the message;
- one connection per thread, opened where it is used (never inherited across a fork);
- heartbeats serviced by whoever owns the connection (`heartbeat_check` in every loop).
"""

from __future__ import annotations

import json
from typing import Any

from kombu.connection import Connection
from kombu.entity import Exchange
from kombu.message import Message
from kombu.messaging import Producer

from .config import Config
from .topology import DEFAULT_DELIVERY_LIMIT, Topology

HEARTBEAT = 30
EMBEDDED_POLL_INTERVAL = 0.1


def connect(config: Config, heartbeat: int = HEARTBEAT, role: str = "", confirm_publish: bool = True) -> Connection:
    """A connection to the bus. `confirm_publish=False` is for the outbox relay only, which puts its
    channel in confirm mode itself and waits for a whole batch's confirms at once."""
    if config.embedded_bus:
        # The sqla transport hands its transport options to create_engine: only engine arguments here.
        conn = Connection(config.broker_url, transport_options={"connect_args": {"timeout": 30}})
        conn.transport.polling_interval = EMBEDDED_POLL_INTERVAL
        return conn
    return Connection(
        config.broker_url,
        heartbeat=heartbeat,
        connect_timeout=5,
        transport_options={
            "confirm_publish": confirm_publish,
            # Shown by the management UI and `rabbitmqctl list_connections`: who is this connection?
            "client_properties": {"connection_name": f"{config.bus_prefix}{config.service}:{role}".rstrip(":")},
        },
    )


def topology_for(config: Config) -> Topology:
    # ECOM_QUEUE_TYPE=quorum (production) opts in to quorum queues with a delivery limit; unset, the
    # queues are classic, as they always were.
    return Topology(
        prefix=config.bus_prefix,
        retry_tiers=len(config.retry_delays),
        queue_type=config.setting("ECOM_QUEUE_TYPE", "classic"),
        delivery_limit=config.setting("ECOM_QUEUE_DELIVERY_LIMIT", DEFAULT_DELIVERY_LIMIT, int),
    )


def publish_raw(
    producer: Producer,
    exchange: Exchange | str,
    routing_key: str,
    body: str | bytes,
    headers: dict[str, Any] | None = None,
    message_id: str | None = None,
    expiration: float | None = None,
) -> None:
    """Publish a JSON text (a poison body: its bytes) persistently. With confirm_publish this blocks until
    the broker confirms."""
    producer.publish(
        body,
        exchange=exchange,
        routing_key=routing_key,
        content_type="application/json",
        content_encoding="utf-8",
        delivery_mode=2,
        headers=headers or {},
        message_id=message_id,
        expiration=expiration,
        retry=False,
    )


def body_json(message: Message) -> dict[str, Any]:
    raw = message.body
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8")
    data: dict[str, Any] = json.loads(raw)
    return data


def check_broker(config: Config, timeout: float = 3.0) -> None:
    """Raise if the broker cannot be reached (used by /readyz)."""
    conn = connect(config, heartbeat=0)
    try:
        conn.ensure_connection(max_retries=1, timeout=timeout)
        if config.embedded_bus:
            _ = conn.default_channel  # opens the SQLite file
    finally:
        conn.release()
