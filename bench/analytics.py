"""analytics at volume (issue 17, item 6): 200,000 generated orders' events in analytics' facts and
rollups on PostgreSQL, the projection's throughput through the real consumer, and the KPIs read from
the rollups against the same KPIs computed from the facts alone, per shop and platform-wide.

Pushing 200,000 orders (about a million events) through the consumer one batch at a time takes hours
on the shared 2-core machine (70-160 events/s), so the volume is reached in three steps, all in
analytics' schema on PostgreSQL (`scratch`, no broker):

1. **Sample through the real consumer.** The first SAMPLE orders (2,000; `--quick` 500) of the
   generated history: their events handed to `EventConsumer.handle_batch` in batches of
   ECOM_CONSUMER_BATCH (32), as the worker does with a backlog (inbox row, facts, rollup upserts, one
   commit per batch), their page views through the beacon's operation (`record_visits`) in batches of
   500. Measured: events/s, views/s, and CPU per event: this process's CPU (`time.process_time`,
   handlers + SQLAlchemy + driver) and, when /proc shows it, the CPU of the PostgreSQL backend(s)
   serving the consumer's connections.
2. **The rest in bulk.** The remaining orders' events (generated exactly like the sample's) are
   turned into the same fact rows the projector writes (`_facts`: the handlers' mapping with the same
   domain functions - `PlacedOrder.amounts/line_paid/campaign_discounts`, `day_of` with
   ANALYTICS_DAY_UTC_OFFSET_HOURS, `dispatch_timing`, `delivered_on_time` with
   ANALYTICS_CARRIER_PROMISE_HOURS - applied to each order's events in order), and written with one
   PostgreSQL `COPY ... FROM STDIN` per fact table per chunk of 10,000 orders (order_facts,
   line_facts, discount_facts, refund_facts, shipment_facts, review_facts, case_facts, visits); no
   inbox rows. Then the rollups are built by the service's own rebuild (`handlers.rebuild_rollups`,
   the `ecom analytics rebuild` code path: `rollups.rebuild`, every rollup emptied and recomputed
   from the facts with INSERT ... SELECT ... GROUP BY), over the sample's facts and the bulk's alike.
3. **Cross-check.** CHECK orders (300; `--quick` 100) taken from the bulk-written part, their events
   written both ways in two extra scratch schemas - the bulk path (`_facts` + COPY + rebuild) and the
   real consumer (+ `record_visits`) - and every fact table (all columns but the visits' received_at)
   and every rollup table compared row for row: any difference is a note (and `crosscheck_ok` 0).

The generated history: ORDERS (200,000; `--quick` 3,000; `--orders`) over 10 shops of unequal size
(weights 1/(k+1): the largest takes a third), 30 days, 500 SKUs. Buyers are skewed (buyer k of 20,000
drawn as 20,000 * u**3: a few hundred regulars place a fifth of the orders, so buyers return within a
shop-day and over the 365-day lookback). Each order: OrderPlaced (a third with a 满减 promotion or a
coupon), OrderPaid (90%), for the paid ones ShipmentCreated / Dispatched / Delivered, OrderReviewed (a
fifth), ComplaintFiled (2%), RefundSucceeded (5%); about 5 events per order. Page views: the buyer
views 3 pages that day, and two browsing visitors (drawn skewed from 50,000 per shop, so they return
within a day) view 2 pages each: 7 views per order.

Queries, at the full volume, after a VACUUM ANALYZE (what autovacuum gives settled tables): for 1-,
7- and 30-day ranges (ending on a random day of the data's 31 calendar days, the first and last partly
covered), per shop (a random shop) and platform-wide (`shop_id=None`), QUERIES (12; `--quick` 6)
times each: the full KPI report (`operations.kpi_report`: two periods, series, top lists, breakdowns)
from the rollups, the core KPIs of the period from the rollups (`queries.aggregates`: paid amount,
orders, paying, repeat and new buyers with the 365-day lookback, UV, PV, refunds, ...) and the same
core KPIs computed from the facts and visits without the rollups (`facts_kpis`): p50 and p95 ms of
each (of 12 reads, the p95 is the slowest); the last two are the like-for-like pair, checked
equal.

Freshness over RabbitMQ: a real `ecom worker analytics` (as deployed) consumes the namespace's bus;
FRESH orders (20; `--quick` 10), one at a time, have their OrderPlaced and OrderPaid published on the
exchange, and the day's KPI report of their shop (`operations.kpi_report`, today) is read every 20 ms
until it counts the order: seconds from publishing OrderPaid to the paid order in the day's KPIs,
p50 and p95 (issue 17: within 5 s).

The volume is built once: `--runs` does not repeat it (one run; the query figures are percentiles over
QUERIES reads per range and scope).
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

from .common import BIN, REPO, cpu_seconds, quiet_service_logs, scratch, stop_process

NAME = "analytics"
SHOPS = [f"S{n}" for n in range(10)]
SHOP_WEIGHTS = [1 / (k + 1) for k in range(len(SHOPS))]
DAYS = 30
RANGES = (1, 7, 30)
FRESHNESS_TIMEOUT_S = 60
CHUNK = 10_000  # orders per COPY round of the bulk path
VIEW_BATCH = 500
# fact table -> its columns as COPY writes them (the projector's rows, see _facts)
FACT_COLUMNS = {
    "order_facts": (
        "order_id", "shop_id", "buyer_id", "goods_fen", "discount_fen", "shipping_fen", "payable_fen",
        "placed_at", "placed_day", "paid_fen", "paid_at", "paid_day", "payment_method", "refunded_fen",
        "cancelled_at", "cancelled_day", "shipped_at", "delivered_at", "completed_at",
    ),
    "line_facts": (
        "order_id", "line_no", "shop_id", "sku_code", "category_id", "quantity", "unit_price_fen", "gross_fen",
        "paid_fen", "paid_day",
    ),
    "discount_facts": ("order_id", "source", "ref", "shop_id", "funded_by", "amount_fen", "order_paid_fen", "paid_day"),
    "refund_facts": ("refund_id", "order_id", "shop_id", "amount_fen", "kind", "case_id", "at", "day"),
    "shipment_facts": (
        "shipment_id", "order_id", "shop_id", "case_id", "carrier", "created_at", "dispatched_at", "dispatched_day",
        "delivered_at", "delivered_day", "stalled_at", "stalled_day", "dispatch_by", "paid_to_dispatch_s",
        "dispatched_on_time", "delivered_on_time",
    ),
    "review_facts": ("review_id", "order_id", "shop_id", "stars", "nps", "at", "day"),
    "case_facts": (
        "id", "kind", "order_id", "shop_id", "case_type", "tier", "opened_at", "opened_day", "refund_approved_fen",
        "escalations", "outcome", "closed_at", "filed_day", "escalated_day",
    ),
    "visits": ("event_id", "visitor_id", "shop_id", "product_id", "page", "variant", "at", "day", "received_at"),
}  # fmt: skip
ROLLUP_TABLES = ("shop_day", "sku_day", "buyer_day", "visitor_day", "breakdown_day", "campaign_day")


def orders_total(args) -> int:
    return getattr(args, "orders", None) or (3000 if args.quick else 200_000)


def sample_size(args) -> int:
    return min(orders_total(args), 500 if args.quick else 2000)


def check_size(args) -> int:
    return 100 if args.quick else 300


def query_count(args) -> int:
    return 6 if args.quick else 12


def steps(args) -> int:
    return 5


def fresh_orders(args) -> int:
    return 10 if args.quick else 20


# The generated history ---------------------------------------------------------------------------
def _orders(rng: random.Random, start: datetime, n: int) -> list[tuple[list, list]]:
    """`n` orders: per order its events (in the order a worker would see them) and its page views
    (event id, visitor, shop, time)."""
    from ecom_common.clock import iso
    from ecom_common.events import make_event

    out = []
    for _ in range(n):
        events, views = [], []
        oid = f"O{uuid.uuid4().hex[:16]}"
        shop = rng.choices(SHOPS, SHOP_WEIGHTS)[0]
        buyer = f"b{int(20_000 * rng.random() ** 3)}"
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
        browsers = [f"anon{shop}-{int(50_000 * rng.random() ** 2)}" for _ in range(2)]
        for v, visitor in enumerate([buyer] * 3 + [browsers[0]] * 2 + [browsers[1]] * 2):
            views.append((f"V{oid}{v}", visitor, shop, at - timedelta(minutes=7 - v)))
        out.append((events, views))
    return out


def _facts(orders: list[tuple[list, list]], settings, now: datetime) -> dict[str, list[tuple]]:
    """The fact rows the projector writes for these orders' events and views (operations/projection.py,
    through the handlers' mapping), each order's events applied in order; rows as FACT_COLUMNS."""
    from analytics import domain
    from ecom_common.clock import parse_iso

    def day(at):
        return domain.day_of(at, settings.day_utc_offset_hours)

    def at_of(event, field=None):
        return (parse_iso(event.payload.get(field)) if field else None) or parse_iso(event.occurred_at)

    rows: dict[str, list[dict]] = {table: [] for table in FACT_COLUMNS}
    for events, views in orders:
        order, lines, discounts, shipments = None, [], [], {}
        for event in events:
            p, kind = event.payload, event.routing_key
            if kind == "orders.OrderPlaced":
                placed = domain.PlacedOrder(
                    order_id=p["order_id"], shop_id=p["shop_id"], buyer_id=p["buyer_id"],
                    payable_fen=p["payable_fen"], placed_at=at_of(event, "placed_at"),
                    lines=tuple(
                        domain.LineIn(sku_code=li["sku_code"], quantity=li["quantity"],
                                      unit_price_fen=li.get("unit_price_fen") or 0, category_id=li.get("category_id"))
                        for li in p["lines"]
                    ),
                    goods_fen=p.get("goods_fen"), discount_fen=p.get("discount_fen"),
                    shipping_fen=p.get("shipping_fen"),
                    discounts=tuple(
                        domain.DiscountIn(source=d["source"], ref=d.get("ref"), amount_fen=d["amount_fen"],
                                          funded_by=d["funded_by"])
                        for d in p.get("discounts") or []
                    ),
                )  # fmt: skip
                goods, discount, shipping = placed.amounts()
                order = dict.fromkeys(FACT_COLUMNS["order_facts"]) | {
                    "order_id": placed.order_id, "shop_id": placed.shop_id, "buyer_id": placed.buyer_id,
                    "goods_fen": goods, "discount_fen": discount, "shipping_fen": shipping,
                    "payable_fen": placed.payable_fen, "placed_at": placed.placed_at,
                    "placed_day": day(placed.placed_at), "refunded_fen": 0,
                }  # fmt: skip
                paid = placed.line_paid()
                lines = [
                    {"order_id": placed.order_id, "line_no": n, "shop_id": placed.shop_id, "sku_code": line.sku_code,
                     "category_id": line.category_id, "quantity": line.quantity,
                     "unit_price_fen": line.unit_price_fen, "gross_fen": line.gross_fen, "paid_fen": paid[n],
                     "paid_day": None}
                    for n, line in enumerate(placed.lines)
                ]  # fmt: skip
                discounts = [
                    {"order_id": placed.order_id, "shop_id": placed.shop_id, "order_paid_fen": None, "paid_day": None}
                    | d
                    for d in placed.campaign_discounts()
                ]
            elif kind == "orders.OrderPaid":
                paid_at = at_of(event, "paid_at")
                order |= {"paid_at": paid_at, "paid_day": day(paid_at), "paid_fen": p["payable_fen"]}
                for line in lines:
                    line["paid_day"] = order["paid_day"]
                for d in discounts:
                    d |= {"paid_day": order["paid_day"], "order_paid_fen": p["payable_fen"]}
            elif kind == "billing.RefundSucceeded":
                at = at_of(event)
                rows["refund_facts"].append(
                    {"refund_id": p["refund_id"], "order_id": p["order_id"], "shop_id": p["shop_id"],
                     "amount_fen": p["amount_fen"], "kind": p.get("kind"), "case_id": p.get("case_id"), "at": at,
                     "day": day(at)}
                )  # fmt: skip
                order["refunded_fen"] += p["amount_fen"]
            elif kind.startswith("logistics.Shipment"):
                s = shipments.setdefault(
                    p["shipment_id"],
                    dict.fromkeys(FACT_COLUMNS["shipment_facts"])
                    | {"shipment_id": p["shipment_id"], "order_id": p["order_id"], "shop_id": p["shop_id"],
                       "case_id": p.get("case_id"), "carrier": p.get("carrier"),
                       "dispatch_by": parse_iso(p.get("dispatch_by"))},
                )  # fmt: skip
                s["carrier"] = p.get("carrier") if kind.endswith("Dispatched") else s["carrier"] or p.get("carrier")
                s["dispatch_by"] = s["dispatch_by"] or parse_iso(p.get("dispatch_by"))
                if kind.endswith("Created"):
                    s["created_at"] = at_of(event)
                elif kind.endswith("Dispatched"):
                    at = at_of(event)
                    timing = domain.dispatch_timing(at, s["dispatch_by"], order["paid_at"])
                    s |= {"dispatched_at": at, "dispatched_day": day(at), "dispatched_on_time": timing.on_time}
                    s["paid_to_dispatch_s"] = timing.paid_to_dispatch_s
                    order["shipped_at"] = order["shipped_at"] or at
                elif kind.endswith("Delivered"):
                    at = at_of(event, "delivered_at")
                    on_time = domain.delivered_on_time(s["dispatched_at"], at, settings.carrier_promise_hours)
                    s |= {"delivered_at": at, "delivered_day": day(at), "delivered_on_time": on_time}
                    order["delivered_at"] = order["delivered_at"] or at
            elif kind == "aftersales.OrderReviewed":
                at = at_of(event, "at")
                rows["review_facts"].append(
                    {"review_id": p["review_id"], "order_id": p["order_id"], "shop_id": p["shop_id"],
                     "stars": p["stars"], "nps": p.get("nps"), "at": at, "day": day(at)}
                )  # fmt: skip
            elif kind == "aftersales.ComplaintFiled":
                at = at_of(event, "at")
                rows["case_facts"].append(
                    dict.fromkeys(FACT_COLUMNS["case_facts"])
                    | {"id": p["complaint_id"], "kind": "complaint", "order_id": p.get("order_id"),
                       "shop_id": p["shop_id"], "tier": p["tier"], "opened_at": at, "opened_day": day(at),
                       "refund_approved_fen": 0, "escalations": 0, "filed_day": day(at)}
                )  # fmt: skip
            else:
                raise ValueError(f"the bulk path does not map {kind}")
        rows["order_facts"].append(order)
        rows["line_facts"].extend(lines)
        rows["discount_facts"].extend(discounts)
        rows["shipment_facts"].extend(shipments.values())
        for event_id, visitor, shop, at in views:
            rows["visits"].append(
                {"event_id": event_id, "visitor_id": visitor, "shop_id": shop, "product_id": None, "page": "product",
                 "variant": None, "at": at, "day": day(at), "received_at": now}
            )  # fmt: skip
    return {table: [tuple(r[c] for c in FACT_COLUMNS[table]) for r in found] for table, found in rows.items()}


def _copy(db, facts: dict[str, list[tuple]]) -> None:
    """The rows written with one COPY per fact table, in one transaction."""
    with db.engine.begin() as conn:
        raw = conn.connection.driver_connection
        with raw.cursor() as cur:
            for table, found in facts.items():
                if not found:
                    continue
                with cur.copy(f"COPY {table} ({', '.join(FACT_COLUMNS[table])}) FROM STDIN") as copy:
                    for row in found:
                        copy.write_row(row)


def _rebuild(db) -> dict[str, int]:
    """The rollups from the facts through `ecom analytics rebuild`'s code path."""
    from analytics.handlers import rebuild_rollups
    from analytics.models import ROLLUPS

    rebuild_rollups(db)
    with db.engine.connect() as conn:
        return {m.__tablename__: conn.execute(sa.select(sa.func.count()).select_from(m)).scalar_one() for m in ROLLUPS}


