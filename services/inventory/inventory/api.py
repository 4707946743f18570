"""inventory HTTP API: flask-smorest blueprint and marshmallow schemas."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from ecom_common.auth import (
    current_principal,
    list_filter,
    not_found_unless,
    requires,
    shop_for_read,
    shop_for_write,
    shop_of_resource,
    visible,
)
from ecom_common.clock import iso
from ecom_common.db import is_unique_violation
from ecom_common.errors import NotFound
from ecom_common.http import Blueprint, BodySchema, PageArgs, UtcTime, current_config, current_db, paginate
from ecom_common.idempotency import idempotent

from . import domain
from .domain import AdjustmentKind, ReservationStatus, ShortagePolicy
from .models import (
    Reservation,
    ReservationLine,
    ReservationLog,
    StockItem,
    StockMovement,
    StockPolicy,
    StockPolicyChange,
)
from .operations import StockBook, UnknownSku, default_policy

blp = Blueprint("inventory", __name__, url_prefix="/api/v1", description="Stock per SKU and warehouse")

WAREHOUSE_CODE = validate.Regexp(r"^[A-Za-z0-9_-]{1,32}$", error="1-32 letters, digits, '-' or '_'.")
SHOP_ID = validate.Length(min=1, max=64)


# Stock items -----------------------------------------------------------------------------------
class StockItemSchema(Schema):
    sku_code = fields.Str()
    warehouse_code = fields.Str()
    shop_id = fields.Str(allow_none=True)
    on_hand = fields.Int()
    reserved = fields.Int()
    available = fields.Int()
    low_stock_threshold = fields.Int()
    low = fields.Method("is_low")
    sellable = fields.Bool()
    updated_at = UtcTime()

    def is_low(self, item) -> bool:
        return domain.is_low(item.on_hand - item.reserved, item.low_stock_threshold)


class StockListArgs(PageArgs):
    shop_id = fields.Str(validate=SHOP_ID)
    sku_code = fields.Str()
    warehouse_code = fields.Str(validate=WAREHOUSE_CODE)
    low = fields.Bool(metadata={"description": "only items at or below their low-stock threshold"})


class StockPageSchema(Schema):
    items = fields.List(fields.Nested(StockItemSchema))
    next_cursor = fields.Str(allow_none=True)


class SkuStockSchema(Schema):
    shop_id = fields.Str()
    sku_code = fields.Str()
    on_hand = fields.Int()
    reserved = fields.Int()
    available = fields.Int()
    warehouses = fields.List(fields.Nested(StockItemSchema))


@blp.route("/stock", methods=["GET"])
@requires("warehouse", "ops", "admin", "finance", "service")
@blp.arguments(StockListArgs, location="query")
@blp.response(200, StockPageSchema)
def list_stock(args):
    """Stock items, newest first; merchant staff see their own shop's only."""
    stmt = sa.select(StockItem).where(list_filter(StockItem.shop_id, shop_id=args.get("shop_id")))
    if args.get("sku_code"):
        stmt = stmt.where(StockItem.sku_code == args["sku_code"])
    if args.get("warehouse_code"):
        stmt = stmt.where(StockItem.warehouse_code == args["warehouse_code"])
    if args.get("low"):
        stmt = stmt.where(StockItem.on_hand - StockItem.reserved <= StockItem.low_stock_threshold)
    with current_db().Session() as session:
        return paginate(session, stmt, [StockItem.id], args["limit"], args.get("cursor"))


class SkuStockArgs(Schema):
    shop_id = fields.Str(metadata={"description": "required for platform roles; merchant staff use their own"})


# shop_for_read / shop_for_write: a platform role without shop_id is 422 (documented, as the spec
# cannot make a parameter required for some roles only)
PLATFORM_NAMES_SHOP = "required for platform roles (else 422); merchant staff use their own"


# Replenishment (declared before /stock/<sku_code>; werkzeug prefers the static path anyway) ------
class ReplenishmentArgs(Schema):
    shop_id = fields.Str(validate=SHOP_ID, metadata={"description": PLATFORM_NAMES_SHOP})
    window_days = fields.Int(
        validate=validate.Range(min=1, max=365), metadata={"description": "sales history to average over (default 30)"}
    )
    cover_days = fields.Int(
        validate=validate.Range(min=0, max=365),
        metadata={"description": "reorder when available covers at most this (default 3)"},
    )
    target_days = fields.Int(
        validate=validate.Range(min=0, max=365),
        metadata={"description": "a reorder brings stock up to this many days (default 15)"},
    )


