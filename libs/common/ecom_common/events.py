"""The event envelope, and `make_event`, which refuses a payload its schema in the registry
(`ecom_common.payloads`: every event type on the bus, one module per producer) does not accept.

Routing key = `<producer>.<Type>` (CONTRACTS.md, "Events").
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from marshmallow import Schema, ValidationError

from . import context
from .clock import iso, utcnow
from .payloads import REGISTRY, Payload, event  # noqa: F401  (the registry, importable from here)

ENVELOPE_VERSION = 1


# Envelope ------------------------------------------------------------------------------------
@dataclass
class Envelope:
    type: str
    producer: str
    payload: dict[str, Any]
    event_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    version: int = ENVELOPE_VERSION
    occurred_at: str = field(default_factory=lambda: iso(utcnow()))
    correlation_id: str | None = None
    causation_id: str | None = None

    @property
    def routing_key(self) -> str:
        return f"{self.producer}.{self.type}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "event_id": self.event_id,
            "type": self.type,
            "version": self.version,
            "occurred_at": self.occurred_at,
            "producer": self.producer,
            "correlation_id": self.correlation_id,
            "causation_id": self.causation_id,
            "payload": self.payload,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Envelope:
        missing = [k for k in ("event_id", "type", "producer", "payload") if k not in data]
        if missing:
            raise ValueError(f"not an event envelope, missing {missing}")
        return cls(
            type=data["type"],
            producer=data["producer"],
            payload=data["payload"],
            event_id=str(data["event_id"]),
            version=int(data.get("version", 1)),
            occurred_at=data.get("occurred_at") or iso(utcnow()),
            correlation_id=data.get("correlation_id"),
            causation_id=data.get("causation_id"),
        )


class UnknownEvent(ValueError):
    pass


_SCHEMAS: dict[str, Schema] = {}


def _schema(routing_key: str, schema_cls: type[Schema]) -> Schema:
    """One instance per event type: creating a marshmallow schema deep-copies its declared fields,
    which took four times as long as validating the payload; validating keeps no state on it."""
    schema = _SCHEMAS.get(routing_key)
    if schema is None:
        schema = _SCHEMAS[routing_key] = schema_cls()
    return schema


def make_event(routing_key: str, payload: dict[str, Any], occurred_at: datetime | None = None) -> Envelope:
    """Build a validated envelope, carrying the current correlation and causation ids."""
    schema_cls = REGISTRY.get(routing_key)
    if schema_cls is None:
        raise UnknownEvent(f"{routing_key} is not in the event registry (ecom_common.events)")
    errors = _schema(routing_key, schema_cls).validate(payload)
    if errors:
        raise ValidationError({"payload": errors}, data=payload)
    producer, _, name = routing_key.partition(".")
    env = Envelope(
        type=name,
        producer=producer,
        payload=json.loads(json.dumps(payload, default=_json_default)),
        correlation_id=context.correlation_id() or str(uuid.uuid4()),
        causation_id=context.causation_id(),
    )
    if occurred_at is not None:
        env.occurred_at = iso(occurred_at)
    return env


def _json_default(value: object) -> str:
    if isinstance(value, datetime):
        return iso(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
