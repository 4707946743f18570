"""Reports on days of cover: the pre-promotion check (SKUs with fewer than 15 days of cover ahead of
a declared promotion period) and slow movers / overstock."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from ecom_common.auth import requires, shop_for_read
from ecom_common.http import Blueprint
from ecom_common.schemas import UtcTime
from ecom_common.usecase import use_case

from .. import reports
from ..settings import Settings
from .schemas import PLATFORM_NAMES_SHOP, SHOP_ID

blp = Blueprint("reports", __name__)
DAYS = validate.Range(min=1, max=3650)


class CoverArgs(Schema):
    shop_id = fields.Str(validate=SHOP_ID, metadata={"description": PLATFORM_NAMES_SHOP})
    period_id = fields.Str(
        validate=validate.Length(min=1, max=40),
        metadata={"description": "a period marketing declared; none: the next one not over yet"},
    )
    cover_days = fields.Int(validate=DAYS, metadata={"description": "default INVENTORY_PROMOTION_COVER_DAYS (15)"})


class PeriodOut(Schema):
    period_id = fields.Str()
    name = fields.Str()
    starts_at = fields.Str()
    ends_at = fields.Str()
    days_to_start = fields.Float()


class CoverLineOut(Schema):
    sku_code = fields.Str()
    available = fields.Int()
    sold_in_window = fields.Int()
    average_daily_sales = fields.Float()
    days_of_cover = fields.Float()
    needed_units = fields.Int(metadata={"description": "units missing to reach cover_days"})


class CoverOut(Schema):
    shop_id = fields.Str()
    as_of = fields.Str()
    cover_days = fields.Int()
    window_days = fields.Int()
    period = fields.Nested(PeriodOut, allow_none=True)
    items = fields.List(fields.Nested(CoverLineOut))


@blp.route("/reports/promotion-cover", methods=["GET"])
@requires("warehouse", "ops", "admin")
@blp.arguments(CoverArgs, location="query")
@blp.response(200, CoverOut)
def promotion_cover(args):
    """SKUs with fewer than `cover_days` days of cover (available / average daily sales over the
    last INVENTORY_REPLENISH_WINDOW_DAYS), fewest first, ahead of a declared promotion period (404
    for an unknown or cancelled one; `period: null` when none is declared)."""
    shop_id = shop_for_read(args.get("shop_id"))
    with use_case(Settings) as ctx:
        return reports.promotion_cover(ctx, shop_id, period_id=args.get("period_id"), cover_days=args.get("cover_days"))


class SlowArgs(Schema):
    shop_id = fields.Str(validate=SHOP_ID, metadata={"description": PLATFORM_NAMES_SHOP})
    no_sales_days = fields.Int(validate=DAYS, metadata={"description": "default INVENTORY_SLOW_MOVER_DAYS (60)"})
    overstock_days = fields.Int(validate=DAYS, metadata={"description": "default INVENTORY_OVERSTOCK_DAYS (90)"})


class SlowLineOut(Schema):
    sku_code = fields.Str()
    on_hand = fields.Int()
    available = fields.Int()
    last_sold_at = UtcTime(allow_none=True)
    days_since_sale = fields.Int(allow_none=True)


class OverLineOut(SlowLineOut):
    average_daily_sales = fields.Float()
    days_of_cover = fields.Float(allow_none=True)
    excess_units = fields.Int(metadata={"description": "available beyond overstock_days of sales"})


class SlowOut(Schema):
    shop_id = fields.Str()
    as_of = fields.Str()
    window_days = fields.Int()
    no_sales_days = fields.Int()
    overstock_days = fields.Int()
    slow_movers = fields.List(fields.Nested(SlowLineOut))
    overstock = fields.List(fields.Nested(OverLineOut))


@blp.route("/reports/slow-movers", methods=["GET"])
@requires("warehouse", "ops", "admin")
@blp.arguments(SlowArgs, location="query")
@blp.response(200, SlowOut)
def slow_movers(args):
    """Slow movers (units on hand, no sale in `no_sales_days` or ever) and overstock (sells, but
    available covers more than `overstock_days` days)."""
    shop_id = shop_for_read(args.get("shop_id"))
    with use_case(Settings) as ctx:
        return reports.slow_movers(
            ctx, shop_id, no_sales_days=args.get("no_sales_days"), overstock_days=args.get("overstock_days")
        )
