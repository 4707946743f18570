"""Correlation and causation ids of the request or message in hand.

Set by the HTTP layer (X-Request-ID or a fresh id) and by the consumer (from the envelope);
read by `make_event` and by the log processor, so that one order's requests, events and log lines
share one correlation id.
"""

from __future__ import annotations

import contextvars
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

_correlation: contextvars.ContextVar[str | None] = contextvars.ContextVar("correlation_id", default=None)
_causation: contextvars.ContextVar[str | None] = contextvars.ContextVar("causation_id", default=None)
# What the HTTP request in hand has written, for its answer if the database then fails it
# (ecom_common.http): NOTHING yet; SAVED, a unit of work committed (which also marks its
# Idempotency-Key processed: ecom_common.idempotency.KeyClaim); UNKNOWN, the connection was lost at a
# COMMIT, which may or may not have been applied.
NOTHING, SAVED, UNKNOWN = "nothing_changed", "saved", "unknown"
_written: contextvars.ContextVar[str] = contextvars.ContextVar("written", default=NOTHING)


def correlation_id() -> str | None:
    return _correlation.get()


def causation_id() -> str | None:
    return _causation.get()


def new_id() -> str:
    return str(uuid.uuid4())


@contextmanager
def bound(correlation: str | None, causation: str | None = None) -> Iterator[None]:
    t1 = _correlation.set(correlation or new_id())
    t2 = _causation.set(causation)
    try:
        yield
    finally:
        _correlation.reset(t1)
        _causation.reset(t2)


def set_correlation(value: str | None) -> None:
    """A new request: its correlation id, no causation, nothing committed yet."""
    _correlation.set(value)
    _causation.set(None)
    _written.set(NOTHING)


def note_commit(applied: bool | None) -> None:
    """A unit of work committed (True) or lost its connection at the COMMIT (None: unknown)."""
    _written.set(SAVED if applied else UNKNOWN)


def written() -> str:
    return _written.get()
