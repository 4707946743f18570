"""A bounded HTTP load client: a fixed number of requests from a few threads over keep-alive
connections, closed-loop (as fast as answered) or open-loop at a fixed rate (for latency at a given
load, e.g. the p99 of POST /orders at 50 orders/s). Loopback only.

    stats = drive("127.0.0.1", port, lambda i: ("GET", "/healthz", None, {}), requests=2000, threads=8)
"""

from __future__ import annotations

import http.client
import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from .common import percentile

Request = Callable[[int], tuple[str, str, bytes | None, dict]]


@dataclass
class LoadResult:
    requests: int
    elapsed: float
    statuses: dict[int, int] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def rps(self) -> float:
        return self.requests / self.elapsed if self.elapsed else 0.0

    def figures(self, prefix: str) -> dict:
        ms = [x * 1000 for x in self.latencies]
        return {
            f"{prefix}_rps": self.rps,
            f"{prefix}_p50_ms": percentile(ms, 50),
            f"{prefix}_p95_ms": percentile(ms, 95),
            f"{prefix}_p99_ms": percentile(ms, 99),
            f"{prefix}_non_2xx": sum(n for s, n in self.statuses.items() if not 200 <= s < 300) + len(self.errors),
        }


def drive(
    host: str,
    port: int,
    make_request: Request,
    requests: int,
    threads: int = 8,
    rate: float | None = None,
    timeout: float = 30,
    on_progress=None,
) -> LoadResult:
    """Send `requests` requests; `make_request(i)` gives (method, path, body, headers) of the i-th.

    rate=None: closed loop. rate=R: request i is sent at start + i/R (open loop; if the server falls
    behind, the latency includes the time the request waited for its turn)."""
    counter = itertools.count()
    lock = threading.Lock()
    result = LoadResult(requests, 0.0)
    start = time.perf_counter()

    def worker():
        conn = http.client.HTTPConnection(host, port, timeout=timeout)
        try:
            while True:
                i = next(counter)
                if i >= requests:
                    return
                due = start + i / rate if rate else None
                if due is not None:
                    delay = due - time.perf_counter()
                    if delay > 0:
                        time.sleep(delay)
                method, path, body, headers = make_request(i)
                t0 = due if due is not None else time.perf_counter()
                try:
                    conn.request(method, path, body=body, headers=headers)
                    resp = conn.getresponse()
                    resp.read()
                    status = resp.status
                    if resp.getheader("Connection", "").lower() == "close":
                        conn.close()
                except Exception as exc:  # counted, and the connection is opened anew
                    conn.close()
                    conn = http.client.HTTPConnection(host, port, timeout=timeout)
                    with lock:
                        result.errors.append(repr(exc)[:200])
                    continue
                latency = time.perf_counter() - t0
                with lock:
                    result.statuses[status] = result.statuses.get(status, 0) + 1
                    result.latencies.append(latency)
                if on_progress and i % 50 == 49:
                    on_progress(50)
        finally:
            conn.close()

    pool = [threading.Thread(target=worker, daemon=True) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    result.elapsed = time.perf_counter() - start
    return result
