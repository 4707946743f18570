"""Placing an order: POST /orders, as numbered steps (operations.place)."""

from __future__ import annotations

from dataclasses import dataclass

from ecom_common.clock import aware, iso
from ecom_common.events import make_event
from ecom_common.ids import new_id
from ecom_common.peers import gateway

from .. import domain, gateways
from ..models import Order, OrderLine, TimelineEntry
from .transitions import OrdersCtx, lines_payload


def place(ctx: OrdersCtx, request: domain.OrderRequest) -> Order:
    """Place an order: prices from catalog, the shipping fee from logistics, both asked now.

    A broken rule (a bad line, a SKU not for sale, a province not served) is 422 naming the field;
    a peer that is away is 503 before anything is written."""
    # 1. The buyer's lines as asked: quantities in range, each SKU once.
    domain.check_requested_lines(request.lines)
    address = domain.Address.from_dict(request.address)
    peers = gateway(gateways.PEERS, gateways.Gateways.from_config)
    # 2. Prices: catalog's effective price of each SKU, copied onto the line.
    skus = peers.catalog.skus(request.shop_id, [line["sku_code"] for line in request.lines])
    priced = domain.price_lines(request.lines, skus)
    # 3. Shipping: logistics quotes on the weight and on what the goods cost the buyer.
    goods = domain.totals(priced, 0)
    quote = peers.logistics.quote(
        request.shop_id, address.province, domain.total_weight_g(priced), goods.goods_payable_fen
    )
    # 4. Totals: goods at list price - discount + shipping.
    totals = domain.totals(priced, quote.fee_fen)
    # 5. The order with its lines and its first timeline entry, and OrderPlaced.
    order = _new_order(ctx, request, address, Priced(priced, totals, quote))
    ctx.session.add(order)
    ctx.session.flush()
    ctx.record(_placed_event(order))
    return order


@dataclass(frozen=True)
class Priced:
    """What placing worked out: the priced lines, the totals and the shipping quote they include."""

    lines: list[domain.PricedLine]
    totals: domain.Totals
    quote: gateways.Quote


def _new_order(ctx: OrdersCtx, request: domain.OrderRequest, address: domain.Address, priced: Priced) -> Order:
    now, totals = ctx.now, priced.totals
    return Order(
        id=new_id("O", now),
        shop_id=request.shop_id,
        buyer_id=request.buyer_id,
        status=domain.PENDING_PAYMENT,
        presale=request.presale,
        priority=False,
        note=request.note.strip(),
        address=address.to_dict(),
        address_masked=address.masked(),
        receiver_phone=address.phone,
        goods_fen=totals.goods_fen,
        discount_fen=totals.discount_fen,
        shipping_fen=totals.shipping_fen,
        payable_fen=totals.payable_fen,
        shipping_breakdown=priced.quote.breakdown,
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
            for i, p in enumerate(priced.lines)
        ],
        timeline=[
            TimelineEntry(
                status=domain.PENDING_PAYMENT,
                from_status=None,
                action="placed",
                at=now,
                by=ctx.actor.id,
                reason=f"payable {totals.payable_fen} fen",
            )
        ],
    )


def _placed_event(order: Order):
    return make_event(
        "orders.OrderPlaced",
        {
            "order_id": order.id,
            "shop_id": order.shop_id,
            "buyer_id": order.buyer_id,
            "payable_fen": order.payable_fen,
            "goods_fen": order.goods_fen,
            "discount_fen": order.discount_fen,
            "shipping_fen": order.shipping_fen,
            "presale": order.presale,
            "lines": lines_payload(order),
            "address": order.address_masked,
            "placed_at": iso(aware(order.created_at)),
        },
    )
