"""The guarantees every saga scenario checks, each under its own name.

A reliability scenario (tests/reliability/test_saga_*.py) breaks something (the broker, a database,
a worker) while orders flow, then checks what must hold whatever broke. Each check here is one
guarantee; its failure starts with the guarantee's name, so that a red run says which promise
broke ("no double charge: ..."), not only which line.

    assert_each_order_reached(p, saga, ids, "shipped", events=ORDER_EVENTS_TO_SHIPPED)
    assert_no_double_reservation(p, accepted, received=SKUS, taken="deducted")
    assert_no_double_charge(p, ids)
    assert_one_shipment_per_order(p, ids)
    assert_outboxes_drained_and_dlqs_empty(p)

`p` is the running `Platform`, `saga` its `Saga` driver, `ids` the accepted orders, `accepted`
(order id, SKU, quantity) per accepted order.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import sqlalchemy as sa

from ecom_common.outbox import outbox
from ecom_common.topology import SUBSCRIPTIONS, dlq

from . import scenarios
from .waiting import eventually

# An order's timeline and the events orders emits about it, up to each end state of the scenarios.
TIMELINE = {
    "awaiting_shipment": ["pending_payment", "paid", "awaiting_shipment"],
    "shipped": ["pending_payment", "paid", "awaiting_shipment", "shipped"],
    "completed": ["pending_payment", "paid", "awaiting_shipment", "shipped", "delivered", "completed"],
}
ORDER_EVENTS = {
    "awaiting_shipment": ("orders.OrderPlaced", "orders.OrderPaid", "orders.OrderReadyToShip"),
    "shipped": ("orders.OrderPlaced", "orders.OrderPaid", "orders.OrderReadyToShip", "orders.OrderShipped"),
    "completed": (
        "orders.OrderPlaced",
        "orders.OrderPaid",
        "orders.OrderReadyToShip",
        "orders.OrderShipped",
        "orders.OrderDelivered",
        "orders.OrderCompleted",
    ),
}


@contextmanager
def guarantee(name: str) -> Iterator[None]:
    """Prefix an assertion failure inside the block with the guarantee it breaks."""
    try:
        yield
    except AssertionError as exc:
        raise AssertionError(f"{name}: {exc}") from None


def emitted(db, routing_key: str | None = None) -> list[tuple[str, dict]]:
    """(routing key, envelope) of every event in a service's outbox (of one routing key)."""
    stmt = sa.select(outbox.c.routing_key, outbox.c.body)
    if routing_key:
        stmt = stmt.where(outbox.c.routing_key == routing_key)
    with db.engine.connect() as conn:
        return [(rk, json.loads(body)) for rk, body in conn.execute(stmt).all()]


def once_per_order(db, routing_key: str, ids: Iterable[str]) -> None:
    """`routing_key` was emitted exactly once about each order of `ids`, and about no other order."""
    got = Counter(body["payload"]["order_id"] for _, body in emitted(db, routing_key))
    assert got == Counter(ids), f"{routing_key} per order: {dict(got - Counter(ids))} extra, " + (
        f"{dict(Counter(ids) - got)} missing"
    )


def count_status(db, ids, status: str) -> int:
    from orders.models import Order

    with db.Session() as s:
        return s.execute(sa.select(sa.func.count()).where(Order.id.in_(ids), Order.status == status)).scalar_one()


def assert_each_order_reached(p, saga, ids: list[str], status: str, events: Iterable[str] | None = None) -> None:
    """Every accepted order is in `status` with each transition once on its timeline, and orders
    emitted each of its events once per order."""
    with guarantee(f"each order reached {status}, each step once"):
        assert count_status(p["orders"].db, ids, status) == len(ids)
        for oid in ids:
            assert [e["status"] for e in saga.order(oid)["timeline"]] == TIMELINE[status], oid
        for key in events if events is not None else ORDER_EVENTS[status]:
            once_per_order(p["orders"].db, key, ids)


def wait_each_order_reached(p, ids: list[str], status: str, timeout: float = 90, poll=None) -> None:
    """Wait until every order of `ids` is in `status` (`poll()` runs at each look, e.g. a job)."""

    def there() -> bool:
        if poll is not None:
            poll()
        return count_status(p["orders"].db, ids, status) == len(ids)

    eventually(there, timeout=timeout, interval=0.25, message=f"every accepted order {status}")


def assert_no_double_reservation(
    p, accepted: list[tuple[str, str, int]], received: dict[str, int], taken: str = "reserved"
) -> None:
    """No stock taken twice: one reservation per accepted order (`taken`: reserved, or deducted once
    shipped) with one reserve (and deduct) movement each; per SKU, on hand == `received` (less the
    orders' quantities once deducted) and reserved == the orders' quantities (0 once deducted); the
    ledger sums to the stock."""
    from inventory.models import Reservation, StockItem, StockMovement

    ids = [oid for oid, _, _ in accepted]
    wanted: dict[str, int] = defaultdict(int)
    for _, sku, qty in accepted:
        wanted[sku] += qty
    kinds = ("reserve", "deduct") if taken == "deducted" else ("reserve",)
    inv = p["inventory"].db
    with guarantee("no stock taken twice"):
        with inv.Session() as s:
            stock = {r.sku_code: (r.on_hand, r.reserved) for r in s.execute(sa.select(StockItem)).scalars()}
            reservations = Counter(s.execute(sa.select(Reservation.order_id, Reservation.status)).all())
            moves = Counter(
                s.execute(sa.select(StockMovement.kind, StockMovement.cause).where(StockMovement.kind.in_(kinds))).all()
            )
        if taken == "deducted":
            assert stock == {sku: (received[sku] - wanted[sku], 0) for sku in received}, stock
        else:
            assert stock == {sku: (received[sku], wanted[sku]) for sku in received}, stock
        assert reservations == Counter({(oid, taken): 1 for oid in ids}), reservations
        assert moves == Counter({(kind, f"order:{oid}"): 1 for kind in kinds for oid in ids}), moves
        assert scenarios.ledger_matches_stock(inv), "the stock ledger does not sum to the stock"
        once_per_order(inv, "inventory.StockReserved", ids)
        if taken == "deducted":
            once_per_order(inv, "inventory.StockDeducted", ids)