class ReplenishmentLineSchema(Schema):
    sku_code = fields.Str()
    available = fields.Int()
    sold_in_window = fields.Int()
    average_daily_sales = fields.Float()
    reorder_point = fields.Float()
    waiting_quantity = fields.Int()
    suggested_quantity = fields.Int()


class ReplenishmentSchema(Schema):
    shop_id = fields.Str()
    as_of = UtcTime()
    window_days = fields.Int()
    cover_days = fields.Int()
    target_days = fields.Int()
    items = fields.List(fields.Nested(ReplenishmentLineSchema))


@blp.route("/stock/replenishment", methods=["GET"])
@requires("warehouse", "ops", "admin")
@blp.arguments(ReplenishmentArgs, location="query")
@blp.response(200, ReplenishmentSchema)
def replenishment(args):
    """SKUs whose available stock covers at most `cover_days` of average daily sales (order deducts
    over the last `window_days`, by the service clock), or that paid orders are waiting for; with
    the quantity to reorder to reach `target_days` of sales."""
    shop_id = shop_for_read(args.get("shop_id"))
    config = current_config()
    settings = domain.ReplenishmentSettings(
        window_days=args.get("window_days") or config.setting("INVENTORY_REPLENISH_WINDOW_DAYS", 30, int),
        cover_days=args.get("cover_days", config.setting("INVENTORY_REPLENISH_COVER_DAYS", 3, int)),
        target_days=args.get("target_days", config.setting("INVENTORY_REPLENISH_TARGET_DAYS", 15, int)),
    )
    now = config.clock.now()
    since = now - timedelta(days=settings.window_days)
    with current_db().Session() as session:
        available = dict(
            session.execute(
                sa.select(StockItem.sku_code, sa.func.sum(StockItem.on_hand - StockItem.reserved))
                .where(StockItem.shop_id == shop_id, StockItem.sellable.is_(True))
                .group_by(StockItem.sku_code)
            ).all()
        )
        sold = dict(
            session.execute(
                sa.select(StockMovement.sku_code, -sa.func.sum(StockMovement.on_hand_delta))
                .where(
                    StockMovement.shop_id == shop_id,
                    StockMovement.kind == domain.Movement.DEDUCT,
                    StockMovement.cause.like("order:%"),
                    StockMovement.created_at >= since,
                    StockMovement.created_at <= now,
                )
                .group_by(StockMovement.sku_code)
            ).all()
        )
        waiting = dict(
            session.execute(
                sa.select(ReservationLine.sku_code, sa.func.sum(ReservationLine.quantity))
                .join(Reservation, Reservation.order_id == ReservationLine.order_id)
                .where(Reservation.shop_id == shop_id, Reservation.status == ReservationStatus.WAITING)
                .group_by(ReservationLine.sku_code)
            ).all()
        )
    lines = []
    for sku_code in sorted(available):
        line = domain.replenishment_line(
            sku_code, int(available[sku_code]), int(sold.get(sku_code) or 0), settings, int(waiting.get(sku_code) or 0)
        )
        if line is not None:
            lines.append(line)
    # Most urgent first: the fewest days of cover left.
    lines.sort(key=lambda l: (l.available / l.average_daily_sales if l.average_daily_sales else -1, l.sku_code))
    return {
        "shop_id": shop_id,
        "as_of": iso(now),
        "window_days": settings.window_days,
        "cover_days": settings.cover_days,
        "target_days": settings.target_days,
        "items": [l.to_dict() for l in lines],
    }


@blp.route("/stock/<sku_code>", methods=["GET"])
@requires("warehouse", "ops", "admin", "finance", "service", "cs")
@blp.arguments(SkuStockArgs, location="query")
@blp.response(200, SkuStockSchema)
def get_stock(args, sku_code):
    """One SKU's stock, summed over warehouses, with the per-warehouse rows."""
    shop_id = shop_of_resource(args.get("shop_id"), "stock item")
    with current_db().Session() as session:
        items = (
            session.execute(
                sa.select(StockItem)
                .where(StockItem.shop_id == shop_id, StockItem.sku_code == sku_code)
                .order_by(StockItem.warehouse_code)
            )
            .scalars()
            .all()
        )
    not_found_unless(bool(items), "stock item")
    return {
        "shop_id": shop_id,
        "sku_code": sku_code,
        "on_hand": sum(i.on_hand for i in items),
        "reserved": sum(i.reserved for i in items),
        "available": sum(i.available for i in items),
        "warehouses": items,
    }


