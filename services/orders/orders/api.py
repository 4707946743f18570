"""orders HTTP API: flask-smorest blueprint and marshmallow schemas.

Who sees what (CONTRACTS.md "Auth"): a buyer their own orders; merchant staff (ops, cs, warehouse,
finance with a shop_id) their shop's; admin, service and platform finance every shop. Another
tenant's order answers 404. The full receiver address only on a single order, to the roles that ship
or serve it (ops, cs, warehouse, admin, service) and to the buyer themself; lists carry the masked one.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

import sqlalchemy as sa
from marshmallow import Schema, ValidationError, fields, validate, validates_schema
from webargs.fields import DelimitedList

from ecom_common.auth import (
    Principal,
    current_principal,
    list_filter,
    not_found_unless,
    requires,
    shop_for_read,
    shop_for_write,
    visible,
)
from ecom_common.clock import aware
from ecom_common.http import MAX_INT, Blueprint, BodySchema, PageArgs, UtcTime, current_config, current_db, paginate
from ecom_common.idempotency import idempotent
from ecom_common.privacy import scrub

from . import domain, operations
from .gateways import current_gateways
from .models import AuditRuleSet, Order, OrderLine, TimelineEntry

blp = Blueprint("orders", __name__, url_prefix="/api/v1", description="Orders, their audit and timeline")

A = domain.Action
PHONE_RE = r"^\+?[0-9][0-9\- ]{5,18}[0-9]$"


# Schemas: input ----------------------------------------------------------------------------------------
def _flatten(messages, prefix: str = "") -> dict:
    """{"lines": {0: {"quantity": [...]}}} -> {"lines.0.quantity": [...]}: one naming for every error
    about a line or an address part, whether marshmallow or a business rule found it."""
    if not isinstance(messages, dict):
        return {prefix or "_schema": messages}
    out: dict = {}
    for key, value in messages.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict):
            out.update(_flatten(value, name))
        else:
            out[name] = value
    return out


class FlatErrorsSchema(BodySchema):
    def handle_error(self, error: ValidationError, data, *, many: bool, **kwargs):
        raise ValidationError(_flatten(error.messages), data=data)


class AddressSchema(BodySchema):
    name = fields.Str(required=True, validate=validate.Length(min=1, max=50))
    phone = fields.Str(required=True, validate=validate.Regexp(PHONE_RE, error="Not a phone number."))
    province = fields.Str(required=True, validate=validate.Length(min=1, max=20))
    city = fields.Str(required=True, validate=validate.Length(min=1, max=40))
    # district/street/detail may be empty: an incomplete address is placed, then held by the audit.
    district = fields.Str(load_default="", validate=validate.Length(max=40))
    street = fields.Str(load_default="", validate=validate.Length(max=100))
    detail = fields.Str(load_default="", validate=validate.Length(max=200))


class LineInSchema(BodySchema):
    sku_code = fields.Str(required=True, validate=validate.Length(min=1, max=64))
    # The range is a business rule (domain.check_requested_lines) so its message names the line.
    quantity = fields.Int(
        required=True,
        validate=validate.Range(max=MAX_INT),
        metadata={"minimum": 1, "maximum": domain.MAX_LINE_QUANTITY},
    )


class PlaceOrderSchema(FlatErrorsSchema):
    shop_id = fields.Str(required=True, validate=validate.Length(min=1, max=64))
    lines = fields.List(fields.Nested(LineInSchema), required=True, validate=validate.Length(min=1, max=50))
    address = fields.Nested(AddressSchema, required=True)
    note = fields.Str(load_default="", validate=validate.Length(max=200))
    presale = fields.Bool(load_default=False)


class ReviewSchema(FlatErrorsSchema):
    decision = fields.Str(required=True, validate=validate.OneOf(["approve", "reject"]))
    reason = fields.Str(load_default=None, validate=validate.Length(max=300))

    @validates_schema
    def _reason_for_reject(self, data, **kwargs):
        if data.get("decision") == "reject" and not (data.get("reason") or "").strip():
            raise ValidationError("A rejection needs a reason.", "reason")


class CancelSchema(FlatErrorsSchema):
    reason = fields.Str(load_default=None, validate=validate.Length(max=300))


class OrderListArgs(PageArgs):
    status = DelimitedList(fields.Str(validate=validate.OneOf(domain.STATUSES)))
    tab = fields.Str(validate=validate.OneOf([t[0] for t in domain.TABS]))
    shop_id = fields.Str()
    buyer_id = fields.Str()
    created_from = fields.AwareDateTime(default_timezone=None)
    created_to = fields.AwareDateTime(default_timezone=None)
    min_payable_fen = fields.Int(validate=validate.Range(min=0, max=MAX_INT))
    max_payable_fen = fields.Int(validate=validate.Range(min=0, max=MAX_INT))
    held_reason = fields.Str(validate=validate.OneOf(domain.HoldReason.ALL))
    priority = fields.Bool()

    @validates_schema
    def _ranges(self, data, **kwargs):
        if data.get("created_from") and data.get("created_to") and data["created_from"] > data["created_to"]:
            raise ValidationError("Must not be after created_to.", "created_from")
        if (
            data.get("min_payable_fen") is not None
            and data.get("max_payable_fen") is not None
            and data["min_payable_fen"] > data["max_payable_fen"]
        ):
            raise ValidationError("Must not be above max_payable_fen.", "min_payable_fen")


class CountArgs(Schema):
    shop_id = fields.Str()


class ShopArgs(Schema):
    shop_id = fields.Str(metadata={"description": "required for admin; ops use their own shop"})


class AuditRulesInSchema(FlatErrorsSchema):
    auto_pass_max_fen = fields.Int(validate=validate.Range(min=0, max=MAX_INT))
    hold_above_fen = fields.Int(validate=validate.Range(min=0, max=MAX_INT))
    auto_pass_middle = fields.Bool()
    remote_regions = fields.List(fields.Str(validate=validate.Length(min=1, max=20)), validate=validate.Length(max=50))
    front_desk_keywords = fields.List(
        fields.Str(validate=validate.Length(min=1, max=20)), validate=validate.Length(max=50)
    )
    repeat_phone_count = fields.Int(validate=validate.Range(min=2, max=1000))
    repeat_phone_window_minutes = fields.Int(validate=validate.Range(min=1, max=7 * 24 * 60))
    note_hold_keywords = fields.List(
        fields.Str(validate=validate.Length(min=1, max=20)), validate=validate.Length(max=50)
    )
    priority_keywords = fields.List(
        fields.Str(validate=validate.Length(min=1, max=20)), validate=validate.Length(max=50)
    )


# Schemas: output ---------------------------------------------------------------------------------------
class AddressOutSchema(Schema):
    name = fields.Str()
    phone = fields.Str()
    province = fields.Str()
    city = fields.Str()
    district = fields.Str()
    street = fields.Str()
    detail = fields.Str()


class LineOutSchema(Schema):
    line_no = fields.Int()
    sku_code = fields.Str()
    title = fields.Str()
    category_id = fields.Str(allow_none=True)
    quantity = fields.Int()
    list_price_fen = fields.Int()
    unit_price_fen = fields.Int()
    total_fen = fields.Int()
    weight_g = fields.Int()


class TimelineOutSchema(Schema):
    """The timeline entry every service returns."""

    at = UtcTime()
    by = fields.Str()
    action = fields.Str()
    from_status = fields.Str(allow_none=True)
    status = fields.Str(metadata={"description": "the status after the entry"})
    reason = fields.Str(allow_none=True)


class ReviewWaitSchema(Schema):
    waiting_minutes = fields.Int()
    target_minutes = fields.Int()
    overdue = fields.Bool()


class OrderSchema(Schema):
    order_id = fields.Str()
    shop_id = fields.Str()
    buyer_id = fields.Str()
    status = fields.Str()
    tab = fields.Str(allow_none=True)
    presale = fields.Bool()
    priority = fields.Bool()
    note = fields.Str()
    address = fields.Nested(AddressOutSchema)
    address_masked = fields.Bool(metadata={"description": "false only when the full address is shown"})
    goods_fen = fields.Int()
    discount_fen = fields.Int()
    shipping_fen = fields.Int()
    payable_fen = fields.Int()
    shipping_breakdown = fields.List(fields.Raw(), allow_none=True)
    held_reasons = fields.List(fields.Str())
    held_at = UtcTime(allow_none=True)
    review = fields.Nested(ReviewWaitSchema, allow_none=True)
    promise = fields.Str(allow_none=True)
    promised_ship_by = UtcTime(allow_none=True)
    payment_id = fields.Str(allow_none=True)
    paid_at = UtcTime(allow_none=True)
    shipment_id = fields.Str(allow_none=True)
    carrier = fields.Str(allow_none=True)
    tracking_no = fields.Str(allow_none=True)
    shipped_at = UtcTime(allow_none=True)
    delivered_at = UtcTime(allow_none=True)
    completed_at = UtcTime(allow_none=True)
    cancelled_at = UtcTime(allow_none=True)
    cancel_reason = fields.Str(allow_none=True)
    case_id = fields.Str(allow_none=True)
    created_at = UtcTime()
    updated_at = UtcTime()
    lines = fields.List(fields.Nested(LineOutSchema))
    timeline = fields.List(fields.Nested(TimelineOutSchema))


class OrderPageSchema(Schema):
    items = fields.List(fields.Nested(OrderSchema))
    next_cursor = fields.Str(allow_none=True)


class TabCountSchema(Schema):
    tab = fields.Str()
    label = fields.Str()
    statuses = fields.List(fields.Str())
    count = fields.Int()


class CountsSchema(Schema):
    by_status = fields.Dict(keys=fields.Str(), values=fields.Int())
    tabs = fields.List(fields.Nested(TabCountSchema))
    total = fields.Int()
    on_hold_overdue = fields.Int()


class AuditRulesOutSchema(Schema):
    shop_id = fields.Str()
    is_default = fields.Bool()
    updated_at = UtcTime(allow_none=True)
    updated_by = fields.Str(allow_none=True)
    auto_pass_max_fen = fields.Int()
    hold_above_fen = fields.Int()
    auto_pass_middle = fields.Bool()
    remote_regions = fields.List(fields.Str())
    front_desk_keywords = fields.List(fields.Str())
    repeat_phone_count = fields.Int()
    repeat_phone_window_minutes = fields.Int()
    note_hold_keywords = fields.List(fields.Str())
    priority_keywords = fields.List(fields.Str())


# Access --------------------------------------------------------------------------------------------------
# Who ships or serves an order sees its full address (CONTRACTS.md, Auth); finance and reviewers do not.
SEES_FULL_ADDRESS = frozenset({"admin", "service", "ops", "cs", "warehouse", "buyer"})


def _sees_full_address(principal: Principal, order: Order) -> bool:
    return principal.scope(SEES_FULL_ADDRESS).allows(order.shop_id, order.buyer_id)


def _load_visible(session, order_id: str) -> Order:
    order = operations.load_order(session, order_id)
    not_found_unless(order is not None and visible(order.shop_id, order.buyer_id), "order")
    return order


# Representation --------------------------------------------------------------------------------------------
def _order_out(order: Order, now: datetime, full_address: bool = False, timeline: bool = False) -> dict:
    config = current_config()
    out = {
        "order_id": order.id,
        "shop_id": order.shop_id,
        "buyer_id": order.buyer_id,
        "status": order.status,
        "tab": domain.tab_of(order.status),
        "presale": order.presale,
        "priority": order.priority,
        "note": order.note if full_address else scrub(order.note or ""),
        "address": order.address if full_address else order.address_masked,
        "address_masked": not full_address,
        "goods_fen": order.goods_fen,
        "discount_fen": order.discount_fen,
        "shipping_fen": order.shipping_fen,
        "payable_fen": order.payable_fen,
        "shipping_breakdown": order.shipping_breakdown,
        "held_reasons": order.held_reason_list,
        "held_at": aware(order.held_at),
        "review": (
            domain.review_wait(aware(order.held_at), now, operations.review_target_minutes(config))
            if order.status == domain.ON_HOLD
            else None
        ),
        "promise": order.promise,
        "promised_ship_by": aware(order.promised_ship_by),
        "payment_id": order.payment_id,
        "paid_at": aware(order.paid_at),
        "shipment_id": order.shipment_id,
        "carrier": order.carrier,
        "tracking_no": order.tracking_no,
        "shipped_at": aware(order.shipped_at),
        "delivered_at": aware(order.delivered_at),
        "completed_at": aware(order.completed_at),
        "cancelled_at": aware(order.cancelled_at),
        "cancel_reason": order.cancel_reason,
        "case_id": order.case_id,
        "created_at": aware(order.created_at),
        "updated_at": aware(order.updated_at),
        "lines": [
            {
                "line_no": line.line_no,
                "sku_code": line.sku_code,
                "title": line.title,
                "category_id": line.category_id,
                "quantity": line.quantity,
                "list_price_fen": line.list_price_fen,
                "unit_price_fen": line.unit_price_fen,
                "total_fen": line.total_fen,
                "weight_g": line.weight_g,
            }
            for line in order.lines
        ],
    }
    if timeline:
        out["timeline"] = [
            {
                "status": t.status,
                "from_status": t.from_status,
                "action": t.action,
                "at": aware(t.at),
                "by": t.by,
                "reason": t.reason,
            }
            for t in order.timeline
        ]
    return out


def _single(order_id: str) -> dict:
    """The order as the caller may see it."""
    with current_db().Session() as session:
        return _detail(session, _load_visible(session, order_id))


def _detail(session, order: Order) -> dict:
    """The order with its timeline, as the caller may see it. A view that changed the order renders it
    in its own transaction after the flush, just before the commit, instead of reading it again."""
    session.flush()
    return _order_out(
        order, current_config().clock.now(), _sees_full_address(current_principal(), order), timeline=True
    )


def _new_order_id(now: datetime) -> str:
    # "O" + placing time (sortable, readable on the phone) + random digits.
    return f"O{now:%y%m%d%H%M%S}{secrets.randbelow(10**6):06d}"


# Views --------------------------------------------------------------------------------------------------
@blp.route("/orders", methods=["POST"])
@requires("buyer")
@idempotent(required=True)
@blp.arguments(PlaceOrderSchema)
@blp.response(201, OrderSchema)
def place_order(args):
    """Place an order: prices from catalog, shipping fee from logistics, both asked now.

    Checked against them: SKUs that exist, are on sale in the shop and in stock terms orderable, an
    address the shop delivers to; a broken rule is 422 naming the field."""
    principal = current_principal()
    domain.check_requested_lines(args["lines"])
    address = domain.Address.from_dict(args["address"])
    shop_id = args["shop_id"]
    gateways = current_gateways()
    skus = gateways.catalog.skus(shop_id, [line["sku_code"] for line in args["lines"]])
    priced = domain.price_lines(args["lines"], skus)
    goods_only = domain.totals(priced, 0)
    quote = gateways.logistics.quote(
        shop_id, address.province, domain.total_weight_g(priced), goods_only.goods_payable_fen
    )
    totals = domain.totals(priced, quote.fee_fen)

    now = current_config().clock.now()
    order_id = _new_order_id(now)
    with current_db().uow() as uow:
        order = Order(
            id=order_id,
            shop_id=shop_id,
            buyer_id=principal.sub,
            status=domain.PENDING_PAYMENT,
            presale=args["presale"],
            priority=False,
            note=args["note"].strip(),
            address=address.to_dict(),
            address_masked=address.masked(),
            receiver_phone=address.phone,
            goods_fen=totals.goods_fen,
            discount_fen=totals.discount_fen,
            shipping_fen=totals.shipping_fen,
            payable_fen=totals.payable_fen,
            shipping_breakdown=quote.breakdown,
            held_reasons="",
            created_at=now,
            updated_at=now,
            lines=[
                OrderLine(
                    line_no=i,
                    sku_code=p.sku_code,
                    title=p.title[:200],
                    category_id=p.category_id,
                    quantity=p.quantity,
                    list_price_fen=p.list_price_fen,
                    unit_price_fen=p.unit_price_fen,
                    weight_g=p.weight_g,
                )
                for i, p in enumerate(priced)
            ],
            timeline=[
                TimelineEntry(
                    status=domain.PENDING_PAYMENT,
                    from_status=None,
                    action="placed",
                    at=now,
                    by=principal.sub,
                    reason=f"payable {totals.payable_fen} fen",
                )
            ],
        )
        uow.session.add(order)
        uow.session.flush()
        uow.record(operations.placed_event(order))
        placed = _detail(uow.session, order)
        uow.commit()
    return placed


@blp.route("/orders", methods=["GET"])
@requires("buyer", "ops", "finance", "cs", "warehouse", "admin", "service")
@blp.arguments(OrderListArgs, location="query")
@blp.response(200, OrderPageSchema)
def list_orders(args):
    """Orders, newest first, filtered; addresses and phones masked.

    created_from after created_to, or min_payable_fen above max_payable_fen, is 422."""
    stmt = _scoped(sa.select(Order), args.get("shop_id"))
    if args.get("status"):
        stmt = stmt.where(Order.status.in_(args["status"]))
    if args.get("tab"):
        stmt = stmt.where(Order.status.in_(dict((t[0], t[2]) for t in domain.TABS)[args["tab"]]))
    if args.get("buyer_id"):
        stmt = stmt.where(Order.buyer_id == args["buyer_id"])
    if args.get("created_from"):
        stmt = stmt.where(Order.created_at >= args["created_from"])
    if args.get("created_to"):
        stmt = stmt.where(Order.created_at <= args["created_to"])
    if args.get("min_payable_fen") is not None:
        stmt = stmt.where(Order.payable_fen >= args["min_payable_fen"])
    if args.get("max_payable_fen") is not None:
        stmt = stmt.where(Order.payable_fen <= args["max_payable_fen"])
    if args.get("held_reason"):
        stmt = stmt.where(Order.held_reasons.like(f"%,{args['held_reason']},%"))
    if args.get("priority") is not None:
        stmt = stmt.where(Order.priority.is_(args["priority"]))
    now = current_config().clock.now()
    with current_db().Session() as session:
        return paginate(
            session,
            stmt,
            [Order.created_at, Order.id],
            args["limit"],
            args.get("cursor"),
            to_item=lambda o: _order_out(o, now),
        )


def _scoped(stmt, requested_shop: str | None):
    """Confine a query over orders to what the caller may see (the one rule in ecom_common.auth)."""
    return stmt.where(list_filter(Order.shop_id, Order.buyer_id, requested_shop))


@blp.route("/orders/counts", methods=["GET"])
@requires("buyer", "ops", "finance", "cs", "warehouse", "admin", "service")
@blp.arguments(CountArgs, location="query")
@blp.response(200, CountsSchema)
def count_orders(args):
    """Orders per status and per tab (待付款 / 待发货 / 待收货 / 已完成)."""
    config = current_config()
    now = config.clock.now()
    target = operations.review_target_minutes(config)
    with current_db().Session() as session:
        rows = session.execute(
            _scoped(sa.select(Order.status, sa.func.count()).select_from(Order), args.get("shop_id")).group_by(
                Order.status
            )
        ).all()
        overdue = session.execute(
            _scoped(sa.select(sa.func.count()).select_from(Order), args.get("shop_id")).where(
                Order.status == domain.ON_HOLD, Order.held_at < now - timedelta(minutes=target)
            )
        ).scalar_one()
    by_status = {s: 0 for s in domain.STATUSES}
    by_status.update({status: n for status, n in rows})
    tabs = [
        {"tab": key, "label": label, "statuses": list(statuses), "count": sum(by_status[s] for s in statuses)}
        for key, label, statuses in domain.TABS
    ]
    return {"by_status": by_status, "tabs": tabs, "total": sum(by_status.values()), "on_hold_overdue": overdue}


@blp.route("/orders/<order_id>", methods=["GET"])
@requires("buyer", "ops", "finance", "cs", "warehouse", "admin", "service")
@blp.response(200, OrderSchema)
def get_order(order_id):
    """One order with its lines and timeline."""
    return _single(order_id)


@blp.route("/orders/<order_id>/review", methods=["POST"])
@requires("ops", "admin")
@idempotent()
@blp.arguments(ReviewSchema)
@blp.response(200, OrderSchema)
def review_order(args, order_id):
    """Decide on a held order: approve -> awaiting_shipment (OrderReadyToShip); reject -> cancelled
    (OrderCancelled: inventory releases, billing refunds). A rejection needs a reason (422)."""
    principal = current_principal()
    now = current_config().clock.now()
    with current_db().uow() as uow:
        order = _load_visible(uow.session, order_id)
        reason = (args.get("reason") or "").strip()
        if args["decision"] == "approve":
            operations.move(
                uow.session, order, A.APPROVE, principal.sub, "review approved" + (f": {reason}" if reason else ""), now
            )
            uow.record(operations.ready_to_ship_event(order))
        else:
            operations.cancel(uow, order, principal.sub, f"review rejected: {reason}", now, action=A.REJECT)
        changed = _detail(uow.session, order)
        uow.commit()
    return changed


@blp.route("/orders/<order_id>/cancel", methods=["POST"])
@requires("buyer", "ops", "admin")
@idempotent()
@blp.arguments(CancelSchema)
@blp.response(200, OrderSchema)
def cancel_order(args, order_id):
    """Cancel before shipment (buyer: own orders; ops: their shop's): OrderCancelled releases stock
    and refunds what was paid."""
    principal = current_principal()
    now = current_config().clock.now()
    with current_db().uow() as uow:
        order = _load_visible(uow.session, order_id)
        if not principal.has("ops", "admin"):
            # A buyer who can see the order owns it (visible); finance/cs/warehouse cannot get here.
            default = "cancelled by the buyer"
        else:
            default = f"cancelled by {'ops' if principal.has('ops') else 'admin'}"
        reason = (args.get("reason") or "").strip() or default
        operations.cancel(uow, order, principal.sub, reason, now)
        changed = _detail(uow.session, order)
        uow.commit()
    return changed


@blp.route("/orders/<order_id>/confirm-receipt", methods=["POST"])
@requires("buyer")
@idempotent()
@blp.response(200, OrderSchema)
def confirm_receipt(order_id):
    """The buyer confirms receipt of a delivered order: completed, OrderCompleted (settlement T+7)."""
    principal = current_principal()
    now = current_config().clock.now()
    with current_db().uow() as uow:
        order = _load_visible(uow.session, order_id)
        operations.complete(uow, order, principal.sub, "receipt confirmed by the buyer", now)
        changed = _detail(uow.session, order)
        uow.commit()
    return changed


@blp.route("/audit-rules", methods=["GET"])
@requires("ops", "admin")
@blp.arguments(ShopArgs, location="query")
@blp.response(200, AuditRulesOutSchema)
def get_audit_rules(args):
    """The shop's audit rules (the seed defaults until the shop sets its own)."""
    shop_id = shop_for_read(args.get("shop_id"))
    with current_db().Session() as session:
        return _rules_out(session, shop_id)


@blp.route("/audit-rules", methods=["PUT"])
@requires("ops", "admin")
@blp.arguments(ShopArgs, location="query")
@blp.arguments(AuditRulesInSchema)
@blp.response(200, AuditRulesOutSchema)
def put_audit_rules(args, body):
    """Set the shop's audit rules. Fields left out keep their current value."""
    principal = current_principal()
    shop_id = shop_for_write(args.get("shop_id"))
    config = current_config()
    now = config.clock.now()
    with current_db().uow() as uow:
        current, _ = operations.rules_for(uow.session, config, shop_id)
        rules = domain.AuditRules.from_dict(body, base=current)
        row = uow.session.get(AuditRuleSet, shop_id)
        if row is None:
            uow.session.add(
                AuditRuleSet(shop_id=shop_id, rules=rules.to_dict(), updated_at=now, updated_by=principal.sub)
            )
        else:
            row.rules = rules.to_dict()
            row.updated_at = now
            row.updated_by = principal.sub
        uow.commit()
        return _rules_out(uow.session, shop_id)


def _rules_out(session, shop_id: str) -> dict:
    rules, is_default = operations.rules_for(session, current_config(), shop_id)
    row = session.get(AuditRuleSet, shop_id)
    return {
        "shop_id": shop_id,
        "is_default": is_default,
        "updated_at": aware(row.updated_at) if row else None,
        "updated_by": row.updated_by if row else None,
        **rules.to_dict(),
    }
