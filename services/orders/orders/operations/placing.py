"""Placing an order: POST /orders, as numbered steps (operations.place)."""

from __future__ import annotations

from dataclasses import dataclass

from ecom_common.clock import aware, iso
from ecom_common.errors import BadGateway
from ecom_common.events import make_event
from ecom_common.ids import new_id
from ecom_common.peers import gateway

from .. import domain, gateways, pricing
from ..models import Order, OrderDiscount, OrderLine, TimelineEntry
from .search import searchable_receiver
from .transitions import OrdersCtx, discounts_payload, lines_payload


def place(ctx: OrdersCtx, request: pricing.OrderRequest) -> Order:
    """Place an order: prices from catalog, promotions, coupons and points from marketing, the
    shipping fee from logistics, all asked now.

    A broken rule (a bad line, a SKU not for sale, a coupon marketing refuses, a province not
    served) is 422 naming the field; a peer that is away is 503 before anything is written. The
    coupons marketing locked for an order that is then not written (logistics refused, the
    transaction failed) are released by marketing's lock timeout: the order never appears."""
    # 1. The buyer's lines as asked: quantities in range, each SKU once.
    pricing.check_requested_lines(request.lines)
    address = domain.Address.from_dict(request.address)
    peers = gateway(gateways.PEERS, gateways.Gateways.from_config)
    order_id = new_id("O", ctx.now)
    # 2. Prices: catalog's list, promotional and member prices of each SKU, copied onto the line.
    skus = peers.catalog.skus(request.shop_id, [line["sku_code"] for line in request.lines])
    priced = pricing.price_lines(request.lines, skus)
    # 3. Marketing's quote in CONTRACTS.md's stacking order (single-item price, 满减, coupons,
    #    points), apportioned to the lines; the coupons and points are locked for this order.
    marketing = peers.marketing.quote(order_id, request, priced)
    try:
        priced = pricing.apply_quote(priced, marketing)
    except pricing.QuoteMismatchError as exc:
        raise BadGateway(f"marketing's quote does not fit the order: {exc}") from exc
    # 4. Shipping: logistics quotes on the weight and on what the goods cost the buyer.
    goods = pricing.totals(priced, 0)
    quote = peers.logistics.quote(
        request.shop_id, address.province, pricing.total_weight_g(priced), goods.goods_payable_fen
    )
    # 5. Totals: goods at list price - discounts + shipping.
    totals = pricing.totals(priced, quote.fee_fen)
    # 6. The order with its lines, its discount rows and its first timeline entry, and OrderPlaced.
    order = _new_order(ctx, order_id, request, address, Priced(priced, totals, quote, marketing))
    ctx.session.add(order)
    ctx.session.flush()
    ctx.record(_placed_event(order))
    return order


@dataclass(frozen=True)
class Priced:
    """What placing worked out: the priced lines, the totals and the shipping quote they include."""

    lines: list[pricing.PricedLine]
    totals: pricing.Totals
    quote: gateways.Quote
    marketing: pricing.Quote


def _new_order(
    ctx: OrdersCtx, order_id: str, request: pricing.OrderRequest, address: domain.Address, priced: Priced
) -> Order:
    now, totals = ctx.now, priced.totals
    return Order(
        id=order_id,
        shop_id=request.shop_id,
        buyer_id=request.buyer_id,
        status=domain.PENDING_PAYMENT,
        presale=pricing.order_presale_days(priced.lines) is not None,
        presale_ship_days=pricing.order_presale_days(priced.lines),
        priority=False,
        note=request.note.strip(),
        address=address.to_dict(),
        address_masked=address.masked(),
        receiver_phone=address.phone,
        **searchable_receiver(ctx, address),
        goods_fen=totals.goods_fen,
        discount_fen=totals.discount_fen,
        shipping_fen=totals.shipping_fen,
        payable_fen=totals.payable_fen,
        points_used=priced.marketing.points_used,
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
                presale_ship_days=p.presale_ship_days,
                discount_fen=p.discount_fen,
                paid_fen=p.paid_fen,
                no_7day_return=p.no_7day_return,
                spec=p.spec,
                handling=list(p.handling) or None,
            )
            for i, p in enumerate(priced.lines)
        ],
        discounts=[
            OrderDiscount(
                line_no=d.line,
                sku_code=d.sku_code,
                source=d.source,
                ref=d.ref,
                amount_fen=d.amount_fen,
                funded_by=d.funded_by,
            )
            for d in priced.marketing.discounts
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
            # with catalog's special-goods flag at placing (aftersales refuses a no_reason return of it)
            "lines": [
                {**payload, "no_7day_return": bool(line.no_7day_return)}
                for payload, line in zip(lines_payload(order), order.lines, strict=True)
            ],
            "discounts": discounts_payload(order),
            "points_used": order.points_used,
            "address": order.address_masked,
            "placed_at": iso(aware(order.created_at)),
        },
    )
