"""The merchant console with 10,000 orders in the platform (issue 18, item 4): how long the order list
and the dashboard take to render, p50 / p95, as a signed-in ops person sees them. A report, no
assertion (the issue's target: under 300 ms at p95).

The console and the services its pages call (orders, logistics, aftersales, catalog, analytics) run
as deployed (`stack.py`: gunicorn with deploy/gunicorn.conf.py, web processes only: no event flows
while measuring) on PostgreSQL schemas of their own (`common.scratch`). Before that:

- orders: 10,000 orders of one shop (S1; the worst case for one merchant) written with orders' own
  models over the last 30 days, in a realistic mix of statuses (completed, shipped, to ship, ...),
  one to three lines each, with their `placed` timeline row;
- analytics: the same orders' `orders.OrderPlaced` and `orders.OrderPaid` (90%) projected by
  analytics' real consumer (`EventConsumer.handle_batch`, as the worker does), so that the
  dashboard's figures and 7/30-day charts have data;
- console: an ops account of S1, signed in through the form (a requests.Session keeps the cookie).

Per run, 200 (`--quick` 30) sequential GETs of each page, interleaved: `/orders` (the
first page of 50 with the tab counts and saved filters), `/orders?tab=to_ship` (a filtered page) and
`/` (the dashboard: today's KPIs, the 30-day series, to-do counts of orders, logistics, after-sales
and complaints: seven calls to four services). Times are the client's wall time of the whole
response (keep-alive, loopback), the page included.
"""

from __future__ import annotations

import logging
import random
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta

import requests

from .common import percentile, quiet_service_logs, scratch
from .stack import Stack

NAME = "console"
SERVICES = ["orders", "logistics", "aftersales", "catalog", "analytics", "console"]
ORDERS = 10_000
DAYS = 30
SHOP = "S1"
PASSWORD = "bench console password"
PAGES = {"orders": "/orders", "orders_to_ship": "/orders?tab=to_ship", "dashboard": "/"}
# status -> share of the orders (the rest: completed)
MIX = {
    "pending_payment": 0.04,
    "cancelled": 0.06,
    "on_hold": 0.01,
    "awaiting_shipment": 0.12,
    "shipped": 0.10,
    "delivered": 0.07,
}
ADDRESS = {
    "name": "张三",
    "phone": "13800138000",
    "province": "浙江",
    "city": "杭州",
    "district": "西湖区",
    "street": "文三路",
    "detail": "100号3幢501",
}
MASKED = {**ADDRESS, "name": "张*", "phone": "138****8000", "detail": "****"}


def requests_per_run(args) -> int:
    return 30 if args.quick else 200


def steps(args) -> int:
    return 3 + args.runs


def _status(rng: random.Random) -> str:
    x, acc = rng.random(), 0.0
    for status, share in MIX.items():
        acc += share
        if x < acc:
            return status
    return "completed"


def _seed_orders(db, rng: random.Random, now: datetime) -> list[dict]:
    """ORDERS orders of SHOP written with orders' models; their event payloads for analytics."""
    from orders.models import Order, OrderLine, TimelineEntry

    out = []
    with db.Session() as session:
        for i in range(ORDERS):
            oid = f"O{uuid.uuid4().hex[:20]}"
            at = now - timedelta(seconds=rng.randrange(DAYS * 86400))
            status = _status(rng)
            buyer = f"b{rng.randrange(3000)}"
            lines = [
                {
                    "sku_code": f"SKU{rng.randrange(200)}",
                    "quantity": rng.randint(1, 3),
                    "unit_price_fen": 100 * rng.randint(10, 999),
                }
                for _ in range(rng.randint(1, 3))
            ]
            goods = sum(line["quantity"] * line["unit_price_fen"] for line in lines)
            paid = status not in ("pending_payment", "cancelled")
            session.add(
                Order(
                    id=oid,
                    shop_id=SHOP,
                    buyer_id=buyer,
                    status=status,
                    note="",
                    address=ADDRESS,
                    address_masked=MASKED,
                    receiver_phone=ADDRESS["phone"],
                    goods_fen=goods,
                    discount_fen=0,
                    shipping_fen=1000,
                    payable_fen=goods + 1000,
                    held_reasons="note_request" if status == "on_hold" else "",
                    held_at=at if status == "on_hold" else None,
                    paid_at=at if paid else None,
                    created_at=at,
                    updated_at=at,
                )
            )
            for n, line in enumerate(lines, 1):
                session.add(
                    OrderLine(
                        order_id=oid,
                        line_no=n,
                        sku_code=line["sku_code"],
                        title="轻薄5G手机",
                        quantity=line["quantity"],
                        list_price_fen=line["unit_price_fen"],
                        unit_price_fen=line["unit_price_fen"],
                        weight_g=500,
                        discount_fen=0,
                        paid_fen=line["quantity"] * line["unit_price_fen"],
                    )
                )
            session.add(TimelineEntry(order_id=oid, status="pending_payment", action="placed", at=at, by=buyer))
            out.append({"order_id": oid, "buyer_id": buyer, "lines": lines, "goods": goods, "at": at, "paid": paid})
            if i % 1000 == 999:
                session.commit()
        session.commit()
    return out