def _project(db, orders: list[tuple[list, list]]) -> tuple[int, int, float, float]:
    """The orders through the real consumer (events) and the beacon's operation (views): events,
    views, seconds for the events, seconds for the views."""
    from analytics import operations
    from analytics.handlers import SUBSCRIPTIONS
    from analytics.settings import Settings
    from ecom_common.consumer import EventConsumer
    from ecom_common.usecase import for_job

    consumer = EventConsumer(db, SUBSCRIPTIONS[0])
    batch = db.config.consumer_batch
    events = [e for found, _ in orders for e in found]
    views = [v for _, found in orders for v in found]
    t = time.perf_counter()
    for i in range(0, len(events), batch):
        consumer.handle_batch(events[i : i + batch])
    events_s = time.perf_counter() - t
    t = time.perf_counter()
    for i in range(0, len(views), VIEW_BATCH):
        with for_job(db, Settings) as ctx:
            operations.record_visits(
                ctx,
                [
                    operations.VisitIn(event_id=e, visitor_id=v, shop_id=s, page="product", at=at)
                    for e, v, s, at in views[i : i + VIEW_BATCH]
                ],
            )
    return len(events), len(views), events_s, time.perf_counter() - t


def _dump(db) -> dict[str, set]:
    """Every fact and rollup table's rows (visits without received_at: the time it was written)."""
    out = {}
    with db.engine.connect() as conn:
        for table in (*FACT_COLUMNS, *ROLLUP_TABLES):
            cols = [c for c in FACT_COLUMNS.get(table, ()) if c != "received_at"] or ["*"]
            out[table] = {tuple(r) for r in conn.execute(sa.text(f"SELECT {', '.join(cols)} FROM {table}"))}
    return out


