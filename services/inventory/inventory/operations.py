"""inventory's use cases, each `verb(ctx, thing, ...)`: every change of stock, done by the database,
atomically, with its ledger row.

Views and handlers call these with a context (ecom_common.usecase) whose unit of work they opened;
nothing here commits. Rules (what may happen) come from domain.py; ledger.py moves one stock row
with its ledger row; this module makes the use cases happen safely under concurrency:

- Every quantity change is ONE conditional UPDATE whose WHERE clause is the stock invariant itself
  (ledger.MOVE_STOCK): if the row would break it nothing moves, whatever the interleaving.
- Reserving an order is all-or-nothing inside a SAVEPOINT: every line is tried (lines sorted by SKU,
  warehouses by code, so that concurrent orders lock rows in one order and cannot deadlock); if any
  line fails, the savepoint is rolled back and no line keeps a unit. (A one-line order needs no
  savepoint: its one conditional UPDATE took the units or changed nothing.)
- The reservation row (one per order, primary key order_id) makes reserving idempotent per order
  and tells release/deduct exactly what to undo; its status changes are conditional updates too.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from ecom_common.db import insert_ignore, is_unique_violation
from ecom_common.errors import RuleViolation
from ecom_common.events import make_event
from ecom_common.usecase import Ctx

from . import domain, ledger, queries, reservations
from .domain import Movement
from .domain import ReservationStatus as RS
from .ledger import Entry, StockKey
from .models import Reservation, ReservationLine, StockItem, StockMovement, StockPolicy, StockPolicyChange
from .settings import Settings

log = logging.getLogger("inventory.operations")

items = StockItem.__table__
movements = StockMovement.__table__
reservation_table = Reservation.__table__


@dataclass
class ReserveOutcome:
    status: str  # a ReservationStatus, or "duplicate" when the order was handled before
    short: list[domain.ShortLine]


@dataclass(frozen=True)
class Dispatch:
    """A parcel that left the warehouse (logistics.ShipmentDispatched); `case_id` for an exchange's
    replacement, which nothing was reserved for."""

    shipment_id: str
    order_id: str
    shop_id: str
    lines: list[dict] | None
    case_id: str | None = None


@dataclass(frozen=True)
class Return:
    """Goods a buyer sent back (aftersales.ReturnReceived)."""

    case_id: str
    order_id: str
    shop_id: str
    lines: list[dict]
    resellable: bool


@dataclass
class Adjusted:
    """What an adjustment did: the stock row and the adjustment's ledger row (read in the
    transaction, before the commit), and the waiting orders it served."""

    stock: StockItem
    movement: StockMovement | None
    served: list[str]


# Reservations ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class PaidOrder:
    """What OrderPaid tells inventory: the lines, when paid, and the receiver's province (only the
    province: the best warehouse is the nearest to it)."""

    order_id: str
    shop_id: str
    lines: list[dict]
    paid_at: datetime
    receiver_province: str | None = None


def reserve_order(ctx: Ctx[Settings], paid: PaidOrder) -> ReserveOutcome:
    """orders.OrderPaid: reserve every line or none, in the best warehouse(s) for the receiver;
    StockReserved or StockShortage{policy}."""
    order_id, shop_id, paid_at = paid.order_id, paid.shop_id, paid.paid_at
    province = domain.normalise_province(paid.receiver_province)
    merged = domain.merge_lines(paid.lines)
    now = ctx.now
    session = ctx.session
    if not insert_ignore(
        session,
        reservation_table,
        dict(
            order_id=order_id,
            shop_id=shop_id,
            status=RS.WAITING,
            paid_at=paid_at,
            receiver_province=province,
            created_at=now,
            updated_at=now,
        ),
    ):
        # Handled before (a second OrderPaid for the order), or cancelled before it was paid
        # here: reserve nothing again.
        log.info("order %s already has a reservation; OrderPaid ignored", order_id)
        return ReserveOutcome("duplicate", [])

    # All or nothing. One line needs no SAVEPOINT: its single conditional UPDATE either took the
    # units or changed nothing. Several lines do: a later short line rolls back the earlier ones.
    attempt = session.begin_nested() if len(merged) > 1 else None
    allocations, short = reservations.reserve_lines(
        ctx, order_id, shop_id=shop_id, lines=merged, receiver_province=province
    )
    if not short:
        if attempt is not None:
            attempt.commit()
        session.execute(reservations.MARK_RESERVED, {"b_order_id": order_id, "b_now": now})
        reservations.log_status(ctx, order_id, RS.RESERVED, "all lines reserved")
        reservations.insert_lines(ctx, order_id, shop_id=shop_id, allocations=allocations)
        reservations.emit_reserved(ctx, order_id, shop_id=shop_id, allocations=allocations)
        return ReserveOutcome(RS.RESERVED, [])

    if attempt is not None:
        attempt.rollback()  # all or nothing: no line keeps a unit
    short = [
        domain.ShortLine(s.sku_code, s.requested, max(ledger.available(ctx, shop_id, s.sku_code), 0)) for s in short
    ]
    policy = ledger.shortage_policy(ctx, shop_id)
    status = domain.status_after_shortage(policy)
    short_dicts = [s.to_dict() for s in short]
    session.execute(
        reservations.MARK_SHORT,
        {"b_order_id": order_id, "b_status": status, "b_policy": policy, "b_short": short_dicts, "b_now": now},
    )
    reservations.log_status(
        ctx, order_id, status, "short: " + ", ".join(f"{s.sku_code} {s.requested}>{s.available}" for s in short)
    )
    reservations.insert_lines(ctx, order_id, shop_id=shop_id, allocations=[(line, None) for line in merged])
    ctx.record(
        make_event(
            "inventory.StockShortage",
            {"order_id": order_id, "shop_id": shop_id, "short": short_dicts, "policy": policy},
        )
    )
    return ReserveOutcome(status, short)


def release_order(ctx: Ctx[Settings], order_id: str, *, shop_id: str, reason: str | None = None) -> str:
    """orders.OrderCancelled: give back what the order reserved, or drop it from the queue.
    Returns what happened: released | dropped | tombstone | noop."""
    session = ctx.session
    for _ in range(2):
        if reservations.set_status(
            ctx, order_id, expected=RS.RESERVED, target=RS.RELEASED, reason=reason or "order cancelled"
        ):
            released = reservations.lines_of(ctx, order_id)
            for line in released:
                item_id = reservations.item_of(ctx, line)
                entry = Entry(Movement.RELEASE, 0, -line.quantity, f"order:{order_id}", reason)
                if item_id is None or ledger.move(ctx, item_id, entry) is None:
                    raise RuleViolation(f"reservation of {order_id} no longer matches stock of {line.sku_code}")
            ctx.record(
                make_event(
                    "inventory.StockReleased",
                    {
                        "order_id": order_id,
                        "shop_id": shop_id,
                        "lines": [{"sku_code": r.sku_code, "quantity": r.quantity} for r in released],
                    },
                )
            )
            # Units just became available: orders waiting for them may now be served.
            reservations.serve_waiting(ctx, shop_id, sorted({r.sku_code for r in released}))
            return "released"
        if reservations.set_status(
            ctx, order_id, expected=RS.WAITING, target=RS.RELEASED, reason=reason or "order cancelled while waiting"
        ):
            return "dropped"
        exists = session.execute(
            sa.select(reservation_table.c.status).where(reservation_table.c.order_id == order_id)
        ).scalar_one_or_none()
        if exists is not None:
            return "noop"  # already released, deducted, short or cancelled: nothing to undo
        # Cancelled before its OrderPaid reached us (events can overtake each other across
        # consumers): leave a tombstone so that a late OrderPaid reserves nothing.
        now = ctx.now
        try:
            with session.begin_nested():
                session.execute(
                    reservation_table.insert().values(
                        order_id=order_id, shop_id=shop_id, status=RS.CANCELLED, created_at=now, updated_at=now
                    )
                )
                reservations.log_status(ctx, order_id, RS.CANCELLED, reason or "cancelled before payment was seen")
            return "tombstone"
        except sa.exc.IntegrityError as exc:
            if not is_unique_violation(exc):
                raise
            # A concurrent OrderPaid created the reservation meanwhile: undo that one instead.
    return "noop"


# Shipments -------------------------------------------------------------------------------------
def deduct_shipment(ctx: Ctx[Settings], dispatch: Dispatch) -> str:
    """logistics.ShipmentDispatched: deduct the order's reservation; an exchange's replacement
    (case_id), or a parcel dispatched for an order cancelled meanwhile, comes off on-hand directly."""
    if dispatch.case_id:
        return ship_replacement(ctx, dispatch)
    return deduct_order(ctx, dispatch)


def deduct_order(ctx: Ctx[Settings], dispatch: Dispatch) -> str:
    """The reserved units of the order leave the warehouse."""
    order_id, shipment_id = dispatch.order_id, dispatch.shipment_id
    if not reservations.set_status(
        ctx, order_id, expected=RS.RESERVED, target=RS.DEDUCTED, reason=f"shipment {shipment_id} dispatched"
    ):
        # Locked: a second dispatch event for the same parcel waits here and then sees our work.
        status = ctx.session.execute(
            sa.select(reservation_table.c.status).where(reservation_table.c.order_id == order_id).with_for_update()
        ).scalar_one_or_none()
        if status == RS.DEDUCTED:
            return "noop"
        if status in (RS.RELEASED, RS.CANCELLED) and dispatch.lines:
            # The warehouse dispatched while the buyer cancelled (the cancel reached us first,
            # or overtook the OrderPaid): the reservation is gone but the parcel has left.
            return _deduct_after_cancel(ctx, dispatch, status)
        # Nothing reserved to ship from: an upstream mistake. Raising sends the event through
        # the retries to the DLQ, where it is visible and can be replayed once fixed.
        raise RuleViolation(f"order {order_id} has no reservation to deduct (status {status})")
    deducted = reservations.lines_of(ctx, order_id)
    for line in deducted:
        item_id = reservations.item_of(ctx, line)
        entry = Entry(
            Movement.DEDUCT, -line.quantity, -line.quantity, f"order:{order_id}", reference=f"shipment:{shipment_id}"
        )
        if item_id is None or ledger.move(ctx, item_id, entry) is None:
            raise RuleViolation(f"reservation of {order_id} no longer matches stock of {line.sku_code}")
    ctx.record(
        make_event(
            "inventory.StockDeducted",
            {
                "order_id": order_id,
                "shop_id": dispatch.shop_id,
                "lines": [{"sku_code": r.sku_code, "quantity": r.quantity} for r in deducted],
            },
        )
    )
    return "deducted"


def _shipped_already(ctx: Ctx[Settings], shop_id: str, reference: str, cause: str) -> bool:
    """Whether a shipment's lines were taken off on hand before (once per shipment)."""
    return bool(
        ctx.session.execute(
            sa.select(sa.func.count())
            .select_from(movements)
            .where(
                movements.c.shop_id == shop_id,
                movements.c.reference == reference,
                movements.c.cause == cause,
                movements.c.kind == Movement.DEDUCT,
            )
        ).scalar_one()
    )


