"""analytics at volume (issue 17, item 6): generated orders' events projected into facts and rollups
by the real consumer, and the KPI report read from the rollups against the same KPIs computed from
the facts alone.

analytics' schema on PostgreSQL (`scratch`), no broker: for each of `--runs` runs, N / runs orders
(200,000 in all; `--quick` 3,000) over 10 shops, 20,000 buyers, 500 SKUs and 30 days: OrderPlaced (a
third with a 满减 promotion or a coupon), OrderPaid for 90% of them, RefundSucceeded for 5% of those,
ShipmentCreated / Dispatched / Delivered for the paid ones, OrderReviewed for a fifth of those and a
ComplaintFiled for 2%, handed to `EventConsumer.handle_batch` in
batches of ECOM_CONSUMER_BATCH (32), as the worker does with a backlog (inbox row, facts, rollup
upserts, one commit per batch), plus three page views per order through the beacon's operation in
batches of 500. Per run: events/s and views/s of the projection (the volume grows run by run, so the
last run projects onto the fullest tables).

Then, per run, 40 KPI reports (a random shop, 7 days ending on a random day of the 30, with the
previous 7 days, series, top lists and breakdowns: `operations.kpi_report`), the core KPIs of that one
period from the rollups (`queries.aggregates`: paid amount, orders, paying buyers, repeat and new
buyers with the 365-day lookback, UV, PV, refunds, ...) and the same core KPIs computed from the facts
and visits without the rollups: p50 and p95 ms of each (the last two are the like-for-like pair).

Freshness over RabbitMQ, per run: a real `ecom worker analytics` (as deployed) consumes the
namespace's bus; FRESH orders (20; `--quick` 10), one at a time, have their OrderPlaced and OrderPaid
published on the exchange, and the day's KPI report of their shop (`operations.kpi_report`, today) is
read every 20 ms until it counts the order: seconds from publishing OrderPaid to the paid order in the
day's KPIs, p50 and p95 (issue 17: within 5 s).
"""

from __future__ import annotations

import logging
import random
import statistics
import subprocess
import time
import uuid
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from .common import BIN, REPO, quiet_service_logs, scratch, stop_process

NAME = "analytics"
SHOPS = [f"S{n}" for n in range(10)]
DAYS = 30
QUERIES = 40
FRESHNESS_TIMEOUT_S = 60


def orders_total(args) -> int:
    return getattr(args, "orders", None) or (3000 if args.quick else 200_000)


def steps(args) -> int:
    return 3 * args.runs


def fresh_orders(args) -> int:
    return 10 if args.quick else 20


