"""Duplicates and reordering of the saga's own events, per consuming service.

The harness idea of test_duplicates_reordering.py, for the saga: each flow is a list of events one
service consumes about one subject (an order, a case). The same flow is built for two subjects: the
reference subject gets it once, in order; the other gets it reversed and twice (E_n..E_1, E_n..E_1),
as redeliveries and retries across consumers can deliver it. Both are published onto the real bus
(RabbitMQ, the service's real worker on PostgreSQL) and the two subjects' end states must be equal.

A handler that needs an earlier event raises and is retried by the consumer (the retry tiers are
set long enough for a flow to catch up; nothing may end in the DLQ). A late stale event must change
nothing. Where the end state legitimately differs (a cancel that overtakes the payment leaves
nothing to release: no reserve/release pair in the ledger), the flow names the reason in
`differs`: then only the subject's *essential* state (stock and net ledger, money, live shipments,
status) must be equal, and its *record* (history rows, emitted events) may differ; docs/reliability.md
explains each.

Each subject's state is read from the service's own database (and its outbox: events emitted for
the subject, counted by type), normalised so that two subjects can be compared (ids and times
replaced by what they mean).
"""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from ecom_common import metrics
from ecom_common.db import inbox
from ecom_common.events import make_event
from ecom_common.outbox import outbox
from ecom_testkit import Platform, eventually, scenarios

pytestmark = [pytest.mark.integration, pytest.mark.reliability, pytest.mark.timeout(120)]

# Long enough for a reversed flow of four events to catch up through the tiers (0.2 + 0.4 + 0.8 + 1.6 s).
RETRY_DELAYS = (0.2, 0.4, 0.8, 1.6)
ADDRESS = {
    "name": "张三",
    "phone": "13812345678",
    "province": "浙江",
    "city": "杭州",
    "district": "西湖区",
    "street": "文三路",
    "detail": "100号3幢501",
}
COMPLETED_AT = "2026-11-11T08:00:00Z"


@dataclass
class Flow:
    service: str
    build: Callable  # (subject) -> [Envelope]
    differs: str | None = None  # why the record may legitimately differ (documented in docs/reliability.md)


# Subjects and states, per consuming service ---------------------------------------------------------------
def _now():
    return datetime.now(UTC)


def _emitted(db, key: str, value: str) -> dict:
    """Events the service emitted about one subject (payload[key] == value), counted by routing key."""
    with db.engine.connect() as conn:
        rows = conn.execute(sa.select(outbox.c.routing_key, outbox.c.body)).all()
    return dict(Counter(rk for rk, body in rows if json.loads(body)["payload"].get(key) == value))


class InventoryBench:
    services = ["inventory"]
    queue = "inventory.events"

    def __init__(self, p):
        self.p = p

    def subject(self, tag: str) -> dict:
        """A shop of its own with SKUs A and B, 10 on hand each; the order id the flow is about."""
        inv = self.p["inventory"]
        shop = f"{tag}-{uuid.uuid4().hex[:6]}"
        scenarios.publish(inv.config, [scenarios.listed(f"P-{shop}", "A", "B", shop_id=shop)])
        for sku in ("A", "B"):
            eventually(
                lambda: inv.get(f"/api/v1/stock/{sku}", role="service", params={"shop_id": shop}).status_code == 200,
                timeout=30,
                message=f"stock item {shop}/{sku}",
            )
            resp = inv.post(
                f"/api/v1/stock/{sku}/adjustments",
                role="warehouse",
                sub="wang",
                shop_id=shop,
                json={"kind": "inbound", "quantity": 10, "reason": "采购入库"},
                headers={"Idempotency-Key": uuid.uuid4().hex},
            )
            assert resp.status_code == 201, resp.text
        return {"shop_id": shop, "order_id": f"O{uuid.uuid4().hex[:12]}"}

    def state(self, s: dict) -> tuple[dict, dict]:
        from inventory.models import Reservation, StockItem, StockMovement

        inv = self.p["inventory"]
        with inv.db.Session() as session:
            items = session.execute(
                sa.select(StockItem.sku_code, StockItem.on_hand, StockItem.reserved).where(
                    StockItem.shop_id == s["shop_id"]
                )
            ).all()
            moves = session.execute(
                sa.select(
                    StockMovement.sku_code,
                    StockMovement.kind,
                    StockMovement.on_hand_delta,
                    StockMovement.reserved_delta,
                ).where(StockMovement.shop_id == s["shop_id"])
            ).all()
            reservation = session.execute(
                sa.select(Reservation.status).where(Reservation.order_id == s["order_id"])
            ).scalar_one_or_none()
        net = {
            sku: [
                sum(m.on_hand_delta for m in moves if m.sku_code == sku),
                sum(m.reserved_delta for m in moves if m.sku_code == sku),
            ]
            for sku in sorted({m.sku_code for m in moves})
        }
        essential = {"stock": {i.sku_code: [i.on_hand, i.reserved] for i in sorted(items)}, "net_ledger": net}
        record = {
            "ledger": dict(Counter(f"{m.sku_code}:{m.kind}" for m in moves)),
            "reservation": reservation,
            "emitted": _emitted(inv.db, "order_id", s["order_id"]),
        }
        return essential, record


