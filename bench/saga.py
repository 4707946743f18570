"""End-to-end saga benchmark: the place for it, NOT BUILT YET.

It needs the services' business endpoints and handlers (orders, billing, inventory, logistics),
which are on other branches until the lead merges them. `python -m bench saga` says so and writes no
result; nothing here pretends to measure.

What it is to measure (issue 8), with the pieces already here to build it from:
- orders/s from `POST /api/v1/orders` to `awaiting_shipment`, and to settled, for a fixed number
  of orders (e.g. 2,000), sustained;
- latency p50/p95/p99 of placing (the POST) and of the whole chain (POST -> awaiting_shipment,
  POST -> settled);
- CPU ms per order of all service processes (`common.cpu_seconds` over the gunicorn masters and
  the `ecom worker` pids: it follows gunicorn's worker children);
- saga messages/s = events published by all outboxes during the run / elapsed, as a ratio to
  `raw_loop.loop_once` measured in the same run.
Targets on this 2-core machine: >= 100 orders/s end to end on PostgreSQL; p99 of POST /orders
<= 50 ms at 50 orders/s (open loop: `load.drive(..., rate=50)`); saga msg/s >= 0.3 of the raw loop.

How to build it (see bench/README.md, "The saga benchmark"):
1. `with scratch(["catalog", "orders", "inventory", "billing", "logistics", "aftersales"]) as sc:`
   migrates six schemas and gives one bus namespace;
2. start each service's web with `http_rps.start_gunicorn(sc, name, {<peer URLs>})` (peers:
   `<NAME>_URL=http://127.0.0.1:<port>` in the env) and its worker with
   `subprocess.Popen([BIN/"ecom", "worker", name], env=sc.env(name))` (as `hot_sku.start_workers`);
3. seed products and stock (catalog API + an inventory receipt), then drive `POST /api/v1/orders`
   with `load.drive` (closed loop for orders/s; `rate=50` for the p99 figure), pay each order
   through billing's sandbox webhook, and watch the chain by polling `GET /api/v1/orders/{id}`
   or, cheaper, by an observer queue on the namespace's exchange (`hot_sku.Observer`) for
   `orders.OrderReadyToShip` and `billing.SettlementScheduled`; settlement at T+7 needs the
   billing job run with the clock moved on (`ecom job billing <settle job>` with an offset clock
   setting, or a dedicated setting);
4. return runs with orders_s, place_p50/p95/p99_ms, chain_p50/p95/p99_ms, cpu_ms_per_order,
   saga_msg_s, raw_loop_msg_s and ratio; `__main__` does the table and the JSON.
"""
from __future__ import annotations

from .common import NotBuilt

NAME = "saga"


def steps(args) -> int:
    return 0


def run(args, bar) -> dict:
    raise NotBuilt("the end-to-end saga benchmark needs the orders, billing, inventory and logistics "
                   "endpoints and handlers, which land when the services are merged; see bench/saga.py "
                   "and bench/README.md")