def _order_events(rng: random.Random, start: datetime, n: int) -> tuple[list, list]:
    from ecom_common.clock import iso
    from ecom_common.events import make_event

    events, views = [], []
    for _ in range(n):
        oid = f"O{uuid.uuid4().hex[:16]}"
        shop, buyer = rng.choice(SHOPS), f"b{rng.randrange(20_000)}"
        at = start + timedelta(seconds=rng.randrange(DAYS * 86400))
        lines = [
            {
                "sku_code": f"SKU{rng.randrange(500)}",
                "quantity": rng.randint(1, 3),
                "unit_price_fen": 100 * rng.randint(10, 999),
            }
            for _ in range(rng.randint(1, 3))
        ]
        goods = sum(line["quantity"] * line["unit_price_fen"] for line in lines)
        base = {"order_id": oid, "shop_id": shop, "buyer_id": buyer, "lines": lines}
        off, discounts = 0, []
        if rng.random() < 0.33:  # 满减 of one of five promotions, or a shop coupon
            off = min(goods // 10, 3000)
            source, ref = rng.choice([("full_reduction", f"P{rng.randrange(5)}"), ("shop_coupon", f"CL{oid}")])
            discounts = [{"line": 0, "sku_code": lines[0]["sku_code"], "source": source, "ref": ref}]
            discounts[0] |= {"amount_fen": off, "funded_by": "shop"}
        payable = goods - off + 1000
        placed = {**base, "goods_fen": goods, "discount_fen": off, "shipping_fen": 1000, "payable_fen": payable}
        events.append(make_event("orders.OrderPlaced", {**placed, "discounts": discounts, "placed_at": iso(at)}))
        if rng.random() < 0.9:
            events.append(make_event("orders.OrderPaid", {**base, "payable_fen": payable, "paid_at": iso(at)}))
            ship = {"shipment_id": f"S{oid}", "order_id": oid, "shop_id": shop, "carrier": rng.choice(["SF", "YTO"])}
            created = {**ship, "dispatch_by": iso(at + timedelta(hours=24))}
            events.append(make_event("logistics.ShipmentCreated", created, occurred_at=at))
            sent_at = at + timedelta(hours=rng.randint(1, 30))
            sent = {**ship, "tracking_no": f"T{oid}", "lines": lines}
            events.append(make_event("logistics.ShipmentDispatched", sent, occurred_at=sent_at))
            delivered_at = sent_at + timedelta(hours=rng.randint(12, 96))
            events.append(make_event("logistics.ShipmentDelivered", {**ship, "delivered_at": iso(delivered_at)}))
            if rng.random() < 0.2:
                review = {"review_id": f"V{oid}", "order_id": oid, "shop_id": shop, "stars": rng.randint(1, 5)}
                review |= {"nps": rng.choice([None, *range(11)]), "at": iso(delivered_at + timedelta(days=1))}
                events.append(make_event("aftersales.OrderReviewed", review))
            if rng.random() < 0.02:
                complaint = {"complaint_id": f"K{oid}", "shop_id": shop, "order_id": oid, "tier": "general"}
                events.append(make_event("aftersales.ComplaintFiled", {**complaint, "at": iso(delivered_at)}))
            if rng.random() < 0.05:
                refund = {"order_id": oid, "shop_id": shop, "refund_id": f"R{oid}", "amount_fen": goods // 2}
                events.append(make_event("billing.RefundSucceeded", refund, occurred_at=at + timedelta(days=1)))
        for v in range(3):
            views.append((f"V{oid}{v}", rng.choice([buyer, f"anon{rng.randrange(50_000)}"]), shop, at))
    return events, views


def facts_kpis(session, shop: str, start, end) -> dict:
    """The core KPIs straight from the facts and visits (what a report costs without rollups)."""
    from analytics.models import OrderFact, RefundFact, Visit

    paid = sa.and_(OrderFact.shop_id == shop, OrderFact.paid_day >= start, OrderFact.paid_day <= end)
    per_buyer = (
        sa.select(OrderFact.buyer_id, sa.func.count().label("n")).where(paid).group_by(OrderFact.buyer_id).subquery()
    )
    old = sa.select(OrderFact.buyer_id).where(
        OrderFact.shop_id == shop,
        OrderFact.paid_day >= start - timedelta(days=365),
        OrderFact.paid_day < start,
    )
    paid_fen, orders = session.execute(
        sa.select(sa.func.coalesce(sa.func.sum(OrderFact.paid_fen), 0), sa.func.count()).where(paid)
    ).one()
    buyers, repeat, new = session.execute(
        sa.select(
            sa.func.count(),
            sa.func.coalesce(sa.func.sum(sa.case((per_buyer.c.n >= 2, 1), else_=0)), 0),
            sa.func.coalesce(sa.func.sum(sa.case((per_buyer.c.buyer_id.in_(old), 0), else_=1)), 0),
        ).select_from(per_buyer)
    ).one()
    uv, pv = session.execute(
        sa.select(sa.func.count(sa.distinct(Visit.visitor_id)), sa.func.count()).where(
            Visit.shop_id == shop, Visit.day >= start, Visit.day <= end
        )
    ).one()
    refund_fen = session.execute(
        sa.select(sa.func.coalesce(sa.func.sum(RefundFact.amount_fen), 0)).where(
            RefundFact.shop_id == shop, RefundFact.day >= start, RefundFact.day <= end
        )
    ).scalar_one()
    return {"paid_fen": paid_fen, "paid_orders": orders, "paying_buyers": buyers, "repeat_buyers": repeat,
            "new_buyers": new, "uv": uv, "pv": pv, "refund_fen": refund_fen}  # fmt: skip


def start_worker(sc) -> subprocess.Popen:
    """`ecom worker analytics` on the namespace's bus and schema, as deployed; returns once it consumes."""
    from kombu import Connection

    from ecom_common import bus

    proc = subprocess.Popen(
        [str(BIN / "ecom"), "worker", "analytics"],
        cwd=REPO,
        env=sc.env("analytics", ECOM_LOG_LEVEL="WARNING", ECOM_JOB_INTERVAL=3600),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    config = sc.configs["analytics"]
    queue = bus.topology_for(config).name("analytics.events")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"analytics worker exited with {proc.returncode}")
        try:
            with Connection(config.broker_url, heartbeat=0) as conn:
                if conn.channel().queue_declare(queue, passive=True)[2] >= 1:
                    return proc
        except Exception:
            pass
        time.sleep(0.3)
    stop_process(proc)
    raise RuntimeError("the analytics worker did not start consuming within 60 s")


def freshness(sc, rng: random.Random, count: int) -> list[float]:
    """Seconds from publishing OrderPaid to the paid order counted in its shop's KPIs of the day,
    for `count` orders one at a time (an order not counted within FRESHNESS_TIMEOUT_S raises)."""
    from kombu import Producer

    from analytics import domain, operations
    from analytics.settings import Settings
    from ecom_common import bus
    from ecom_common.usecase import for_job

    db = sc.dbs["analytics"]
    exchange = bus.topology_for(sc.configs["analytics"]).exchange

    def paid_orders(shop: str) -> int:
        with for_job(db, Settings) as ctx:
            today = domain.day_of(ctx.now, ctx.settings.day_utc_offset_hours)
            return int(operations.kpi_report(ctx, shop, start=today, end=today)["kpis"]["paid_orders"])

    out = []
    with bus.connect(sc.configs["analytics"], role="bench-freshness") as conn:
        producer = Producer(conn.channel())
        for _ in range(count):
            out.append(_one_fresh(producer, exchange, rng.choice(SHOPS), paid_orders))
    return out


def _one_fresh(producer, exchange, shop: str, paid_orders) -> float:
    """One order's OrderPlaced and OrderPaid published; seconds until the shop's KPIs count it."""
    from ecom_common import bus
    from ecom_common.clock import iso
    from ecom_common.events import make_event

    oid = f"F{uuid.uuid4().hex[:16]}"
    before = paid_orders(shop)
    lines = [{"sku_code": "SKU-FRESH", "quantity": 1, "unit_price_fen": 9900}]
    base = {"order_id": oid, "shop_id": shop, "buyer_id": f"fresh{oid}", "lines": lines, "payable_fen": 9900}
    now = datetime.now(UTC)
    placed = make_event("orders.OrderPlaced", {**base, "placed_at": iso(now)})
    paid = make_event("orders.OrderPaid", {**base, "paid_at": iso(now)})
    bus.publish_raw(producer, exchange, placed.routing_key, placed.to_json(), message_id=placed.event_id)
    t0 = time.monotonic()
    bus.publish_raw(producer, exchange, paid.routing_key, paid.to_json(), message_id=paid.event_id)
    while paid_orders(shop) <= before:
        if time.monotonic() - t0 > FRESHNESS_TIMEOUT_S:
            raise RuntimeError(f"order {oid} not in the KPIs {FRESHNESS_TIMEOUT_S} s after its OrderPaid")
        time.sleep(0.02)
    return time.monotonic() - t0


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run(args, bar) -> dict:
    from analytics import domain, operations, queries
    from analytics.handlers import SUBSCRIPTIONS
    from analytics.settings import Settings
    from ecom_common.consumer import EventConsumer
    from ecom_common.usecase import for_job

    quiet_service_logs()
    logging.getLogger().setLevel(logging.WARNING)
    total = orders_total(args)
    rng = random.Random(17)
    start = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=DAYS)
    runs, notes = [], []
    with scratch(["analytics"]) as sc, _worker(sc):
        db = sc.dbs["analytics"]
        consumer = EventConsumer(db, SUBSCRIPTIONS[0])
        batch = db.config.consumer_batch
        projected = 0
        for k in range(args.runs):
            n = total // args.runs + (total % args.runs if k == args.runs - 1 else 0)
            events, views = _order_events(rng, start, n)
            t = time.perf_counter()
            for i in range(0, len(events), batch):
                consumer.handle_batch(events[i : i + batch])
            events_s = len(events) / (time.perf_counter() - t)
            t = time.perf_counter()
            for i in range(0, len(views), 500):
                with for_job(db, Settings) as ctx:
                    operations.record_visits(
                        ctx,
                        [
                            operations.VisitIn(event_id=e, visitor_id=v, shop_id=s, page="product", at=at)
                            for e, v, s, at in views[i : i + 500]
                        ],
                    )
            views_s = len(views) / (time.perf_counter() - t)
            projected += n
            runs.append({"orders_so_far": projected, "events": len(events), "events_s": events_s, "views_s": views_s})
            bar.update(1)
        for k in range(args.runs):
            rollup_ms, core_ms, facts_ms = [], [], []
            for _ in range(QUERIES):
                shop = rng.choice(SHOPS)
                end = domain.day_of(start + timedelta(days=rng.randrange(7, DAYS)), 8)
                first = end - timedelta(days=6)
                t = time.perf_counter()
                with for_job(db, Settings) as ctx:
                    report = operations.kpi_report(ctx, shop, start=first, end=end)
                rollup_ms.append(1000 * (time.perf_counter() - t))
                t = time.perf_counter()
                with db.Session() as session:
                    queries.aggregates(session, shop, first, end, 365)
                core_ms.append(1000 * (time.perf_counter() - t))
                t = time.perf_counter()
                with db.Session() as session:
                    direct = facts_kpis(session, shop, first, end)
                facts_ms.append(1000 * (time.perf_counter() - t))
                mismatch = {
                    key: (report["kpis"][key], value) for key, value in direct.items() if report["kpis"][key] != value
                }
                if mismatch and len(notes) < 3:
                    notes.append(f"rollups and facts disagree for {shop} {first}..{end}: {mismatch}")
            runs[k].update(
                report_p50_ms=statistics.median(rollup_ms),
                report_p95_ms=_percentile(rollup_ms, 0.95),
                core_p50_ms=statistics.median(core_ms),
                core_p95_ms=_percentile(core_ms, 0.95),
                facts_p50_ms=statistics.median(facts_ms),
                facts_p95_ms=_percentile(facts_ms, 0.95),
            )
            bar.update(1)
        for k in range(args.runs):
            seconds = freshness(sc, rng, fresh_orders(args))
            runs[k].update(fresh_p50_s=statistics.median(seconds), fresh_p95_s=_percentile(seconds, 0.95))
            bar.update(1)
        with db.engine.connect() as conn:
            sizes = {
                table: conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one()
                for table in (
                    "order_facts",
                    "line_facts",
                    "shipment_facts",
                    "visits",
                    "shop_day",
                    "sku_day",
                    "buyer_day",
                    "visitor_day",
                    "campaign_day",
                )
            }
    notes.append(f"rows at the end: {sizes}")
    rows = [
        ("events projected / s (consumer batches)", "events_s"),
        ("page views recorded / s (beacon batches of 500)", "views_s"),
        ("KPI report from rollups, p50 ms", "report_p50_ms"),
        ("KPI report from rollups, p95 ms", "report_p95_ms"),
        ("core KPIs of one period from rollups, p50 ms", "core_p50_ms"),
        ("core KPIs of one period from rollups, p95 ms", "core_p95_ms"),
        ("same KPIs from facts, p50 ms", "facts_p50_ms"),
        ("same KPIs from facts, p95 ms", "facts_p95_ms"),
        ("OrderPaid -> in the day's KPIs over RabbitMQ, p50 s", "fresh_p50_s"),
        ("OrderPaid -> in the day's KPIs over RabbitMQ, p95 s", "fresh_p95_s"),
    ]
    return {
        "runs": runs,
        "rows": rows,
        "notes": notes,
        "settings": {
            "orders": total,
            "shops": len(SHOPS),
            "days": DAYS,
            "consumer_batch": batch,
            "fresh_orders_per_run": fresh_orders(args),
            "database": "PostgreSQL",
            "broker": "RabbitMQ (freshness)",
        },
    }


@contextmanager
def _worker(sc):
    """The analytics worker consuming the namespace's bus while the benchmark runs."""
    proc = start_worker(sc)
    try:
        yield proc
    finally:
        stop_process(proc)