# The ledger ------------------------------------------------------------------------------------
class MovementSchema(Schema):
    movement_id = fields.Int(attribute="id")
    shop_id = fields.Str()
    sku_code = fields.Str()
    warehouse_code = fields.Str()
    kind = fields.Str()
    on_hand_delta = fields.Int()
    reserved_delta = fields.Int()
    cause = fields.Str()
    by = fields.Str(allow_none=True, attribute="actor")
    reason = fields.Str(allow_none=True)
    reference = fields.Str(allow_none=True)
    created_at = UtcTime()


class MovementListArgs(PageArgs):
    shop_id = fields.Str(validate=SHOP_ID, metadata={"description": PLATFORM_NAMES_SHOP})
    warehouse_code = fields.Str(validate=WAREHOUSE_CODE)
    kind = fields.Str(validate=validate.OneOf(domain.Movement.ALL))
    cause = fields.Str(metadata={"description": "e.g. order:O123, case:C1, adjustment:inbound"})


class MovementPageSchema(Schema):
    items = fields.List(fields.Nested(MovementSchema))
    next_cursor = fields.Str(allow_none=True)


@blp.route("/stock/<sku_code>/movements", methods=["GET"])
@requires("warehouse", "ops", "admin", "finance", "service")
@blp.arguments(MovementListArgs, location="query")
@blp.response(200, MovementPageSchema)
def list_movements(args, sku_code):
    """The stock ledger of one SKU, newest first: every movement with its cause and actor."""
    shop_id = shop_of_resource(args.get("shop_id"), "stock item")
    with current_db().Session() as session:
        known = session.execute(
            sa.select(sa.func.count())
            .select_from(StockItem)
            .where(StockItem.shop_id == shop_id, StockItem.sku_code == sku_code)
        ).scalar_one()
        not_found_unless(bool(known), "stock item")
        stmt = sa.select(StockMovement).where(StockMovement.shop_id == shop_id, StockMovement.sku_code == sku_code)
        for name in ("warehouse_code", "kind", "cause"):
            if args.get(name):
                stmt = stmt.where(getattr(StockMovement, name) == args[name])
        return paginate(session, stmt, [StockMovement.id], args["limit"], args.get("cursor"))


# Adjustments -----------------------------------------------------------------------------------
class AdjustmentArgs(BodySchema):
    kind = fields.Str(required=True, validate=validate.OneOf(AdjustmentKind.ALL))
    quantity = fields.Int(
        validate=validate.Range(min=1, max=1_000_000),
        metadata={"description": "units received (inbound) or written off (damage, loss)"},
    )
    counted = fields.Int(
        validate=validate.Range(min=0, max=100_000_000),
        metadata={"description": "units counted on the shelf (count_correction)"},
    )
    reason = fields.Str(validate=validate.Length(min=1, max=500))
    warehouse_code = fields.Str(load_default=domain.DEFAULT_WAREHOUSE, validate=WAREHOUSE_CODE)
    shop_id = fields.Str(validate=SHOP_ID, metadata={"description": "platform roles name the shop"})
    reference = fields.Str(
        validate=validate.Length(min=1, max=200),
        metadata={"description": "e.g. the purchase order or count sheet number"},
    )

    @validates_schema
    def _by_kind(self, data, **_kwargs):
        kind = data.get("kind")
        errors = {}
        if kind in AdjustmentKind.BY_QUANTITY:
            if "quantity" not in data:
                errors["quantity"] = [f"Required for {kind}."]
            if "counted" in data:
                errors["counted"] = [f"Not used by {kind}; give quantity."]
        if kind == AdjustmentKind.COUNT_CORRECTION:
            if "counted" not in data:
                errors["counted"] = ["Required for count_correction."]
            if "quantity" in data:
                errors["quantity"] = ["Not used by count_correction; give counted."]
        if kind in (AdjustmentKind.COUNT_CORRECTION, *AdjustmentKind.WRITE_OFFS) and not data.get("reason"):
            errors["reason"] = [f"Required for {kind}."]
        if errors:
            raise ValidationError(errors)


class AdjustmentResultSchema(Schema):
    stock = fields.Nested(StockItemSchema)
    movement = fields.Nested(MovementSchema)
    served_orders = fields.List(fields.Str(), metadata={"description": "waiting orders reserved by this receipt"})