def crosscheck(orders: list[tuple[list, list]], settings) -> list[str]:
    """The same orders written by the bulk path (facts + rebuild) and by the real consumer, in two
    scratch schemas: the differences, table by table (none: the bulk path is the projector's)."""
    with scratch(["analytics"]) as bulk, scratch(["analytics"]) as real:
        _copy(bulk.dbs["analytics"], _facts(orders, settings, datetime.now(UTC)))
        _rebuild(bulk.dbs["analytics"])
        _project(real.dbs["analytics"], orders)
        a, b = _dump(bulk.dbs["analytics"]), _dump(real.dbs["analytics"])
    out = []
    for table in a:
        if a[table] != b[table]:
            diff = sorted(map(str, a[table] ^ b[table]))[:3]
            out.append(f"cross-check: {table} differs ({len(a[table] - b[table])} bulk-only, "
                       f"{len(b[table] - a[table])} consumer-only rows), e.g. {diff}")  # fmt: skip
        elif not a[table] and table in ("order_facts", "shop_day", "visitor_day"):
            out.append(f"cross-check: {table} is empty on both sides")
    return out


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


# The KPIs ------------------------------------------------------------------------------------------
def facts_kpis(session, shop: str | None, start, end) -> dict:
    """The core KPIs straight from the facts and visits (what a report costs without rollups), of one
    shop or (None) of every shop."""
    from analytics.models import OrderFact, RefundFact, Visit

    def scope(model):
        return [] if shop is None else [model.shop_id == shop]

    paid = sa.and_(*scope(OrderFact), OrderFact.paid_day >= start, OrderFact.paid_day <= end)
    per_buyer = (
        sa.select(OrderFact.buyer_id, sa.func.count().label("n")).where(paid).group_by(OrderFact.buyer_id).subquery()
    )
    old = sa.select(OrderFact.buyer_id).where(
        *scope(OrderFact), OrderFact.paid_day >= start - timedelta(days=365), OrderFact.paid_day < start
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
            *scope(Visit), Visit.day >= start, Visit.day <= end
        )
    ).one()
    refund_fen = session.execute(
        sa.select(sa.func.coalesce(sa.func.sum(RefundFact.amount_fen), 0)).where(
            *scope(RefundFact), RefundFact.day >= start, RefundFact.day <= end
        )
    ).scalar_one()
    return {"paid_fen": paid_fen, "paid_orders": orders, "paying_buyers": buyers, "repeat_buyers": repeat,
            "new_buyers": new, "uv": uv, "pv": pv, "refund_fen": refund_fen}  # fmt: skip