def _deduct_after_cancel(ctx: Ctx[Settings], dispatch: Dispatch, status: str) -> str:
    """A parcel dispatched for an order whose reservation was released (or never made: tombstone).
    Its lines come straight off on hand (from the warehouse they were reserved in, when known),
    once per shipment; nothing reserved is touched. If a line cannot come off (on hand is now
    promised to others), the event fails loudly: retries, then the DLQ, for a human to count."""
    order_id, shop_id, shipment_id = dispatch.order_id, dispatch.shop_id, dispatch.shipment_id
    reference = f"shipment:{shipment_id}"
    cause = f"order:{order_id}"
    if _shipped_already(ctx, shop_id, reference, cause):
        return "noop"
    reserved_in = {r.sku_code: r.warehouse_code for r in reservations.lines_of(ctx, order_id) if r.warehouse_code}
    lines = domain.merge_lines(dispatch.lines or [])
    for line in lines:
        candidates = sorted(
            ledger.warehouses_of(ctx, shop_id, line.sku_code),
            key=lambda w, sku=line.sku_code: (w[1] != reserved_in.get(sku), w[1]),
        )
        entry = Entry(
            Movement.DEDUCT, -line.quantity, 0, cause, f"dispatched after the order was cancelled ({status})", reference
        )
        if not any(ledger.move(ctx, item_id, entry) is not None for item_id, _ in candidates):
            raise RuleViolation(
                f"shipment {shipment_id} of cancelled order {order_id}: "
                f"{line.quantity} x {line.sku_code} not on hand to deduct"
            )
    reservations.log_status(
        ctx, order_id, status, f"shipment {shipment_id} dispatched after the cancellation; its lines taken off on hand"
    )
    ctx.record(
        make_event(
            "inventory.StockDeducted",
            {"order_id": order_id, "shop_id": shop_id, "lines": [line.to_dict() for line in lines]},
        )
    )
    return "deducted_after_cancel"