def _project(db, orders: list[dict]) -> None:
    """The orders' OrderPlaced / OrderPaid through analytics' real consumer, in the worker's batches."""
    from analytics.handlers import SUBSCRIPTIONS
    from ecom_common.clock import iso
    from ecom_common.consumer import EventConsumer
    from ecom_common.events import make_event

    events = []
    for o in orders:
        base = {"order_id": o["order_id"], "shop_id": SHOP, "buyer_id": o["buyer_id"], "lines": o["lines"]}
        payable = o["goods"] + 1000
        placed = {**base, "goods_fen": o["goods"], "discount_fen": 0, "shipping_fen": 1000, "payable_fen": payable}
        events.append(make_event("orders.OrderPlaced", {**placed, "placed_at": iso(o["at"])}))
        if o["paid"]:
            events.append(make_event("orders.OrderPaid", {**base, "payable_fen": payable, "paid_at": iso(o["at"])}))
    consumer = EventConsumer(db, SUBSCRIPTIONS[0])
    batch = db.config.consumer_batch
    for i in range(0, len(events), batch):
        consumer.handle_batch(events[i : i + batch])


def _signed_in(base: str) -> requests.Session:
    from ecom_testkit.console_support import sign_in

    class Client(requests.Session):
        def request(self, method, url, *a, **kw):  # noqa: ANN001 - requests' own signature
            return super().request(method, base + url if url.startswith("/") else url, *a, **kw)

    client = Client()
    resp = sign_in(client, "olivia", PASSWORD)
    if resp.status_code != 200 or "olivia" not in resp.text:
        raise RuntimeError(f"the bench could not sign in to the console: {resp.status_code}")
    return client


def run(args, bar) -> dict:
    from console import operations
    from console.settings import Settings
    from ecom_common.usecase import Actor, for_job

    quiet_service_logs()
    logging.getLogger().setLevel(logging.WARNING)
    rng = random.Random(18)
    now = datetime.now(UTC)
    n = requests_per_run(args)
    runs, notes = [], []
    with scratch(SERVICES) as sc:
        t = time.perf_counter()
        orders = _seed_orders(sc.dbs["orders"], rng, now)
        notes.append(f"{ORDERS} orders written in {time.perf_counter() - t:.0f}s")
        bar.update(1)
        t = time.perf_counter()
        _project(sc.dbs["analytics"], orders)
        notes.append(f"their events projected by analytics in {time.perf_counter() - t:.0f}s")
        bar.update(1)
        with for_job(sc.dbs["console"], Settings, Actor("admin", ("admin",))) as ctx:
            operations.create_staff(ctx, "olivia", roles=["ops"], shop_id=SHOP, password=PASSWORD)
        with Stack(sc, SERVICES, workers=False) as stack:
            client = _signed_in(stack.url("console"))
            for path in PAGES.values():  # warm up: connections, templates, caches
                for _ in range(3):
                    client.get(path).raise_for_status()
            bar.update(1)
            for _ in range(args.runs):
                times: dict[str, list[float]] = {key: [] for key in PAGES}
                for _ in range(n):
                    for key, path in PAGES.items():
                        t = time.perf_counter()
                        resp = client.get(path)
                        times[key].append(1000 * (time.perf_counter() - t))
                        if resp.status_code != 200 or 'data-testid="nav"' not in resp.text:
                            raise RuntimeError(f"{path} answered {resp.status_code}")
                run_figures: dict[str, float] = {}
                for key, values in times.items():
                    run_figures[f"{key}_p50_ms"] = statistics.median(values)
                    run_figures[f"{key}_p95_ms"] = percentile(values, 95) or 0.0
                runs.append(run_figures)
                bar.update(1)
            page = client.get("/orders").text
            if page.count('data-testid="order-row"') != 50:
                notes.append("the order list did not show a full page of 50")
    rows = []
    for key, label in (
        ("orders", "/orders"),
        ("orders_to_ship", "/orders?tab=to_ship"),
        ("dashboard", "/ (dashboard)"),
    ):
        rows.append((f"{label} p50 ms", f"{key}_p50_ms"))
        rows.append((f"{label} p95 ms", f"{key}_p95_ms"))
    return {
        "runs": runs,
        "rows": rows,
        "notes": notes,
        "targets": {"p95_ms": 300},
        "settings": {
            "orders": ORDERS,
            "shop": SHOP,
            "days": DAYS,
            "requests_per_page_per_run": n,
            "database": "PostgreSQL",
            "services": SERVICES,
        },
    }