@blp.route("/stock/<sku_code>/adjustments", methods=["POST"])
@requires("warehouse", "admin")
@idempotent()
@blp.arguments(AdjustmentArgs)
@blp.response(201, AdjustmentResultSchema)
def adjust_stock(args, sku_code):
    """Inbound receipt or counted correction (or a damage/loss write-off) for one warehouse.

    A count_correction needs `counted` and `reason` (422). A correction or write-off can never leave less on hand
    than is reserved (422). An inbound
    receipt serves orders waiting for this SKU, oldest payment first."""
    principal = current_principal()
    shop_id = shop_for_write(args.get("shop_id"))
    with current_db().uow() as uow:
        book = StockBook(uow, actor=principal.sub)
        try:
            book.adjust(
                shop_id,
                sku_code,
                args["warehouse_code"],
                args["kind"],
                args.get("quantity"),
                args.get("counted"),
                args.get("reason"),
                args.get("reference"),
            )
        except UnknownSku:
            raise NotFound("stock item not found") from None
        served = list(book.served)
        # The answer is read in the transaction, before the commit (the stock row is locked by now):
        # nothing is read after it, so a database lost right after the commit cannot turn a
        # receipt that was booked into a 503.
        session = uow.session
        item = session.execute(
            sa.select(StockItem)
            .where(
                StockItem.shop_id == shop_id,
                StockItem.sku_code == sku_code,
                StockItem.warehouse_code == args["warehouse_code"],
            )
            .execution_options(populate_existing=True)
        ).scalar_one()
        movement = session.get(StockMovement, book.last_movement_id, populate_existing=True)
        uow.commit()
    return {"stock": item, "movement": movement, "served_orders": served}


# Shortage policy -------------------------------------------------------------------------------
class PolicyQuery(Schema):
    shop_id = fields.Str(validate=SHOP_ID, metadata={"description": PLATFORM_NAMES_SHOP})


class PolicyArgs(BodySchema):
    shortage_policy = fields.Str(required=True, validate=validate.OneOf(ShortagePolicy.ALL))


class PolicySchema(Schema):
    shop_id = fields.Str()
    shortage_policy = fields.Str()
    is_default = fields.Bool()
    updated_by = fields.Str(allow_none=True)
    updated_at = UtcTime(allow_none=True)


def _policy_view(session, shop_id: str) -> dict:
    row = session.get(StockPolicy, shop_id)
    if row is None:
        return {
            "shop_id": shop_id,
            "shortage_policy": default_policy(current_config()),
            "is_default": True,
            "updated_by": None,
            "updated_at": None,
        }
    return {
        "shop_id": shop_id,
        "shortage_policy": row.shortage_policy,
        "is_default": False,
        "updated_by": row.updated_by,
        "updated_at": row.updated_at,
    }


@blp.route("/stock-policy", methods=["GET"])
@requires("ops", "warehouse", "admin", "service")
@blp.arguments(PolicyQuery, location="query")
@blp.response(200, PolicySchema)
def get_policy(args):
    """A shop's shortage policy: wait (presale, reserved when stock arrives) or cancel (refund)."""
    shop_id = shop_for_read(args.get("shop_id"))
    with current_db().Session() as session:
        return _policy_view(session, shop_id)


@blp.route("/stock-policy", methods=["PUT"])
@requires("ops", "warehouse", "admin")
@blp.arguments(PolicyQuery, location="query")
@blp.arguments(PolicyArgs)
@blp.response(200, PolicySchema)
def put_policy(query, args):
    """Set a shop's shortage policy; applies to orders paid from now on (waiting orders keep waiting)."""
    principal = current_principal()
    shop_id = shop_for_write(query.get("shop_id"))
    new = args["shortage_policy"]
    with current_db().uow() as uow:
        session = uow.session
        now = current_config().clock.now()
        old = session.execute(
            sa.select(StockPolicy.shortage_policy).where(StockPolicy.shop_id == shop_id).with_for_update()
        ).scalar_one_or_none()
        values = dict(shortage_policy=new, updated_by=principal.sub[:120], updated_at=now)
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
        if old != new:
            session.add(
                StockPolicyChange(
                    shop_id=shop_id, old_policy=old, new_policy=new, changed_by=principal.sub[:120], changed_at=now
                )
            )
        uow.commit()
    with current_db().Session() as session:
        return _policy_view(session, shop_id)


# Reservations ----------------------------------------------------------------------------------
class ReservationLineSchema(Schema):
    sku_code = fields.Str()
    quantity = fields.Int()
    warehouse_code = fields.Str(allow_none=True)


