"""How an order is shown, and to whom: the full address and note only on a single order, to the
roles that ship or serve it and to the buyer themself (CONTRACTS.md, Auth); lists and finance get the
masked ones."""

from __future__ import annotations

from datetime import datetime

from ecom_common.auth import current_principal
from ecom_common.clock import aware, iso
from ecom_common.privacy import scrub

from .. import domain, operations
from ..models import Order, OrderNote

# Who ships or serves an order sees its full address; finance and reviewers do not.
SEES_FULL_ADDRESS = frozenset({"admin", "service", "ops", "cs", "warehouse", "buyer"})


def order_detail(ctx: operations.OrdersCtx, order: Order) -> dict:
    """The order with its timeline, as the caller may see it. A view that changed the order renders it
    in its own transaction after the flush, just before the commit, instead of reading it again."""
    ctx.session.flush()
    full_address = current_principal().scope(SEES_FULL_ADDRESS).allows(order.shop_id, order.buyer_id)
    out = order_out(order, ctx.now, ctx.settings.review_target_minutes, full_address=full_address, timeline=True)
    if not ctx.actor.has("buyer"):
        out["staff_notes"] = [note_out(n, full=full_address) for n in order.staff_notes]
    return out


def note_out(entry: OrderNote, *, full: bool) -> dict:
    """A merchant note or contact; a phone in its text is masked for who sees only masked data."""
    return {
        "id": entry.id,
        "kind": entry.kind,
        "channel": entry.channel,
        "outcome": entry.outcome,
        "text": entry.text if full else scrub(entry.text),
        "at": aware(entry.at),
        "by": entry.by,
    }


def order_out(
    order: Order, now: datetime, review_target_minutes: int, *, full_address: bool = False, timeline: bool = False
) -> dict:
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
        "points_used": order.points_used,
        "shipping_breakdown": order.shipping_breakdown,
        "held_reasons": order.held_reason_list,
        "held_at": aware(order.held_at),
        "review": (
            domain.review_wait(aware(order.held_at), now, review_target_minutes)
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
                "discount_fen": line.discount_fen,
                "paid_fen": line.paid_fen,
                "weight_g": line.weight_g,
                "no_7day_return": bool(line.no_7day_return),
            }
            for line in order.lines
        ],
    }
    if timeline:
        out["discounts"] = operations.discounts_payload(order)
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


# The CSV export's columns (GET /orders?format=csv), in order.
CSV_HEADER = (
    "order_id",
    "shop_id",
    "status",
    "placed_at",
    "paid_at",
    "buyer_id",
    "receiver_name",
    "receiver_phone",
    "province",
    "city",
    "district",
    "street",
    "detail",
    "items",
    "goods_fen",
    "discount_fen",
    "shipping_fen",
    "payable_fen",
    "presale",
    "promised_ship_by",
    "held_reasons",
    "priority",
    "carrier",
    "tracking_no",
    "shipped_at",
    "note",
)


def csv_row(order: Order, *, full: bool) -> tuple:
    """One order as a CSV row: the full receiver (name, phone, detail) and note only when `full` (the
    roles that ship or serve the order, as on a single order); otherwise the masked ones."""
    address = order.address if full else order.address_masked
    return (
        order.id,
        order.shop_id,
        order.status,
        _iso(order.created_at),
        _iso(order.paid_at),
        order.buyer_id,
        address.get("name"),
        address.get("phone"),
        address.get("province"),
        address.get("city"),
        address.get("district"),
        address.get("street"),
        address.get("detail"),
        "; ".join(f"{line.sku_code} x{line.quantity}" for line in order.lines),
        order.goods_fen,
        order.discount_fen,
        order.shipping_fen,
        order.payable_fen,
        order.presale,
        _iso(order.promised_ship_by),
        ",".join(order.held_reason_list),
        order.priority,
        order.carrier,
        order.tracking_no,
        _iso(order.shipped_at),
        order.note if full else scrub(order.note or ""),
    )


def _iso(value: datetime | None) -> str | None:
    return iso(aware(value)) if value is not None else None


def rules_out(shop: operations.ShopRules) -> dict:
    return {
        "shop_id": shop.shop_id,
        "is_default": shop.is_default,
        "updated_at": shop.updated_at,
        "updated_by": shop.updated_by,
        **shop.rules.to_dict(),
    }