def ship_replacement(ctx: Ctx[Settings], dispatch: Dispatch) -> str:
    """An exchange's replacement shipment (case_id set): nothing was reserved for it, so the units
    come straight off available stock, with cause case:<id>."""
    reference = f"shipment:{dispatch.shipment_id}"
    cause = f"case:{dispatch.case_id}"
    already = ctx.session.execute(
        sa.select(sa.func.count())
        .select_from(movements)
        .where(movements.c.shop_id == dispatch.shop_id, movements.c.reference == reference, movements.c.cause == cause)
    ).scalar_one()
    if already:
        return "noop"
    for line in domain.merge_lines(dispatch.lines):  # a replacement lists its lines (else: an error, DLQ)
        entry = Entry(
            Movement.DEDUCT, -line.quantity, 0, cause, f"exchange replacement for order {dispatch.order_id}", reference
        )
        if not any(
            ledger.move(ctx, item_id, entry) is not None
            for item_id, _ in ledger.warehouses_of(ctx, dispatch.shop_id, line.sku_code)
        ):
            raise RuleViolation(
                f"replacement of case {dispatch.case_id}: {line.quantity} x {line.sku_code} not available to deduct"
            )
    return "deducted"


# Goods in, adjustments, returns ----------------------------------------------------------------
def receive(ctx: Ctx[Settings], key: StockKey, entry: Entry) -> tuple[ledger.Moved | None, list[str]]:
    """Goods come in (inbound receipt, resellable return; `entry` a Movement.IN of the units
    received): on_hand += quantity, then waiting orders are served in order of payment time.
    Returns the movement and the waiting orders served."""
    item_id = ledger.ensure_item(ctx, key, cause=entry.cause)
    moved = ledger.move(ctx, item_id, entry)
    return moved, reservations.serve_waiting(ctx, key.shop_id, [key.sku_code])


