"""Campaign ROI (README "Campaign ROI"): each promotion's and coupon source's attributed paid amount
against what it gave away, over a date range, as JSON or CSV."""

from __future__ import annotations

import csv
import io

from flask import Response
from marshmallow import Schema, fields

from ecom_common.auth import requires, shop_or_all
from ecom_common.http import Blueprint
from ecom_common.usecase import use_case

from .. import domain, operations
from ..settings import Settings
from .kpis import KpiArgs

blp = Blueprint("campaigns", __name__)

COLUMNS = ("shop_id", "source", "ref", "orders", "attributed_fen", "spend_fen", "roi", "meets_target")


class CampaignRoiOut(Schema):
    shop_id = fields.Str(allow_none=True, metadata={"description": "null: every shop (platform totals)"})
    start = fields.Str(data_key="from")
    end = fields.Str(data_key="to")
    target_roi = fields.Float(metadata={"description": "the SOP's bar: ROI >= 3"})
    campaigns = fields.List(fields.Dict(), metadata={"description": "one row per shop, source and promotion"})
    total = fields.Dict()


@blp.route("/campaigns/roi", methods=["GET"])
@requires("ops", "finance", "admin")
@blp.arguments(KpiArgs, location="query")
@blp.response(200, CampaignRoiOut)
@blp.alt_response(200, description="`format=csv`: one row per campaign, then the total", content_type="text/csv")
def campaign_roi(args):
    """ROI = paid amount of the paid orders that used a promotion or coupon source / the discount it
    gave them, by paid day. Merchant staff read their own shop (another answers 404); platform roles
    name a shop or read every shop."""
    shop_id = shop_or_all(args.get("shop_id"))
    with use_case(Settings) as ctx:
        end = args.get("end") or domain.day_of(ctx.now, ctx.settings.day_utc_offset_hours)
        start = args.get("start") or end
        report = operations.campaign_roi(ctx, shop_id, start=start, end=end)
    if args["format"] == "csv":
        return csv_response(report)
    return {**report, "start": report["from"], "end": report["to"]}


def csv_response(report: dict) -> Response:
    """UTF-8 with a BOM, one row per campaign and a total row; no cell starts a formula."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for row in report["campaigns"]:
        writer.writerow([domain.csv_cell(row[c]) for c in COLUMNS])
    total = report["total"]
    roi = total["roi"]
    meets = roi is not None and roi >= domain.ROI_TARGET
    cells = (report["shop_id"] or "all", "total", None, None, total["attributed_fen"], total["spend_fen"], roi, meets)
    writer.writerow([domain.csv_cell(v) for v in cells])
    filename = f"campaign-roi-{report['shop_id'] or 'all'}-{report['from']}-{report['to']}.csv"
    return Response(
        out.getvalue().encode("utf-8"),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{domain.csv_cell(filename)}"'},
    )