def _paid(s, lines=(("A", 2), ("B", 1))):
    return make_event(
        "orders.OrderPaid",
        {
            "order_id": s["order_id"],
            "shop_id": s["shop_id"],
            "buyer_id": "bob",
            "payable_fen": 29700,
            "paid_at": _now().isoformat(),
            "lines": [{"sku_code": k, "quantity": q, "unit_price_fen": 9900} for k, q in lines],
        },
    )


def _cancelled(s, was_paid=True, **extra):
    return make_event(
        "orders.OrderCancelled",
        {
            "order_id": s["order_id"],
            "shop_id": s["shop_id"],
            "reason": "buyer cancelled",
            "was_paid": was_paid,
            **extra,
        },
    )


def _dispatched(s, lines=(("A", 2), ("B", 1)), **extra):
    return make_event(
        "logistics.ShipmentDispatched",
        {
            "order_id": s["order_id"],
            "shop_id": s["shop_id"],
            "shipment_id": f"S-{s['order_id']}",
            "carrier": "SF",
            "tracking_no": f"SF{s['order_id'][-8:]}",
            "lines": [{"sku_code": k, "quantity": q} for k, q in lines],
            **extra,
        },
    )


class OrdersBench:
    # catalog (SKU reads), marketing (the quote) and logistics (shipping quote) answer orders' HTTP
    # calls when it places
    services = ["catalog", "orders", "marketing", "logistics"]
    queue = "orders.events"

    def __init__(self, p):
        self.p = p
        catalog = p["catalog"]
        body = {
            "category_id": "digital-phones",
            "title": "轻薄5G手机 REORDER",
            "brand": "Acme",
            "description": "全新正品",
            "attributes": {"网络类型": "5G", "存储容量": ["128GB"]},
            "images": [{"url": "https://img.example/p.jpg", "width": 800, "height": 800}],
            "skus": [
                {
                    "sku_code": "PH-1",
                    "spec": {"存储容量": "128GB"},
                    "list_price_fen": 9900,
                    "weight_g": 500,
                    "low_stock_threshold": 2,
                }
            ],
        }
        resp = catalog.post("/api/v1/products", json=body, shop_id="S1")
        assert resp.status_code == 201, resp.text
        pid = resp.json()["product_id"]
        assert catalog.post(f"/api/v1/products/{pid}/submit", shop_id="S1").status_code == 200
        assert catalog.post(f"/api/v1/products/{pid}/approve", role="reviewer", sub="rita").status_code == 200

    def subject(self, tag: str) -> dict:
        resp = self.p["orders"].post(
            "/api/v1/orders",
            role="buyer",
            sub=f"buyer-{tag}",
            json={"shop_id": "S1", "lines": [{"sku_code": "PH-1", "quantity": 1}], "address": ADDRESS},
            headers={"Idempotency-Key": uuid.uuid4().hex},
        )
        assert resp.status_code == 201, resp.text
        order = resp.json()
        return {
            "order_id": order["order_id"],
            "shop_id": "S1",
            "payable_fen": order["payable_fen"],
            "payment_id": f"P{uuid.uuid4().hex[:10]}",
        }

    def state(self, s: dict) -> tuple[dict, dict]:
        from orders.models import Order

        db = self.p["orders"].db
        with db.Session() as session:
            o = session.get(Order, s["order_id"])
            timeline = [t.action for t in o.timeline]
            essential = {
                "status": o.status,
                "payment": o.payment_id == s["payment_id"],
                "shipment": o.shipment_id == f"S-{s['order_id']}",
                "carrier": o.carrier,
                "tracking": o.tracking_no == f"SF{s['order_id'][-8:]}",
                "times_set": [
                    name
                    for name in ("paid_at", "shipped_at", "delivered_at", "cancelled_at")
                    if getattr(o, name) is not None
                ],
            }
            record = {"timeline": timeline, "presale": o.presale, "promise": o.promise}
        emitted = _emitted(db, "order_id", s["order_id"])
        emitted.pop("orders.OrderPlaced", None)  # placing is the subject's set-up, not the flow
        essential["emitted"] = emitted
        essential["cancelled_as_paid"] = [
            e["payload"]["was_paid"]
            for e in _events(db, "orders.OrderCancelled")
            if e["payload"]["order_id"] == s["order_id"]
        ]
        return essential, record


