"""The stock book: every change of stock, done by the database, atomically, with its ledger row.

Handlers and API views call this with their unit of work; it never commits. Rules (what may happen)
come from domain.py; this module makes them happen safely under concurrency:

- Every quantity change is ONE conditional UPDATE whose WHERE clause is the stock invariant itself
  (on_hand >= 0, reserved >= 0, reserved <= on_hand after the change). If the row would break it the
  update matches nothing (rowcount 0) and nothing moves: two buyers can never both take the last
  unit, whatever the interleaving. Nothing is read into Python and written back.
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

from ecom_common.db import UnitOfWork, insert_ignore, is_unique_violation
from ecom_common.errors import RuleViolation
from ecom_common.events import make_event

from . import domain
from .domain import Movement
from .domain import ReservationStatus as RS
from .models import Reservation, ReservationLine, ReservationLog, StockItem, StockMovement, StockPolicy

log = logging.getLogger("inventory.operations")

items = StockItem.__table__
movements = StockMovement.__table__
reservations = Reservation.__table__
reservation_lines = ReservationLine.__table__
reservation_log = ReservationLog.__table__

# The statements of the reservation path, built once. Building a SQLAlchemy statement costs more
# client CPU than executing it (about 0.4 ms for the stock UPDATE against 0.07 ms to run it once
# built, whose compiled form and cache key are then reused): a flash sale runs these for every
# order. Values travel as bound parameters, exactly as when the statement is built per call.
# docs/perf-log.md, "Statements built once".
_item, _shop, _sku = sa.bindparam("b_item_id"), sa.bindparam("b_shop_id"), sa.bindparam("b_sku_code")
_dh, _dr = sa.bindparam("b_dh", type_=sa.Integer), sa.bindparam("b_dr", type_=sa.Integer)
_now = sa.bindparam("b_now", type_=items.c.updated_at.type)
_order = sa.bindparam("b_order_id")
STOCK_ROW = (
    items.c.id,
    items.c.shop_id,
    items.c.sku_code,
    items.c.warehouse_code,
    items.c.on_hand,
    items.c.reserved,
    items.c.low_stock_threshold,
    items.c.low_alerted,
)
# The stock invariant is the WHERE clause: a change that would break it matches nothing.
MOVE_STOCK = (
    items.update()
    .where(
        items.c.id == _item,
        items.c.on_hand + _dh >= 0,
        items.c.reserved + _dr >= 0,
        items.c.reserved + _dr <= items.c.on_hand + _dh,
    )
    .values(on_hand=items.c.on_hand + _dh, reserved=items.c.reserved + _dr, updated_at=_now)
    .returning(*STOCK_ROW)
)
AVAILABLE = sa.select(sa.func.coalesce(sa.func.sum(items.c.on_hand - items.c.reserved), 0)).where(
    items.c.shop_id == _shop, items.c.sku_code == _sku, items.c.sellable.is_(True)
)
WAREHOUSES = (
    sa.select(items.c.id, items.c.warehouse_code)
    .where(items.c.shop_id == _shop, items.c.sku_code == _sku)
    .order_by(items.c.warehouse_code)
)
WRITE_LEDGER = movements.insert().returning(movements.c.id)  # the row's values as parameters
WRITE_LOG = reservation_log.insert()
WRITE_LINES = reservation_lines.insert()
MARK_RESERVED = (
    reservations.update().where(reservations.c.order_id == _order).values(status=RS.RESERVED, updated_at=_now)
)
MARK_SHORT = (
    reservations.update()
    .where(reservations.c.order_id == _order)
    .values(
        status=sa.bindparam("b_status"),
        policy=sa.bindparam("b_policy"),
        short=sa.bindparam("b_short", type_=reservations.c.short.type),
        updated_at=_now,
    )
)


class UnknownSku(LookupError):
    """The shop has no stock item for this SKU (not listed yet, or another shop's)."""


@dataclass
class ReserveOutcome:
    status: str  # a ReservationStatus, or "duplicate" when the order was handled before
    short: list[domain.ShortLine]


class StockBook:
    def __init__(self, uow: UnitOfWork, actor: str):
        self.uow = uow
        self.session = uow.session
        self.config = uow.db.config
        self.actor = actor
        self.last_movement_id: int | None = None
        self.served: list[str] = []  # waiting orders reserved by this unit of work, in order

    # Basics --------------------------------------------------------------------------------------
    @property
    def now(self) -> datetime:
        return self.config.clock.now()

    def _read_once(self) -> dict:
        """Readings kept for the rest of this transaction. A consumer handles a backlog several events
        per transaction (ecom_common.consumer, "Batches"): in a flash sale that is many orders of the
        same SKU, which need the SKU's stock items and the shop's shortage policy read only once.
        Quantities are never kept: every change is still a conditional UPDATE of the row."""
        transaction = self.session.get_transaction()
        kept = self.session.info.get("inventory.read_once")
        if kept is None or kept[0] is not transaction:
            kept = (transaction, {})
            self.session.info["inventory.read_once"] = kept
        return kept[1]

    def warehouses_of(self, shop_id: str, sku_code: str) -> list[tuple[int, str]]:
        """(item id, warehouse code) of a SKU's stock items, in warehouse-code order (the lock order).
        Read once per transaction (`ensure_item`, the one place that creates items, forgets it)."""
        kept = self._read_once()
        key = ("warehouses", shop_id, sku_code)
        if key not in kept:
            rows = self.session.execute(WAREHOUSES, {"b_shop_id": shop_id, "b_sku_code": sku_code}).all()
            kept[key] = [(r.id, r.warehouse_code) for r in rows]
        return list(kept[key])

    def available(self, shop_id: str, sku_code: str) -> int:
        """Available units over all warehouses (a reading for reports and shortage messages only)."""
        return int(self.session.execute(AVAILABLE, {"b_shop_id": shop_id, "b_sku_code": sku_code}).scalar_one())

    def ensure_item(
        self,
        shop_id: str,
        sku_code: str,
        warehouse_code: str,
        cause: str,
        threshold: int | None = None,
        threshold_as_of: datetime | None = None,
    ) -> int:
        """The id of the stock item, created with 0 on hand when missing (a SKU the shop already has
        stock items for, received into a new warehouse)."""
        found = self.session.execute(
            sa.select(items.c.id).where(
                items.c.shop_id == shop_id, items.c.sku_code == sku_code, items.c.warehouse_code == warehouse_code
            )
        ).scalar_one_or_none()
        if found is not None:
            return found
        if threshold is None:
            threshold = self.session.execute(
                sa.select(sa.func.max(items.c.low_stock_threshold)).where(
                    items.c.shop_id == shop_id, items.c.sku_code == sku_code
                )
            ).scalar_one_or_none()
            if threshold is None:
                raise UnknownSku(sku_code)
        now = self.now
        self._read_once().pop(("warehouses", shop_id, sku_code), None)
        try:
            with self.session.begin_nested():
                item_id = self.session.execute(
                    items.insert()
                    .values(
                        shop_id=shop_id,
                        sku_code=sku_code,
                        warehouse_code=warehouse_code,
                        on_hand=0,
                        reserved=0,
                        low_stock_threshold=threshold,
                        threshold_as_of=threshold_as_of,
                        sellable=True,
                        # Born empty: no alert until it has been stocked above the threshold once.
                        low_alerted=True,
                        created_at=now,
                        updated_at=now,
                    )
                    .returning(items.c.id)
                ).scalar_one()
                self._ledger(shop_id, sku_code, warehouse_code, Movement.CREATE, 0, 0, cause)
                return item_id
        except sa.exc.IntegrityError as exc:
            if not is_unique_violation(exc):
                raise
        # Created by a concurrent transaction meanwhile.
        return self.session.execute(
            sa.select(items.c.id).where(
                items.c.shop_id == shop_id, items.c.sku_code == sku_code, items.c.warehouse_code == warehouse_code
            )
        ).scalar_one()

    def _ledger(
        self, shop_id, sku_code, warehouse_code, kind, on_hand_delta, reserved_delta, cause, reason=None, reference=None
    ) -> int:
        self.last_movement_id = self.session.execute(
            WRITE_LEDGER,
            dict(
                shop_id=shop_id,
                sku_code=sku_code,
                warehouse_code=warehouse_code,
                kind=kind,
                on_hand_delta=on_hand_delta,
                reserved_delta=reserved_delta,
                cause=cause[:200],
                actor=self.actor[:120],
                reason=(reason or None) and reason[:500],
                reference=reference and reference[:200],
                created_at=self.now,
            ),
        ).scalar_one()
        return self.last_movement_id

    def note(
        self, shop_id: str, sku_code: str, warehouse_code: str, cause: str, reason: str, reference: str | None = None
    ) -> None:
        """A ledger row that moves nothing (e.g. a return that cannot be resold)."""
        self._ledger(shop_id, sku_code, warehouse_code, Movement.NOTE, 0, 0, cause, reason, reference)

    def move(
        self,
        item_id: int,
        kind: str,
        on_hand_delta: int,
        reserved_delta: int,
        cause: str,
        reason: str | None = None,
        reference: str | None = None,
    ):
        """Apply one movement to one stock row if, and only if, the row stays valid; write its ledger
        row and check the low-stock alert. Returns the row after the change, or None when the
        condition failed (nothing changed)."""
        dh, dr = int(on_hand_delta), int(reserved_delta)
        row = self.session.execute(
            MOVE_STOCK, {"b_item_id": item_id, "b_dh": dh, "b_dr": dr, "b_now": self.now}
        ).first()
        if row is None:
            return None
        self._ledger(row.shop_id, row.sku_code, row.warehouse_code, kind, dh, dr, cause, reason, reference)
        self._check_low_stock(row)
        return row

    def _check_low_stock(self, row) -> None:
        # The row is locked by the update that just changed it (until this transaction ends), so
        # reading its flag and writing it back cannot race with another movement of the same row.
        available = row.on_hand - row.reserved
        signal = domain.low_stock_signal(bool(row.low_alerted), available, row.low_stock_threshold)
        if signal is None:
            return
        alerted = signal == domain.LowStockSignal.ALERT
        self.session.execute(items.update().where(items.c.id == row.id).values(low_alerted=alerted))
        if alerted:
            self.uow.record(
                make_event(
                    "inventory.LowStock",
                    {
                        "sku_code": row.sku_code,
                        "shop_id": row.shop_id,
                        "available": available,
                        "threshold": row.low_stock_threshold,
                        "warehouse_code": row.warehouse_code,
                    },
                )
            )

    def recheck_low_stock(self, shop_id: str, sku_code: str) -> None:
        """After a threshold change: alert or re-arm by the new threshold."""
        for item_id, _ in self.warehouses_of(shop_id, sku_code):
            row = self.session.execute(
                items.update()
                .where(items.c.id == item_id)
                .values(updated_at=self.now)
                .returning(
                    items.c.id,
                    items.c.shop_id,
                    items.c.sku_code,
                    items.c.warehouse_code,
                    items.c.on_hand,
                    items.c.reserved,
                    items.c.low_stock_threshold,
                    items.c.low_alerted,
                )
            ).first()
            self._check_low_stock(row)

    # Policies ------------------------------------------------------------------------------------
    def shortage_policy(self, shop_id: str) -> str:
        """The shop's policy, read once per transaction: a change made meanwhile applies from the
        consumer's next transaction (a batch is a fraction of a second)."""
        kept = self._read_once()
        key = ("policy", shop_id)
        if key not in kept:
            kept[key] = self.session.execute(
                sa.select(StockPolicy.shortage_policy).where(StockPolicy.shop_id == shop_id)
            ).scalar_one_or_none()
        return kept[key] or default_policy(self.config)

    # Reservations --------------------------------------------------------------------------------
    def _log(self, order_id: str, status: str, reason: str | None = None) -> None:
        self.session.execute(
            WRITE_LOG,
            dict(order_id=order_id, status=status, at=self.now, by=self.actor[:120], reason=reason and reason[:500]),
        )

    def _set_status(
        self, order_id: str, expected: str, target: str, reason: str | None = None, short: list | None = None
    ) -> bool:
        """Move a reservation from `expected` to `target` if it is still `expected` (conditional)."""
        domain.check_transition(expected, target, f"mark {target}")
        values = dict(status=target, updated_at=self.now)
        if short is not None:
            values["short"] = short
        done = (
            self.session.execute(
                reservations.update()
                .where(reservations.c.order_id == order_id, reservations.c.status == expected)
                .values(**values)
            ).rowcount
            == 1
        )
        if done:
            self._log(order_id, target, reason)
        return done

    def _reserve_lines(self, order_id: str, shop_id: str, lines: list[domain.Line]):
        """Try to reserve every line; returns (allocations, short lines). Does not roll back: the
        caller's savepoint does when anything is short."""
        allocations: list[tuple[domain.Line, str]] = []
        short: list[domain.ShortLine] = []
        cause = f"order:{order_id}"
        for line in lines:  # sorted by SKU: one lock order for everyone
            placed = None
            for item_id, warehouse in self.warehouses_of(shop_id, line.sku_code):
                if self.move(item_id, Movement.RESERVE, 0, line.quantity, cause) is not None:
                    placed = warehouse
                    break
            if placed is None:
                short.append(domain.ShortLine(line.sku_code, line.quantity, 0))
            else:
                allocations.append((line, placed))
        return allocations, short

    def _short_with_availability(self, shop_id: str, short: list[domain.ShortLine]) -> list[domain.ShortLine]:
        return [domain.ShortLine(s.sku_code, s.requested, max(self.available(shop_id, s.sku_code), 0)) for s in short]

    def reserve_order(self, order_id: str, shop_id: str, raw_lines: list[dict], paid_at: datetime) -> ReserveOutcome:
        """orders.OrderPaid: reserve every line or none; StockReserved or StockShortage{policy}."""
        lines = domain.merge_lines(raw_lines)
        now = self.now
        if not insert_ignore(
            self.session,
            reservations,
            dict(
                order_id=order_id, shop_id=shop_id, status=RS.WAITING, paid_at=paid_at, created_at=now, updated_at=now
            ),
        ):
            # Handled before (a second OrderPaid for the order), or cancelled before it was paid
            # here: reserve nothing again.
            log.info("order %s already has a reservation; OrderPaid ignored", order_id)
            return ReserveOutcome("duplicate", [])

        # All or nothing. One line needs no SAVEPOINT: its single conditional UPDATE either took the
        # units or changed nothing. Several lines do: a later short line rolls back the earlier ones.
        attempt = self.session.begin_nested() if len(lines) > 1 else None
        allocations, short = self._reserve_lines(order_id, shop_id, lines)
        if not short:
            if attempt is not None:
                attempt.commit()
            self.session.execute(MARK_RESERVED, {"b_order_id": order_id, "b_now": now})
            self._log(order_id, RS.RESERVED, "all lines reserved")
            self._insert_lines(order_id, shop_id, allocations)
            self._emit_reserved(order_id, shop_id, lines)
            return ReserveOutcome(RS.RESERVED, [])

        if attempt is not None:
            attempt.rollback()  # all or nothing: no line keeps a unit
        short = self._short_with_availability(shop_id, short)
        policy = self.shortage_policy(shop_id)
        status = domain.status_after_shortage(policy)
        short_dicts = [s.to_dict() for s in short]
        self.session.execute(
            MARK_SHORT,
            {"b_order_id": order_id, "b_status": status, "b_policy": policy, "b_short": short_dicts, "b_now": now},
        )
        self._log(order_id, status, "short: " + ", ".join(f"{s.sku_code} {s.requested}>{s.available}" for s in short))
        self._insert_lines(order_id, shop_id, [(line, None) for line in lines])
        self.uow.record(
            make_event(
                "inventory.StockShortage",
                {
                    "order_id": order_id,
                    "shop_id": shop_id,
                    "short": short_dicts,
                    "policy": policy,
                },
            )
        )
        return ReserveOutcome(status, short)

    def _insert_lines(self, order_id: str, shop_id: str, allocations) -> None:
        rows = [
            dict(
                order_id=order_id,
                shop_id=shop_id,
                sku_code=line.sku_code,
                quantity=line.quantity,
                warehouse_code=warehouse,
            )
            for line, warehouse in allocations
        ]
        if rows:
            # One line (the usual order) as a plain execute: an executemany of one row costs more.
            self.session.execute(WRITE_LINES, rows if len(rows) > 1 else rows[0])

    def _emit_reserved(self, order_id: str, shop_id: str, lines: list[domain.Line]) -> None:
        self.uow.record(
            make_event(
                "inventory.StockReserved",
                {
                    "order_id": order_id,
                    "shop_id": shop_id,
                    "lines": [{"sku_code": l.sku_code, "quantity": l.quantity} for l in lines],
                },
            )
        )

    def lines_of(self, order_id: str):
        return self.session.execute(
            sa.select(reservation_lines)
            .where(reservation_lines.c.order_id == order_id)
            .order_by(reservation_lines.c.sku_code)
        ).all()

    def release_order(self, order_id: str, shop_id: str, reason: str | None = None) -> str:
        """orders.OrderCancelled: give back what the order reserved, or drop it from the queue.
        Returns what happened: released | dropped | tombstone | noop."""
        for _ in range(2):
            if self._set_status(order_id, RS.RESERVED, RS.RELEASED, reason or "order cancelled"):
                released = self.lines_of(order_id)
                for line in released:
                    item_id = self._item_id(line.shop_id, line.sku_code, line.warehouse_code)
                    if (
                        item_id is None
                        or self.move(item_id, Movement.RELEASE, 0, -line.quantity, f"order:{order_id}", reason) is None
                    ):
                        raise RuleViolation(f"reservation of {order_id} no longer matches stock of {line.sku_code}")
                self.uow.record(
                    make_event(
                        "inventory.StockReleased",
                        {
                            "order_id": order_id,
                            "shop_id": shop_id,
                            "lines": [{"sku_code": l.sku_code, "quantity": l.quantity} for l in released],
                        },
                    )
                )
                # Units just became available: orders waiting for them may now be served.
                self.serve_waiting(shop_id, sorted({l.sku_code for l in released}))
                return "released"
            if self._set_status(order_id, RS.WAITING, RS.RELEASED, reason or "order cancelled while waiting"):
                return "dropped"
            exists = self.session.execute(
                sa.select(reservations.c.status).where(reservations.c.order_id == order_id)
            ).scalar_one_or_none()
            if exists is not None:
                return "noop"  # already released, deducted, short or cancelled: nothing to undo
            # Cancelled before its OrderPaid reached us (events can overtake each other across
            # consumers): leave a tombstone so that a late OrderPaid reserves nothing.
            now = self.now
            try:
                with self.session.begin_nested():
                    self.session.execute(
                        reservations.insert().values(
                            order_id=order_id, shop_id=shop_id, status=RS.CANCELLED, created_at=now, updated_at=now
                        )
                    )
                    self._log(order_id, RS.CANCELLED, reason or "cancelled before payment was seen")
                return "tombstone"
            except sa.exc.IntegrityError as exc:
                if not is_unique_violation(exc):
                    raise
                # A concurrent OrderPaid created the reservation meanwhile: undo that one instead.
        return "noop"

    def _item_id(self, shop_id: str, sku_code: str, warehouse_code: str | None) -> int | None:
        if warehouse_code is None:
            return None
        return self.session.execute(
            sa.select(items.c.id).where(
                items.c.shop_id == shop_id, items.c.sku_code == sku_code, items.c.warehouse_code == warehouse_code
            )
        ).scalar_one_or_none()

    def deduct_order(self, order_id: str, shop_id: str, shipment_id: str, lines: list[dict] | None = None) -> str:
        """logistics.ShipmentDispatched: the reserved units leave the warehouse."""
        if not self._set_status(order_id, RS.RESERVED, RS.DEDUCTED, f"shipment {shipment_id} dispatched"):
            # Locked: a second dispatch event for the same parcel waits here and then sees our work.
            status = self.session.execute(
                sa.select(reservations.c.status).where(reservations.c.order_id == order_id).with_for_update()
            ).scalar_one_or_none()
            if status == RS.DEDUCTED:
                return "noop"
            if status in (RS.RELEASED, RS.CANCELLED) and lines:
                # The warehouse dispatched while the buyer cancelled (the cancel reached us first,
                # or overtook the OrderPaid): the reservation is gone but the parcel has left.
                return self._deduct_after_cancel(order_id, shop_id, shipment_id, status, lines)
            # Nothing reserved to ship from: an upstream mistake. Raising sends the event through
            # the retries to the DLQ, where it is visible and can be replayed once fixed.
            raise RuleViolation(f"order {order_id} has no reservation to deduct (status {status})")
        deducted = self.lines_of(order_id)
        for line in deducted:
            item_id = self._item_id(line.shop_id, line.sku_code, line.warehouse_code)
            if (
                item_id is None
                or self.move(
                    item_id,
                    Movement.DEDUCT,
                    -line.quantity,
                    -line.quantity,
                    f"order:{order_id}",
                    reference=f"shipment:{shipment_id}",
                )
                is None
            ):
                raise RuleViolation(f"reservation of {order_id} no longer matches stock of {line.sku_code}")
        self.uow.record(
            make_event(
                "inventory.StockDeducted",
                {
                    "order_id": order_id,
                    "shop_id": shop_id,
                    "lines": [{"sku_code": l.sku_code, "quantity": l.quantity} for l in deducted],
                },
            )
        )
        return "deducted"

    def _deduct_after_cancel(
        self, order_id: str, shop_id: str, shipment_id: str, status: str, raw_lines: list[dict]
    ) -> str:
        """A parcel dispatched for an order whose reservation was released (or never made: tombstone).
        Its lines come straight off on hand (from the warehouse they were reserved in, when known),
        once per shipment; nothing reserved is touched. If a line cannot come off (on hand is now
        promised to others), the event fails loudly: retries, then the DLQ, for a human to count."""
        reference = f"shipment:{shipment_id}"
        cause = f"order:{order_id}"
        already = self.session.execute(
            sa.select(sa.func.count())
            .select_from(movements)
            .where(
                movements.c.shop_id == shop_id,
                movements.c.reference == reference,
                movements.c.cause == cause,
                movements.c.kind == Movement.DEDUCT,
            )
        ).scalar_one()
        if already:
            return "noop"
        reserved_in = {r.sku_code: r.warehouse_code for r in self.lines_of(order_id) if r.warehouse_code}
        lines = domain.merge_lines(raw_lines)
        for line in lines:
            candidates = sorted(
                self.warehouses_of(shop_id, line.sku_code), key=lambda w: (w[1] != reserved_in.get(line.sku_code), w[1])
            )
            if not any(
                self.move(
                    item_id,
                    Movement.DEDUCT,
                    -line.quantity,
                    0,
                    cause,
                    f"dispatched after the order was cancelled ({status})",
                    reference,
                )
                is not None
                for item_id, _ in candidates
            ):
                raise RuleViolation(
                    f"shipment {shipment_id} of cancelled order {order_id}: "
                    f"{line.quantity} x {line.sku_code} not on hand to deduct"
                )
        self._log(
            order_id, status, f"shipment {shipment_id} dispatched after the cancellation; its lines taken off on hand"
        )
        self.uow.record(
            make_event(
                "inventory.StockDeducted",
                {
                    "order_id": order_id,
                    "shop_id": shop_id,
                    "lines": [{"sku_code": l.sku_code, "quantity": l.quantity} for l in lines],
                },
            )
        )
        return "deducted_after_cancel"

    def ship_replacement(
        self, case_id: str, order_id: str, shop_id: str, shipment_id: str, raw_lines: list[dict]
    ) -> str:
        """An exchange's replacement shipment (case_id set): nothing was reserved for it, so the units
        come straight off available stock, with cause case:<id>."""
        reference = f"shipment:{shipment_id}"
        cause = f"case:{case_id}"
        already = self.session.execute(
            sa.select(sa.func.count())
            .select_from(movements)
            .where(movements.c.shop_id == shop_id, movements.c.reference == reference, movements.c.cause == cause)
        ).scalar_one()
        if already:
            return "noop"
        for line in domain.merge_lines(raw_lines):
            placed = False
            for item_id, _ in self.warehouses_of(shop_id, line.sku_code):
                if (
                    self.move(
                        item_id,
                        Movement.DEDUCT,
                        -line.quantity,
                        0,
                        cause,
                        f"exchange replacement for order {order_id}",
                        reference,
                    )
                    is not None
                ):
                    placed = True
                    break
            if not placed:
                raise RuleViolation(
                    f"replacement of case {case_id}: {line.quantity} x {line.sku_code} not available to deduct"
                )
        return "deducted"

    def receive(
        self,
        shop_id: str,
        sku_code: str,
        warehouse_code: str,
        quantity: int,
        cause: str,
        reason: str | None = None,
        reference: str | None = None,
    ):
        """Goods come in (inbound receipt, resellable return): on_hand += quantity, then waiting orders
        are served in order of payment time."""
        item_id = self.ensure_item(shop_id, sku_code, warehouse_code, cause)
        row = self.move(item_id, Movement.IN, quantity, 0, cause, reason, reference)
        self.serve_waiting(shop_id, [sku_code])
        return row

    def adjust(
        self,
        shop_id: str,
        sku_code: str,
        warehouse_code: str,
        kind: str,
        quantity: int | None,
        counted: int | None,
        reason: str | None,
        reference: str | None = None,
    ):
        """A warehouse adjustment. Returns the stock row after it. UnknownSku / RuleViolation."""
        cause = f"adjustment:{kind}"
        if kind == domain.AdjustmentKind.INBOUND:
            return self.receive(shop_id, sku_code, warehouse_code, quantity, cause, reason, reference)
        item_id = self._item_id(shop_id, sku_code, warehouse_code)
        if item_id is None:
            raise UnknownSku(sku_code)
        # Lock the row first (a no-op update), so that the count we compute the delta from cannot
        # change before we apply it.
        locked = self.session.execute(
            items.update()
            .where(items.c.id == item_id)
            .values(updated_at=self.now)
            .returning(items.c.on_hand, items.c.reserved)
        ).one()
        delta = domain.adjustment_delta(kind, locked.on_hand, locked.reserved, quantity, counted)
        movement = domain.AdjustmentKind.MOVEMENT[kind]
        row = self.move(item_id, movement, delta, 0, cause, reason, reference)
        if row is None:  # cannot happen under the lock; the database guard holds regardless
            raise RuleViolation("the adjustment would leave less on hand than is reserved")
        if delta > 0:
            self.serve_waiting(shop_id, [sku_code])
        return row

    # The waiting queue ---------------------------------------------------------------------------
    def serve_waiting(self, shop_id: str, sku_codes: list[str], limit: int | None = None) -> list[str]:
        """Reserve waiting orders that need these SKUs, oldest payment first. An order that still
        cannot be served in full stays waiting and does not hold up the ones behind it. Returns the
        orders reserved."""
        if not sku_codes:
            return []
        limit = limit or self.config.setting("INVENTORY_WAITING_BATCH", 500, int)
        waiting = (
            self.session.execute(
                sa.select(reservations.c.order_id)
                .where(
                    reservations.c.shop_id == shop_id,
                    reservations.c.status == RS.WAITING,
                    reservations.c.order_id.in_(
                        sa.select(reservation_lines.c.order_id).where(
                            reservation_lines.c.shop_id == shop_id, reservation_lines.c.sku_code.in_(sku_codes)
                        )
                    ),
                )
                .order_by(reservations.c.paid_at, reservations.c.created_at, reservations.c.order_id)
                .limit(limit)
            )
            .scalars()
            .all()
        )
        served: list[str] = []
        exhausted: set[str] = set()  # SKUs with nothing left to give: skip orders needing them
        for order_id in waiting:
            rows = self.lines_of(order_id)
            if any(r.sku_code in exhausted for r in rows):
                continue
            attempt = self.session.begin_nested()
            # Claim the order first (conditional): a concurrent server of the queue skips it.
            if not self._set_status(order_id, RS.WAITING, RS.RESERVED, "stock arrived"):
                attempt.rollback()
                continue
            lines = [domain.Line(r.sku_code, r.quantity) for r in rows]
            allocations, short = self._reserve_lines(order_id, shop_id, lines)
            if short:
                attempt.rollback()
                for s in short:
                    if self.available(shop_id, s.sku_code) <= 0:
                        exhausted.add(s.sku_code)
                continue
            for line, warehouse in allocations:
                self.session.execute(
                    reservation_lines.update()
                    .where(reservation_lines.c.order_id == order_id, reservation_lines.c.sku_code == line.sku_code)
                    .values(warehouse_code=warehouse)
                )
            attempt.commit()
            self._emit_reserved(order_id, shop_id, lines)
            served.append(order_id)
        self.served.extend(served)
        return served


def default_policy(config) -> str:
    policy = config.setting("INVENTORY_DEFAULT_SHORTAGE_POLICY", domain.ShortagePolicy.DEFAULT)
    return policy if policy in domain.ShortagePolicy.ALL else domain.ShortagePolicy.DEFAULT
