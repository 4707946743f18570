"""Goods as billing learns of them (三流合一's third flow): what logistics dispatched and what
aftersales received back, per SKU, kept in billing's own table (models.GoodsMovement).

Each fact is stored once: the consumer's inbox drops a redelivered event, and the unique key
(direction, shipment or case, SKU) drops the same fact announced again under a new event id.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from ecom_common.usecase import Ctx

from ..models import GoodsMovement
from ..settings import Settings

OUT, IN = "out", "in"


@dataclass(frozen=True)
class GoodsFact:
    direction: str  # out: a shipment dispatched; in: a return received
    ref_id: str  # the shipment, or the return's case
    order_id: str
    shop_id: str
    lines: list[dict]  # [{sku_code, quantity}] as the event carries them
    at: datetime
    case_id: str | None = None  # out: an exchange's replacement; in: the return's case


def record_goods(ctx: Ctx[Settings], fact: GoodsFact) -> int:
    """Store the fact's units per SKU; 0 when billing knew it already."""
    known = ctx.session.execute(
        sa.select(GoodsMovement.id).where(
            GoodsMovement.direction == fact.direction, GoodsMovement.ref_id == fact.ref_id
        )
    ).first()
    if known is not None:
        return 0
    units: dict[str, int] = {}
    for line in fact.lines:
        units[line["sku_code"]] = units.get(line["sku_code"], 0) + int(line["quantity"])
    for sku, quantity in units.items():
        ctx.session.add(
            GoodsMovement(
                direction=fact.direction,
                ref_id=fact.ref_id,
                order_id=fact.order_id,
                shop_id=fact.shop_id,
                case_id=fact.case_id,
                sku_code=sku,
                quantity=quantity,
                at=fact.at,
            )
        )
    ctx.session.flush()
    return sum(units.values())