def measure_queries(db, rng: random.Random, days_range: tuple, count: int, prefix: str = "") -> tuple[dict, list[str]]:
    """p50/p95 ms of the KPI report, the core KPIs from the rollups and (without `prefix`) the same
    from the facts, per range (days) and scope (a shop, the platform); notes where rollups and facts
    disagree."""
    first_day, last_day = days_range
    from analytics import operations, queries
    from analytics.settings import Settings
    from ecom_common.usecase import for_job

    out, notes = {}, []
    for days in RANGES:
        for scope in ("shop", "platform"):
            report_ms, core_ms, facts_ms = [], [], []
            for _ in range(count):
                shop = rng.choice(SHOPS) if scope == "shop" else None
                end = first_day + timedelta(days=rng.randrange(days - 1, (last_day - first_day).days + 1))
                start = end - timedelta(days=days - 1)
                t = time.perf_counter()
                with for_job(db, Settings) as ctx:
                    report = operations.kpi_report(ctx, shop, start=start, end=end)
                report_ms.append(1000 * (time.perf_counter() - t))
                t = time.perf_counter()
                with db.Session() as session:
                    queries.aggregates(session, shop, start, end, 365)
                core_ms.append(1000 * (time.perf_counter() - t))
                if prefix:
                    continue
                t = time.perf_counter()
                with db.Session() as session:
                    direct = facts_kpis(session, shop, start, end)
                facts_ms.append(1000 * (time.perf_counter() - t))
                mismatch = {k: (report["kpis"][k], v) for k, v in direct.items() if report["kpis"][k] != v}
                if mismatch and len(notes) < 3:
                    notes.append(f"rollups and facts disagree for {shop or 'platform'} {start}..{end}: {mismatch}")
            key = f"{scope}_{days}d"
            for name, values in (("report", report_ms), ("core", core_ms), ("facts", facts_ms)):
                if not values:
                    continue
                out[f"{prefix}{name}_{key}_p50_ms"] = statistics.median(values)
                out[f"{prefix}{name}_{key}_p95_ms"] = _percentile(values, 0.95)
    return out, notes