def _events(db, routing_key):
    from ecom_testkit import recorded_events

    return recorded_events(db, routing_key)


def _payment(s):
    return make_event(
        "billing.PaymentSucceeded",
        {
            "order_id": s["order_id"],
            "shop_id": s["shop_id"],
            "payment_id": s["payment_id"],
            "amount_fen": s["payable_fen"],
            "method": "alipay",
        },
    )


def _reserved(s):
    return make_event(
        "inventory.StockReserved",
        {"order_id": s["order_id"], "shop_id": s["shop_id"], "lines": [{"sku_code": "PH-1", "quantity": 1}]},
    )


def _shortage(s, policy):
    return make_event(
        "inventory.StockShortage",
        {
            "order_id": s["order_id"],
            "shop_id": s["shop_id"],
            "policy": policy,
            "short": [{"sku_code": "PH-1", "requested": 1, "available": 0}],
        },
    )


def _delivered(s, **extra):
    return make_event(
        "logistics.ShipmentDelivered",
        {"order_id": s["order_id"], "shop_id": s["shop_id"], "shipment_id": f"S-{s['order_id']}", **extra},
    )


class BillingBench:
    services = ["billing"]
    queue = "billing.events"

    def __init__(self, p):
        self.p = p

    def subject(self, tag: str) -> dict:
        return {"order_id": f"O{uuid.uuid4().hex[:12]}", "shop_id": "S1"}

    def state(self, s: dict) -> tuple[dict, dict]:
        from billing.models import BillingOrder, LedgerEntry, OrderLine, Refund, Settlement

        db = self.p["billing"].db
        with db.Session() as session:
            o = session.get(BillingOrder, s["order_id"])
            lines = session.execute(
                sa.select(OrderLine.sku_code, OrderLine.quantity, OrderLine.share_fen)
                .where(OrderLine.order_id == s["order_id"])
                .order_by(OrderLine.line_no)
            ).all()
            settlements = session.execute(
                sa.select(Settlement.status, Settlement.due_at).where(Settlement.order_id == s["order_id"])
            ).all()
            refunds = session.execute(sa.select(sa.func.count()).where(Refund.order_id == s["order_id"])).scalar_one()
            ledger = session.execute(
                sa.select(LedgerEntry.kind, LedgerEntry.amount_fen).where(LedgerEntry.order_id == s["order_id"])
            ).all()
        essential = {
            "order": o
            and {
                "status": o.status,
                "payable_fen": o.payable_fen,
                "paid_fen": o.paid_fen,
                "refunded_fen": o.refunded_fen,
                "buyer_id": o.buyer_id,
                "placed_at_known": o.placed_at is not None,
            },
            "lines": [list(l) for l in lines],
            "settlements": [[st.status, st.due_at.isoformat()] for st in settlements],
            "refunds": refunds,
            "ledger": sorted([list(e) for e in ledger]),
            "emitted": _emitted(db, "order_id", s["order_id"]),
        }
        return essential, {}


