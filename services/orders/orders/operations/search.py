"""Finding orders: the filters of the order list and its CSV export, phone search included.

A phone is matched on what is stored for search (orders.receiver_phone_last4, and the keyed hash
orders.receiver_phone_hash), never by a plain-text search over phones or over the masked copy."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from .. import domain
from ..models import Order, OrderLine
from .transitions import OrdersCtx


def phone_hash(ctx: OrdersCtx, phone: str | None) -> str:
    """The stored, searchable form of a receiver's full phone number (domain.phone_digest)."""
    return domain.phone_digest(ctx.settings.phone_key(ctx.uow.db.config.jwt_secret), phone)


def searchable_receiver(ctx: OrdersCtx, address: domain.Address) -> dict[str, str]:
    """The columns search matches, for an order placed or re-addressed to `address`."""
    return {
        "receiver_phone_last4": domain.phone_last4(address.phone),
        "receiver_phone_hash": phone_hash(ctx, address.phone),
        "receiver_name": address.name[:50],
    }


def order_filters(ctx: OrdersCtx, args: Mapping[str, Any]) -> list[sa.ColumnElement[bool]]:
    """The WHERE conditions of the list's filters (the caller adds the tenancy scope).

    `phone`: four digits match the last four digits (尾号); a longer number matches the full number in
    any spelling (+86, spaces, dashes, full-width digits). `receiver_name`: the name as written.
    `sku_code`: orders with a line of that SKU. `created_from`/`created_to`: when it was placed."""
    where: list[sa.ColumnElement[bool]] = []
    if args.get("status"):
        where.append(Order.status.in_(args["status"]))
    if args.get("tab"):
        where.append(Order.status.in_(dict((t[0], t[2]) for t in domain.TABS)[args["tab"]]))
    if args.get("buyer_id"):
        where.append(Order.buyer_id == args["buyer_id"])
    if args.get("created_from"):
        where.append(Order.created_at >= args["created_from"])
    if args.get("created_to"):
        where.append(Order.created_at <= args["created_to"])
    if args.get("min_payable_fen") is not None:
        where.append(Order.payable_fen >= args["min_payable_fen"])
    if args.get("max_payable_fen") is not None:
        where.append(Order.payable_fen <= args["max_payable_fen"])
    if args.get("held_reason"):
        where.append(Order.held_reasons.like(f"%,{args['held_reason']},%"))
    if args.get("priority") is not None:
        where.append(Order.priority.is_(args["priority"]))
    if args.get("phone"):
        digits = domain.phone_digits(args["phone"])
        if len(digits) == 4:
            where.append(Order.receiver_phone_last4 == digits)
        else:
            where.append(Order.receiver_phone_hash == phone_hash(ctx, digits))
    if args.get("receiver_name"):
        where.append(Order.receiver_name == args["receiver_name"].strip())
    if args.get("sku_code"):
        where.append(sa.exists().where(OrderLine.order_id == Order.id, OrderLine.sku_code == args["sku_code"].strip()))
    return where