def _vacuum(db) -> None:
    """VACUUM ANALYZE of the schema's tables after the bulk load: what autovacuum gives a table that
    has settled (statistics for the planner, the visibility map for index-only scans)."""
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("VACUUM ANALYZE"))


def _backend_pids(db) -> set[int]:
    with db.engine.connect() as conn:
        return {conn.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()}


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run(args, bar) -> dict:
    from analytics import domain
    from analytics.settings import Settings
    from ecom_common.usecase import for_job

    quiet_service_logs()
    logging.getLogger().setLevel(logging.WARNING)
    total, sample = orders_total(args), sample_size(args)
    rng = random.Random(17)
    start = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=DAYS)
    notes: list[str] = []
    result: dict = {"orders": total, "sample_orders": sample}
    with scratch(["analytics"]) as sc, _worker(sc):
        db = sc.dbs["analytics"]
        with for_job(db, Settings) as ctx:
            settings = ctx.settings
        # 1. the sample through the real consumer
        orders = _orders(rng, start, sample)
        pids = _backend_pids(db)
        server0, client0 = cpu_seconds(sorted(pids)), time.process_time()
        events, views, events_wall, views_wall = _project(db, orders)
        pids |= _backend_pids(db)
        client, server = time.process_time() - client0, cpu_seconds(sorted(pids)) - server0
        result |= {
            "sample_events": events,
            "events_s": events / events_wall,
            "views_s": views / views_wall,
        }
        # CPU over events and views together (one process did both); the per-event figure below
        # charges the views' share by their wall time.
        share = events_wall / (events_wall + views_wall)
        result["client_cpu_ms_per_event"] = 1000 * client * share / events
        result["server_cpu_ms_per_event"] = 1000 * server * share / events
        bar.update(1)
        # 2. the rest in bulk: facts by COPY, rollups by the service's rebuild
        t, bulk_events, check = time.perf_counter(), 0, []
        for done in range(sample, total, CHUNK):
            chunk = _orders(rng, start, min(CHUNK, total - done))
            check = check or chunk[: check_size(args)]
            bulk_events += sum(len(e) for e, _ in chunk)
            _copy(db, _facts(chunk, settings, datetime.now(UTC)))
        result["bulk_facts_s"] = time.perf_counter() - t
        t = time.perf_counter()
        sizes = _rebuild(db)
        result["rebuild_s"] = time.perf_counter() - t
        _vacuum(db)
        result["events_in_all"] = events + bulk_events
        bar.update(1)
        # 3. the bulk path against the consumer on orders it wrote
        if check:
            problems = crosscheck(check, settings)
            notes.extend(problems)
            result["crosscheck_orders"] = len(check)
            result["crosscheck_ok"] = int(not problems)
        bar.update(1)
        # 4. the KPIs at the full volume
        first_day = domain.day_of(start, settings.day_utc_offset_hours)
        last_day = domain.day_of(start + timedelta(days=DAYS, seconds=-1), settings.day_utc_offset_hours)
        figures, mismatches = measure_queries(db, rng, (first_day, last_day), query_count(args))
        result |= figures
        notes.extend(mismatches)
        bar.update(1)
        # 5. freshness over RabbitMQ
        seconds = freshness(sc, rng, fresh_orders(args))
        result |= {"fresh_p50_s": statistics.median(seconds), "fresh_p95_s": _percentile(seconds, 0.95)}
        bar.update(1)
        with db.engine.connect() as conn:
            for table in FACT_COLUMNS:
                sizes[table] = conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one()
    notes.append(f"rows at the end: {sizes}")
    rows = [
        ("orders in the tables (sample through the consumer + bulk)", "orders"),
        ("events in all", "events_in_all"),
        ("sample: events projected / s (consumer batches)", "events_s"),
        ("sample: worker-process CPU ms / event", "client_cpu_ms_per_event"),
        ("sample: PostgreSQL backend CPU ms / event", "server_cpu_ms_per_event"),
        ("sample: page views recorded / s (beacon batches of 500)", "views_s"),
        ("bulk facts (COPY) s", "bulk_facts_s"),
        ("rollups rebuilt from the facts s", "rebuild_s"),
        ("cross-check: bulk orders checked against the consumer", "crosscheck_orders"),
        ("cross-check: facts and rollups identical (1 = yes)", "crosscheck_ok"),
    ]
    for days in RANGES:
        for scope in ("shop", "platform"):
            key = f"{scope}_{days}d"
            for name, label in (("report", "KPI report (rollups)"), ("core", "core KPIs (rollups)"),
                                ("facts", "core KPIs (facts)")):  # fmt: skip
                for q in ("p50", "p95"):
                    rows.append((f"{days}-day, {scope}: {label} {q} ms", f"{name}_{key}_{q}_ms"))
    rows += [
        ("OrderPaid -> in the day's KPIs over RabbitMQ, p50 s", "fresh_p50_s"),
        ("OrderPaid -> in the day's KPIs over RabbitMQ, p95 s", "fresh_p95_s"),
    ]
    return {
        "runs": [result],
        "rows": rows,
        "notes": notes,
        "settings": {
            "orders": total,
            "sample_orders_through_consumer": sample,
            "shops": len(SHOPS),
            "days": DAYS,
            "queries_per_range_and_scope": query_count(args),
            "consumer_batch": db.config.consumer_batch,
            "fresh_orders": fresh_orders(args),
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
