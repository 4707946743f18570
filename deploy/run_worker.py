"""The worker role of the image: `ecom worker SERVICE`, plus a Prometheus endpoint for it.

The worker's counters (events handled by outcome, handler latency, outbox published, job runs) live
in the worker process, which serves no HTTP of its own: this starts prometheus_client's exporter
on WORKER_METRICS_PORT (0 disables it) before handing over to the worker. The exporter answering is
also the worker container's liveness signal.
"""

from __future__ import annotations

import os
import sys


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: run_worker.py SERVICE", file=sys.stderr)
        return 2
    port = int(os.environ.get("WORKER_METRICS_PORT", "0") or 0)
    if port:
        from prometheus_client import start_http_server

        start_http_server(port, addr=os.environ.get("WORKER_METRICS_ADDR", "0.0.0.0"))
    from ecom_common.cli import main as ecom

    return ecom(["worker", argv[0]])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