def adjust(ctx: Ctx[Settings], key: StockKey, adjustment: domain.Adjustment) -> Adjusted:
    """A warehouse adjustment. UnknownSkuError / RuleViolation."""
    cause = f"adjustment:{adjustment.kind}"
    if adjustment.kind == domain.AdjustmentKind.INBOUND:
        entry = Entry(Movement.IN, adjustment.quantity, 0, cause, adjustment.reason, adjustment.reference)
        moved, served = receive(ctx, key, entry)
    else:
        item_id = ledger.item_id(ctx, key)
        if item_id is None:
            raise domain.UnknownSkuError(key.sku_code)
        # Lock the row first (a no-op update), so that the count we compute the delta from cannot
        # change before we apply it.
        locked = ctx.session.execute(
            items.update()
            .where(items.c.id == item_id)
            .values(updated_at=ctx.now)
            .returning(items.c.on_hand, items.c.reserved)
        ).one()
        delta = domain.adjustment_delta(
            adjustment.kind, locked.on_hand, locked.reserved, adjustment.quantity, adjustment.counted
        )
        movement = domain.AdjustmentKind.MOVEMENT[adjustment.kind]
        moved = ledger.move(ctx, item_id, Entry(movement, delta, 0, cause, adjustment.reason, adjustment.reference))
        if moved is None:  # cannot happen under the lock; the database guard holds regardless
            raise RuleViolation("the adjustment would leave less on hand than is reserved")
        served = reservations.serve_waiting(ctx, key.shop_id, [key.sku_code]) if delta > 0 else []
    # The answer is read in the transaction, before the commit (the stock row is locked by now):
    # nothing is read after it, so a database lost right after the commit cannot turn a
    # receipt that was booked into a 503.
    session = ctx.session
    stock = session.execute(
        sa.select(StockItem)
        .where(
            StockItem.shop_id == key.shop_id,
            StockItem.sku_code == key.sku_code,
            StockItem.warehouse_code == key.warehouse_code,
        )
        .execution_options(populate_existing=True)
    ).scalar_one()
    movement_row = session.get(StockMovement, moved.movement_id, populate_existing=True) if moved is not None else None
    return Adjusted(stock, movement_row, served)


def take_return(ctx: Ctx[Settings], returned: Return) -> None:
    """aftersales.ReturnReceived: resellable returns go back on hand (to the warehouse they were
    shipped from when known); unsellable ones change nothing but leave a note in the ledger."""
    cause = f"case:{returned.case_id}"
    reference = f"return:{returned.case_id}"
    for line in domain.merge_lines(returned.lines):
        shipped_from = ctx.session.execute(
            sa.select(ReservationLine.warehouse_code).where(
                ReservationLine.order_id == returned.order_id, ReservationLine.sku_code == line.sku_code
            )
        ).scalar_one_or_none()
        warehouses = ledger.warehouses_of(ctx, returned.shop_id, line.sku_code)
        warehouse = shipped_from or (warehouses[0][1] if warehouses else domain.DEFAULT_WAREHOUSE)
        key = StockKey(returned.shop_id, line.sku_code, warehouse)
        if returned.resellable:
            reason = f"resellable return of order {returned.order_id}"
            receive(ctx, key, Entry(Movement.IN, line.quantity, 0, cause, reason, reference))
        else:
            reason = f"return of {line.quantity} not resellable (order {returned.order_id})"
            ledger.note(ctx, key, cause=cause, reason=reason, reference=reference)