def _placed(s):
    return make_event(
        "orders.OrderPlaced",
        {
            "order_id": s["order_id"],
            "shop_id": s["shop_id"],
            "buyer_id": "bob",
            "payable_fen": 19800,
            "placed_at": _now().isoformat(),
            "lines": [{"sku_code": "PH-1", "quantity": 2, "unit_price_fen": 9900, "category_id": "digital-phones"}],
        },
    )


def _completed(s):
    return make_event(
        "orders.OrderCompleted",
        {
            "order_id": s["order_id"],
            "shop_id": s["shop_id"],
            "completed_at": COMPLETED_AT,
            "payable_fen": 19800,
            "buyer_id": "bob",
        },
    )


class LogisticsBench:
    services = ["logistics"]
    queue = "logistics.events"

    def __init__(self, p):
        self.p = p

    def subject(self, tag: str) -> dict:
        return {"order_id": f"O{uuid.uuid4().hex[:12]}", "shop_id": "S1"}

    def state(self, s: dict) -> tuple[dict, dict]:
        from logistics.models import Shipment

        db = self.p["logistics"].db
        with db.Session() as session:
            shipments = session.execute(sa.select(Shipment).where(Shipment.order_id == s["order_id"])).scalars().all()
            rows = [
                {
                    "status": x.status,
                    "carrier": x.carrier,
                    "lines": x.lines,
                    "province": x.province,
                    "receiver": x.receiver,
                }
                for x in shipments
            ]
        essential = {"live_shipments": [r for r in rows if r["status"] != "cancelled"]}
        record = {"shipments": [r["status"] for r in rows], "emitted": _emitted(db, "order_id", s["order_id"])}
        return essential, record


def _ready(s):
    return make_event(
        "orders.OrderReadyToShip",
        {
            "order_id": s["order_id"],
            "shop_id": s["shop_id"],
            "paid_at": _now().isoformat(),
            "priority": False,
            "lines": [{"sku_code": "PH-1", "quantity": 1, "unit_price_fen": 9900}],
            "weight_g": 500,
            "address": {
                "name": "张*",
                "phone": "138****5678",
                "province": "浙江",
                "city": "杭州",
                "district": "西湖区",
                "detail": "100号3幢501",
            },
        },
    )


class AftersalesBench:
    services = ["aftersales"]
    queue = "aftersales.events"

    def __init__(self, p):
        self.p = p

    def subject(self, tag: str, case_type: str = "return", status: str = "refunding") -> dict:
        """A case as cs left it (written as the API would: the events under test come over the bus)."""
        from aftersales.models import Case, CaseEvent

        now = _now()
        case_id = f"C{uuid.uuid4().hex[:12]}"
        order_id = f"O{uuid.uuid4().hex[:12]}"
        with self.p["aftersales"].db.Session() as session:
            session.add(
                Case(
                    id=case_id,
                    order_id=order_id,
                    shop_id="S1",
                    buyer_id="bob",
                    case_type=case_type,
                    reason="quality",
                    status=status,
                    amount_fen=9900,
                    evidence={},
                    before_shipment=False,
                    refund_attempts=1 if status == "refunding" else 0,
                    refund_failed=False,
                    received_at=now,
                    resellable=True,
                    created_at=now,
                    updated_at=now,
                )
            )
            session.add(
                CaseEvent(
                    case_id=case_id, action="set_up", status=status, at=now, by="test", reason="reliability harness"
                )
            )
            session.commit()
        return {"case_id": case_id, "order_id": order_id, "shop_id": "S1"}

    def state(self, s: dict) -> tuple[dict, dict]:
        from aftersales.models import Case

        db = self.p["aftersales"].db
        with db.Session() as session:
            c = session.get(Case, s["case_id"])
            essential = {
                "status": c.status,
                "closed": c.closed_at is not None,
                "refund_id": c.refund_id,
                "reship": [c.reship_shipment_id, c.reship_tracking_no],
                "emitted": _emitted(db, "case_id", s["case_id"]),
            }
            record = {
                "timeline": [e.action for e in c.timeline],
                "refund_failed": c.refund_failed,
                "last_refund_error": c.last_refund_error,
            }
        return essential, record


class ExchangeBench(AftersalesBench):
    def subject(self, tag: str) -> dict:
        return super().subject(tag, case_type="exchange", status="received")


