"""Orders, under /orders: place one, list and count them, read one, and the transitions a person
makes (review, cancel, confirm receipt). The peers' part of the story arrives as events (handlers.py)."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from ecom_common.auth import current_principal, list_filter, requires
from ecom_common.csvexport import csv_response, keyset_pages
from ecom_common.http import Blueprint
from ecom_common.idempotency import idempotent
from ecom_common.pagination import paginate
from ecom_common.usecase import use_case

from .. import domain, operations, pricing
from ..models import Order
from ..settings import Settings
from .render import CSV_HEADER, SEES_FULL_ADDRESS, csv_row, order_detail, order_out
from .schemas import (
    AddressChangeIn,
    CancelIn,
    CountArgs,
    CountsOut,
    OrderIn,
    OrderListArgs,
    OrderOut,
    OrderPage,
    ReviewIn,
)

blp = Blueprint("orders", __name__)

READERS = ("buyer", "ops", "finance", "cs", "warehouse", "admin", "service")


@blp.route("/orders", methods=["POST"])
@requires("buyer")
@idempotent(required=True)
@blp.arguments(OrderIn)
@blp.response(201, OrderOut)
def place_order(args):
    """Place an order: prices from catalog, shipping fee from logistics, both asked now.

    Checked against them: SKUs that exist, are on sale in the shop and in stock terms orderable, an
    address the shop delivers to; a broken rule is 422 naming the field."""
    request = pricing.OrderRequest(
        shop_id=args["shop_id"],
        buyer_id=current_principal().sub,
        lines=args["lines"],
        address=args["address"],
        note=args["note"],
        coupon_claim_ids=tuple(args["coupon_claim_ids"]),
        points=args["points"],
    )
    with use_case(Settings) as ctx:
        return order_detail(ctx, operations.place(ctx, request))


@blp.route("/orders", methods=["GET"])
@requires(*READERS)
@blp.arguments(OrderListArgs, location="query")
@blp.response(200, OrderPage)
@blp.alt_response(200, description="`format=csv`: every matching order, streamed", content_type="text/csv")
def list_orders(args):
    """Orders, newest first, filtered (receiver phone: last four digits or the full number; receiver
    name; buyer; SKU; placed-at range; status...); addresses and phones masked.

    created_from after created_to, or min_payable_fen above max_payable_fen, is 422."""
    stmt = _scoped(sa.select(Order), args.get("shop_id"))
    if args["format"] == "csv":
        return _export(stmt, args)
    with use_case(Settings) as ctx:
        target = ctx.settings.review_target_minutes
        return paginate(
            ctx.session,
            stmt.where(*operations.order_filters(ctx, args)),
            [Order.created_at, Order.id],
            args["limit"],
            args.get("cursor"),
            to_item=lambda o: order_out(o, ctx.now, target),
        )


def _export(stmt, args):
    """The orders matching the filters as a streamed CSV (ecom_common.csvexport): read a page at a
    time in a unit of work of the export's own while the body is sent. Phones, names and house
    numbers are masked unless the caller may see the order's full address."""
    full_address = current_principal().scope(SEES_FULL_ADDRESS)

    def rows():
        with use_case(Settings) as ctx:
            yield from keyset_pages(
                ctx.session,
                stmt.where(*operations.order_filters(ctx, args)),
                [Order.created_at, Order.id],
                ctx.settings.export_page_size,
                to_row=lambda o: csv_row(o, full=full_address.allows(o.shop_id, o.buyer_id)),
            )

    return csv_response("orders.csv", CSV_HEADER, rows())


def _scoped(stmt, requested_shop: str | None):
    """Confine a query over orders to what the caller may see (the one rule in ecom_common.auth)."""
    return stmt.where(list_filter(Order.shop_id, Order.buyer_id, requested_shop))


@blp.route("/orders/counts", methods=["GET"])
@requires(*READERS)
@blp.arguments(CountArgs, location="query")
@blp.response(200, CountsOut)
def count_orders(args):
    """Orders per status and per tab (待付款 / 待发货 / 待收货 / 已完成)."""
    with use_case(Settings) as ctx:
        rows = ctx.session.execute(
            _scoped(sa.select(Order.status, sa.func.count()).select_from(Order), args.get("shop_id")).group_by(
                Order.status
            )
        ).all()
        overdue = ctx.session.execute(
            _scoped(sa.select(sa.func.count()).select_from(Order), args.get("shop_id")).where(
                Order.status == domain.ON_HOLD,
                Order.held_at < ctx.now - timedelta(minutes=ctx.settings.review_target_minutes),
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
@requires(*READERS)
@blp.response(200, OrderOut)
def get_order(order_id):
    """One order with its lines and timeline."""
    with use_case(Settings) as ctx:
        return order_detail(ctx, operations.get(ctx, order_id))


@blp.route("/orders/<order_id>/review", methods=["POST"])
@requires("ops", "admin")
@idempotent()
@blp.arguments(ReviewIn)
@blp.response(200, OrderOut)
def review_order(args, order_id):
    """Decide on a held order: approve -> awaiting_shipment (OrderReadyToShip); reject -> cancelled
    (OrderCancelled: inventory releases, billing refunds). A rejection needs a reason (422)."""
    with use_case(Settings) as ctx:
        order = operations.get(ctx, order_id)
        return order_detail(ctx, operations.review(ctx, order, decision=args["decision"], reason=args.get("reason")))


@blp.route("/orders/<order_id>/cancel", methods=["POST"])
@requires("buyer", "ops", "admin")
@idempotent()
@blp.arguments(CancelIn)
@blp.response(200, OrderOut)
def cancel_order(args, order_id):
    """Cancel before shipment (buyer: own orders; ops: their shop's): OrderCancelled releases stock
    and refunds what was paid."""
    with use_case(Settings) as ctx:
        order = operations.get(ctx, order_id)
        return order_detail(ctx, operations.cancel_by_caller(ctx, order, args.get("reason")))


@blp.route("/orders/<order_id>/address", methods=["POST"])
@requires("buyer", "cs", "ops", "admin")
@idempotent()
@blp.arguments(AddressChangeIn)
@blp.response(200, OrderOut)
def change_address(args, order_id):
    """Change the receiver address before dispatch (buyer: own orders; cs/ops: their shop's); 409
    once shipped. An audited order is audited again (it may be held); orders.AddressChanged."""
    with use_case(Settings) as ctx:
        order = operations.get(ctx, order_id)
        return order_detail(ctx, operations.change_address(ctx, order, domain.Address.from_dict(args["address"])))


@blp.route("/orders/<order_id>/confirm-receipt", methods=["POST"])
@requires("buyer")
@idempotent()
@blp.response(200, OrderOut)
def confirm_receipt(order_id):
    """The buyer confirms receipt of a delivered order: completed, OrderCompleted (settlement T+7)."""
    with use_case(Settings) as ctx:
        return order_detail(ctx, operations.confirm_receipt(ctx, operations.get(ctx, order_id)))