# What each entry of a reservation's log did: every entry is a change to the status it records.
RESERVATION_ACTIONS = {
    ReservationStatus.WAITING: "wait",
    ReservationStatus.RESERVED: "reserve",
    ReservationStatus.RELEASED: "release",
    ReservationStatus.DEDUCTED: "deduct",
    ReservationStatus.SHORT: "short",
    ReservationStatus.CANCELLED: "cancel",
}


class ReservationLogSchema(Schema):
    """The timeline entry every service returns."""

    at = UtcTime()
    by = fields.Str()
    action = fields.Str(metadata={"description": ", ".join(sorted(set(RESERVATION_ACTIONS.values())))})
    from_status = fields.Str(allow_none=True, metadata={"description": "null for the first entry"})
    status = fields.Str(metadata={"description": "the status after the entry"})
    reason = fields.Str(allow_none=True)


def reservation_timeline(entries) -> list[dict]:
    """The log in the common shape. Every status change is logged from the first, so the status before an
    entry is the status after the one before it."""
    out, before = [], None
    for e in entries:
        out.append(
            {
                "at": e.at,
                "by": e.by,
                "action": RESERVATION_ACTIONS.get(e.status, e.status),
                "from_status": before,
                "status": e.status,
                "reason": e.reason,
            }
        )
        before = e.status
    return out


class ReservationSchema(Schema):
    order_id = fields.Str()
    shop_id = fields.Str()
    status = fields.Str()
    policy = fields.Str(allow_none=True)
    paid_at = UtcTime(allow_none=True)
    short = fields.List(fields.Dict(), allow_none=True)
    created_at = UtcTime()
    updated_at = UtcTime()


class ReservationDetailSchema(ReservationSchema):
    lines = fields.List(fields.Nested(ReservationLineSchema))
    timeline = fields.List(fields.Nested(ReservationLogSchema))


class ReservationListArgs(PageArgs):
    shop_id = fields.Str(validate=SHOP_ID)
    status = fields.Str(validate=validate.OneOf(ReservationStatus.ALL))
    sku_code = fields.Str()


class ReservationPageSchema(Schema):
    items = fields.List(fields.Nested(ReservationSchema))
    next_cursor = fields.Str(allow_none=True)


@blp.route("/reservations", methods=["GET"])
@requires("warehouse", "ops", "admin", "service", "cs")
@blp.arguments(ReservationListArgs, location="query")
@blp.response(200, ReservationPageSchema)
def list_reservations(args):
    """Reservations, newest first; `status=waiting` lists the waiting queue in the order it is
    served (oldest payment first)."""
    stmt = sa.select(Reservation).where(list_filter(Reservation.shop_id, shop_id=args.get("shop_id")))
    if args.get("status"):
        stmt = stmt.where(Reservation.status == args["status"])
    if args.get("sku_code"):
        stmt = stmt.where(
            Reservation.order_id.in_(
                sa.select(ReservationLine.order_id).where(ReservationLine.sku_code == args["sku_code"])
            )
        )
    with current_db().Session() as session:
        if args.get("status") == ReservationStatus.WAITING:
            return paginate(
                session,
                stmt,
                [Reservation.paid_at, Reservation.order_id],
                args["limit"],
                args.get("cursor"),
                descending=False,
            )
        return paginate(
            session, stmt, [Reservation.created_at, Reservation.order_id], args["limit"], args.get("cursor")
        )


@blp.route("/reservations/<order_id>", methods=["GET"])
@requires("warehouse", "ops", "admin", "service", "cs")
@blp.response(200, ReservationDetailSchema)
def get_reservation(order_id):
    """What an order holds or waits for, where, and every status change of it."""
    with current_db().Session() as session:
        res = session.get(Reservation, order_id)
        not_found_unless(res is not None and visible(res.shop_id), "reservation")
        lines = (
            session.execute(
                sa.select(ReservationLine)
                .where(ReservationLine.order_id == order_id)
                .order_by(ReservationLine.sku_code)
            )
            .scalars()
            .all()
        )
        timeline = (
            session.execute(
                sa.select(ReservationLog).where(ReservationLog.order_id == order_id).order_by(ReservationLog.id)
            )
            .scalars()
            .all()
        )
        out = {name: getattr(res, name) for name in ReservationSchema().fields}
    out["lines"] = lines
    out["timeline"] = reservation_timeline(timeline)
    return out
