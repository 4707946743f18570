"""Ids of the things a service creates: prefix + time part + random part (docs/interfaces.md,
"Identity of things"). The time part comes from the transaction's `now` (the configured clock), so
ids sort by creation time, also when a test has moved the clock on."""

from __future__ import annotations

import secrets
from datetime import datetime


def new_id(prefix: str, now: datetime) -> str:
    """`prefix` + milliseconds since the epoch (12 hex digits, sortable until the year 10889) + 8
    random hex digits, e.g. `R019a7c3e4f10` + `9b2e41c7`."""
    return f"{prefix}{int(now.timestamp() * 1000):012x}{secrets.token_hex(4)}"