# Catalog's SKUs --------------------------------------------------------------------------------
def list_skus(ctx: Ctx[Settings], skus: list[domain.NewSku], *, product_id: str, said_at: datetime) -> None:
    """catalog.ProductListed: a listed product's SKUs get a stock item (0 on hand) in the default
    warehouse; known SKUs keep their stock and take the new threshold, unless a newer catalog event
    already set one (`said_at`: when catalog said so)."""
    for sku in skus:
        known = ctx.session.execute(
            sa.update(StockItem)
            .where(StockItem.shop_id == sku.shop_id, StockItem.sku_code == sku.sku_code)
            .values(sellable=True, updated_at=ctx.now)
        ).rowcount
        if known:
            _take_threshold(ctx, sku, said_at)
            continue
        _new_item(ctx, sku, product_id=product_id, said_at=said_at)


def take_thresholds(ctx: Ctx[Settings], skus: list[domain.NewSku], *, product_id: str, said_at: datetime) -> None:
    """catalog.PriceChanged: prices are catalog's business; a threshold carried along is ours. Only a
    product that was listed has its prices changed, so a SKU we do not know yet (its ProductListed is
    still on the way) gets its stock item now, exactly as the listing would have made it."""
    for sku in skus:
        if not _take_threshold(ctx, sku, said_at):
            _new_item(ctx, sku, product_id=product_id, said_at=said_at)


def _new_item(ctx: Ctx[Settings], sku: domain.NewSku, *, product_id: str, said_at: datetime) -> None:
    ledger.ensure_item(
        ctx,
        StockKey(sku.shop_id, sku.sku_code, domain.DEFAULT_WAREHOUSE),
        cause=f"product:{product_id}",
        threshold=sku.low_stock_threshold,
        threshold_as_of=said_at,
    )


def _take_threshold(ctx: Ctx[Settings], sku: domain.NewSku, said_at: datetime) -> bool:
    """Take catalog's threshold only if it is newer than the one we have (events may arrive out of
    order): one conditional UPDATE on threshold_as_of. False when the shop has no stock item for the SKU."""
    session = ctx.session
    updated = session.execute(
        sa.update(StockItem)
        .where(
            StockItem.shop_id == sku.shop_id,
            StockItem.sku_code == sku.sku_code,
            sa.or_(StockItem.threshold_as_of.is_(None), StockItem.threshold_as_of <= said_at),
        )
        .values(low_stock_threshold=sku.low_stock_threshold, threshold_as_of=said_at, updated_at=ctx.now)
    ).rowcount
    if updated:
        ledger.recheck_low_stock(ctx, sku.shop_id, sku.sku_code)
        return True
    return (
        session.execute(
            sa.select(sa.func.count()).where(StockItem.shop_id == sku.shop_id, StockItem.sku_code == sku.sku_code)
        ).scalar_one()
        > 0
    )


# Shortage policy -------------------------------------------------------------------------------
def set_policy(ctx: Ctx[Settings], shop_id: str, policy: str) -> dict:
    """Set a shop's shortage policy (audited when it changes); applies to orders paid from now on."""
    session = ctx.session
    by = ctx.actor.id[:120]
    old = session.execute(
        sa.select(StockPolicy.shortage_policy).where(StockPolicy.shop_id == shop_id).with_for_update()
    ).scalar_one_or_none()
    values = dict(shortage_policy=policy, updated_by=by, updated_at=ctx.now)
    if old is None:
        try:
            with session.begin_nested():
                session.execute(sa.insert(StockPolicy).values(shop_id=shop_id, **values))
        except sa.exc.IntegrityError as exc:
            if not is_unique_violation(exc):
                raise
            session.execute(sa.update(StockPolicy).where(StockPolicy.shop_id == shop_id).values(**values))
    else:
        session.execute(sa.update(StockPolicy).where(StockPolicy.shop_id == shop_id).values(**values))
    if old != policy:
        session.add(
            StockPolicyChange(shop_id=shop_id, old_policy=old, new_policy=policy, changed_by=by, changed_at=ctx.now)
        )
    session.flush()
    return queries.policy_of(ctx, shop_id)
