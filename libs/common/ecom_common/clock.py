"""Time, injectable.

Deadlines (unpaid order timeout, 24 h dispatch, T+7 settlement, SLAs) all read `config.clock.now()`
so that tests can move time on instead of sleeping.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import overload


def utcnow() -> datetime:
    return datetime.now(UTC)


@overload
def iso(dt: datetime) -> str: ...
@overload
def iso(dt: None) -> None: ...
def iso(dt: datetime | None) -> str | None:
    """ISO-8601 UTC with a Z, as CONTRACTS.md wants times on the wire."""
    if dt is None:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC).isoformat().replace("+00:00", "Z")


def parse_iso(value: str | None) -> datetime | None:
    """An ISO-8601 time from the wire (a Z or an offset; a time without one is UTC), or None for
    None / "". Raises ValueError for anything else."""
    if value is None or value == "":
        return None
    return aware(datetime.fromisoformat(value))  # Python 3.11 reads a trailing Z


@overload
def aware(dt: datetime) -> datetime: ...
@overload
def aware(dt: None) -> None: ...
def aware(dt: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; everything stored is UTC."""
    if dt is not None and dt.tzinfo is None:
        return dt.replace(tzinfo=UTC)
    return dt


class Clock:
    def now(self) -> datetime:  # pragma: no cover - interface
        raise NotImplementedError


class SystemClock(Clock):
    def now(self) -> datetime:
        return utcnow()


class OffsetClock(Clock):
    """The real time plus an offset a test can move on ("seven days later")."""

    def __init__(self, offset: timedelta = timedelta(0)):
        self._offset = offset
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return utcnow() + self._offset

    def advance(self, **kwargs: float) -> None:
        with self._lock:
            self._offset += timedelta(**kwargs)