def wait_reservations(p, ids: list[str], taken: str, timeout: float = 30) -> None:
    from inventory.models import Reservation

    def reservations() -> dict:
        with p["inventory"].db.Session() as s:
            return dict(Counter(s.execute(sa.select(Reservation.order_id, Reservation.status)).all()))

    eventually(
        lambda: reservations() == {(oid, taken): 1 for oid in ids},
        timeout=timeout,
        message=f"every reservation {taken}",
    )


def assert_no_double_charge(p, ids: list[str], every_attempt: bool = True, settled: bool = False) -> None:
    """One succeeded payment and one payment ledger entry per accepted order, no refund
    (`every_attempt`: and no payment row of any other status, e.g. left by a refused attempt;
    `settled`: one settlement per order)."""
    from billing.models import LedgerEntry, Payment, Refund, Settlement

    with guarantee("no double charge"), p["billing"].db.Session() as s:
        succeeded = Counter(s.execute(sa.select(Payment.order_id).where(Payment.status == "succeeded")).scalars())
        entries = Counter(s.execute(sa.select(LedgerEntry.order_id).where(LedgerEntry.kind == "payment")).scalars())
        refunds = s.execute(sa.select(sa.func.count()).select_from(Refund)).scalar_one()
        assert succeeded == Counter(ids), f"succeeded payments per order {dict(succeeded)}"
        assert entries == Counter(ids), f"payment ledger entries per order {dict(entries)}"
        assert refunds == 0, f"{refunds} refunds"
        if every_attempt:
            payments = Counter(s.execute(sa.select(Payment.order_id)).scalars())
            assert payments == Counter(ids), f"payments per order {dict(payments)}"
        if settled:
            settlements = Counter(s.execute(sa.select(Settlement.order_id)).scalars())
            assert settlements == Counter(ids), f"settlements per order {dict(settlements)}"


def shipments_per_order(p) -> Counter:
    from logistics.models import Shipment

    with p["logistics"].db.Session() as s:
        return Counter(s.execute(sa.select(Shipment.order_id).where(Shipment.case_id.is_(None))).scalars())


def assert_one_shipment_per_order(p, ids: list[str], dispatched: bool = False, delivered: bool = False) -> None:
    """One shipment per accepted order (none for anything else), created once (`dispatched`: and
    dispatched once; `delivered`: and delivered once, every shipment delivered)."""
    from logistics.models import Shipment

    logistics = p["logistics"].db
    with guarantee("one shipment per order"):
        assert shipments_per_order(p) == Counter(ids)
        once_per_order(logistics, "logistics.ShipmentCreated", ids)
        if dispatched or delivered:
            once_per_order(logistics, "logistics.ShipmentDispatched", ids)
        if delivered:
            once_per_order(logistics, "logistics.ShipmentDelivered", ids)
            with logistics.Session() as s:
                statuses = Counter(s.execute(sa.select(Shipment.status)).scalars())
            assert statuses == {"delivered": len(ids)}, statuses


def assert_nothing_of(p, buyers: list[str]) -> None:
    """A request refused (503 saying nothing was changed) left nothing: no order of these buyers in
    orders, no copy of one in billing."""
    from billing.models import BillingOrder
    from orders.models import Order

    with guarantee("a refused order exists nowhere"):
        with p["orders"].db.Session() as s:
            assert s.execute(sa.select(sa.func.count()).where(Order.buyer_id.in_(buyers))).scalar_one() == 0
        with p["billing"].db.Session() as s:
            assert s.execute(sa.select(sa.func.count()).where(BillingOrder.buyer_id.in_(buyers))).scalar_one() == 0


def assert_outboxes_drained_and_dlqs_empty(p, services: Iterable[str] = scenarios.ALL_SERVICES) -> None:
    """Every event recorded was published (each service's outbox drained) and nothing was given up
    on (every dead-letter queue of the namespace empty)."""
    with guarantee("every outbox drained, nothing dead-lettered"):
        for name in services:
            eventually(
                lambda name=name: scenarios.count(p[name].db, outbox, outbox.c.published_at.is_(None)) == 0,
                timeout=30,
                message=f"{name}'s outbox drained",
            )
        config = p[next(iter(services))].config
        dead = {q: scenarios.queue_state(config, dlq(q))[0] for q in SUBSCRIPTIONS}
        assert dead == {q: 0 for q in SUBSCRIPTIONS}, {q: n for q, n in dead.items() if n}