def _refund_failed(s):
    return make_event(
        "billing.RefundFailed",
        {
            "order_id": s["order_id"],
            "shop_id": s["shop_id"],
            "case_id": s["case_id"],
            "refund_id": "R-1",
            "reason": "provider timeout",
            "code": "provider_error",
        },
    )


def _refund_succeeded(s):
    return make_event(
        "billing.RefundSucceeded",
        {
            "order_id": s["order_id"],
            "shop_id": s["shop_id"],
            "case_id": s["case_id"],
            "refund_id": "R-2",
            "amount_fen": 9900,
            "kind": "aftersales",
        },
    )


def _replacement(s):
    return {"case_id": s["case_id"], "order_id": s["order_id"], "shop_id": s["shop_id"], "shipment_id": "S-R1"}


BENCHES = {
    "inventory": InventoryBench,
    "orders": OrdersBench,
    "billing": BillingBench,
    "logistics": LogisticsBench,
    "aftersales": AftersalesBench,
    "aftersales-exchange": ExchangeBench,
}

CANCEL_OVERTAKES_PAY = (
    "a cancel that overtakes its OrderPaid leaves a tombstone: the late OrderPaid reserves nothing, so the ledger "
    "has no reserve/release (or reserve/deduct) pair and the reservation reads cancelled, not released; stock and "
    "net ledger agree"
)

FLOWS: dict[str, Flow] = {
    # inventory: OrderPaid, OrderCancelled, ShipmentDispatched of one order
    "inventory.paid_then_dispatched": Flow("inventory", lambda s: [_paid(s), _dispatched(s)]),
    "inventory.paid_then_cancelled": Flow("inventory", lambda s: [_paid(s), _cancelled(s)], CANCEL_OVERTAKES_PAY),
    # the warehouse dispatched while the buyer cancelled: both orders of the race
    "inventory.paid_dispatched_cancelled": Flow(
        "inventory", lambda s: [_paid(s), _dispatched(s), _cancelled(s)], CANCEL_OVERTAKES_PAY
    ),
    "inventory.paid_cancelled_dispatched": Flow(
        "inventory", lambda s: [_paid(s), _cancelled(s), _dispatched(s)], CANCEL_OVERTAKES_PAY
    ),
    # orders: PaymentSucceeded, StockReserved/StockShortage, ShipmentDispatched, ShipmentDelivered
    "orders.paid_reserved_shipped_delivered": Flow(
        "orders", lambda s: [_payment(s), _reserved(s), _dispatched(s, lines=(("PH-1", 1),)), _delivered(s)]
    ),
    "orders.paid_then_shortage_cancel": Flow("orders", lambda s: [_payment(s), _shortage(s, "cancel")]),
    "orders.paid_shortage_wait_then_reserved": Flow(
        "orders",
        lambda s: [_payment(s), _shortage(s, "wait"), _reserved(s)],
        "a StockShortage{wait} that arrives after the StockReserved that followed it is stale and only noted: the "
        "order goes straight to awaiting_shipment without the awaiting_stock episode (no presale promise on it)",
    ),
    # billing: OrderPlaced, OrderCancelled, OrderCompleted
    "billing.placed_then_completed": Flow("billing", lambda s: [_placed(s), _completed(s)]),
    "billing.placed_then_cancelled": Flow("billing", lambda s: [_placed(s), _cancelled(s, was_paid=False)]),
    # logistics: OrderReadyToShip, OrderCancelled
    "logistics.ready_twice": Flow("logistics", lambda s: [_ready(s), _ready(s)]),  # a re-audit emits it again
    "logistics.ready_then_cancelled": Flow(
        "logistics",
        lambda s: [_ready(s), _cancelled(s)],
        "a cancel that overtakes OrderReadyToShip leaves a marker and no shipment is ever created; in order, the "
        "shipment is created and then cancelled (a cancelled shipment row and its ShipmentCreated); no live "
        "shipment either way",
    ),
    # aftersales: RefundFailed/RefundSucceeded of a case; an exchange's replacement dispatched and delivered
    "aftersales.refund_failed_then_succeeded": Flow(
        "aftersales",
        lambda s: [_refund_failed(s), _refund_succeeded(s)],
        "a RefundFailed (first attempt) that arrives after the case closed on the retry's RefundSucceeded is stale "
        "and ignored: the closed case does not carry the first attempt's failure on its timeline",
    ),
    "aftersales.replacement_dispatched_then_delivered": Flow(
        "aftersales-exchange",
        lambda s: [
            make_event(
                "logistics.ShipmentDispatched",
                {
                    **_replacement(s),
                    "carrier": "SF",
                    "tracking_no": "SF9",
                    "lines": [{"sku_code": "PH-1", "quantity": 1}],
                },
            ),
            make_event("logistics.ShipmentDelivered", _replacement(s)),
        ],
    ),
}


