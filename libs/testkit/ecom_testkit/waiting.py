"""Waiting for what happens asynchronously (a worker, a relay): poll with a generous deadline, never
sleep for a guessed duration."""
from __future__ import annotations

import time


def eventually(check, timeout: float = 15.0, interval: float = 0.05, message: str = "condition"):
    """Poll `check()` until it returns a truthy value; fail with the last value after `timeout`."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"{message} not reached within {timeout}s; last value: {last!r}")
