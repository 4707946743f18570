"""Waiting for what happens asynchronously (a worker, a relay): poll with a generous deadline, never
sleep for a guessed duration."""

from __future__ import annotations

import re
import threading
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


class Lines:
    """Collects a stream's lines in a thread (gunicorn writes to both stdout and stderr)."""

    def __init__(self, stream):
        self.lines: list[str] = []
        self.thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self.thread.start()

    def _read(self, stream):
        for line in stream:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, pattern: str, timeout: float = 20) -> re.Match:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.lines):
                found = re.search(pattern, line)
                if found:
                    return found
            time.sleep(0.05)
        raise AssertionError(f"{pattern!r} not written within {timeout}s: {self.lines[-20:]}")