# The harness ------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def benches():
    """One platform per consuming service, shared by its flows (each flow has subjects of its own)."""
    running: dict[tuple, tuple[Platform, dict]] = {}

    def get(name: str):
        key = tuple(BENCHES[name].services)
        if key not in running:
            running[key] = (
                Platform(
                    list(key), retry_delays=RETRY_DELAYS, settings={"ORDERS_REPEAT_PHONE_COUNT": "100000"}
                ).start(),
                {},
            )
        p, made = running[key]
        if name not in made:
            made[name] = BENCHES[name](p)
        return p, made[name]

    yield get
    for p, _ in running.values():
        p.stop()


def retried(service: str, queue: str, keys) -> float:
    return sum(metrics.EVENTS_HANDLED.labels(service, queue, k, "retried")._value.get() for k in set(keys))


def settle(rs, queue: str, events) -> None:
    """Wait until every distinct event of `events` is handled by `rs` (an inbox row each) and nothing
    is left in its queue or retry tiers; fail at once if anything was dead-lettered."""
    ids = {e.event_id for e in events}
    queues = [queue, *(f"{queue}.retry.{n}" for n in range(1, len(RETRY_DELAYS) + 1))]

    def done():
        assert scenarios.queue_state(rs.config, f"{queue}.dlq")[0] == 0, "a message was dead-lettered"
        with rs.db.engine.connect() as conn:
            handled = conn.execute(
                sa.select(sa.func.count()).select_from(inbox).where(inbox.c.event_id.in_(ids))
            ).scalar_one()
        return handled == len(ids) and all(scenarios.queue_state(rs.config, q)[0] == 0 for q in queues)

    eventually(done, timeout=60, interval=0.1, message="flow handled")


def _diff(a: dict, b: dict) -> list[str]:
    return sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))


@pytest.mark.parametrize("flow", list(FLOWS))
def test_saga_flow_delivered_twice_and_reversed_ends_as_once_in_order(flow, benches, reliability_report):
    spec = FLOWS[flow]
    p, bench = benches(spec.service)
    service = bench.queue.split(".")[0]
    rs = p[service]
    ref, perm = bench.subject("REF"), bench.subject("PERM")
    in_order, shuffled = spec.build(ref), spec.build(perm)
    keys = [e.routing_key for e in in_order]

    scenarios.publish(rs.config, in_order)
    settle(rs, bench.queue, in_order)
    retries_before = retried(service, bench.queue, keys)
    started = time.monotonic()
    scenarios.publish(rs.config, list(reversed(shuffled)) * 2)
    settle(rs, bench.queue, shuffled)
    seconds = time.monotonic() - started
    retries = retried(service, bench.queue, keys) - retries_before

    (want_essential, want_record), (got_essential, got_record) = bench.state(ref), bench.state(perm)
    same = (want_essential, want_record) == (got_essential, got_record)
    reliability_report(
        {
            "scenario": f"saga duplicates and reordering: {flow}",
            "proves": "the saga flow delivered twice and reversed ends as once in order",
            "events_in_flow": len(in_order),
            "deliveries_reordered_flow": 2 * len(shuffled),
            "retries_until_in_step": int(retries),
            "seconds_to_settle": round(seconds, 2),
            "same_state": same,
            "essential_state_equal": want_essential == got_essential,
            "record_differs_in": ",".join(_diff(want_record, got_record)) or None,
            "expected": None if same else {"essential": want_essential, "record": want_record},
            "got": None if same else {"essential": got_essential, "record": got_record},
        },
        scenario=f"saga_reordering.{flow}",
    )
    assert got_essential == want_essential
    if spec.differs is None:
        assert got_record == want_record
