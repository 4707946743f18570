"""The shop's KPIs (生意参谋 definitions, README "KPIs") over a date range, as JSON for charts or CSV."""

from __future__ import annotations

import csv
import io

from flask import Response
from marshmallow import Schema, fields, validate

from ecom_common.auth import requires, shop_or_all
from ecom_common.http import Blueprint
from ecom_common.usecase import use_case

from .. import domain, operations
from ..settings import Settings

blp = Blueprint("kpis", __name__)


class KpiArgs(Schema):
    shop_id = fields.Str(
        metadata={"description": "platform roles: one shop (default: every shop, the platform totals)"}
    )
    start = fields.Date(data_key="from", metadata={"description": "first day (default: `to`)"})
    end = fields.Date(data_key="to", metadata={"description": "last day, included (default: today in the shop's day)"})
    format = fields.Str(load_default="json", validate=validate.OneOf(["json", "csv"]))


class KpiReportOut(Schema):
    shop_id = fields.Str(allow_none=True, metadata={"description": "null: every shop (platform totals)"})
    start = fields.Str(data_key="from")
    end = fields.Str(data_key="to")
    previous_from = fields.Str()
    previous_to = fields.Str()
    kpis = fields.Dict(keys=fields.Str())
    previous = fields.Dict(keys=fields.Str())
    change = fields.Dict(keys=fields.Str())
    series = fields.List(fields.Dict())
    top_skus = fields.List(fields.Dict())
    top_categories = fields.List(fields.Dict())
    breakdowns = fields.Dict(
        metadata={
            "description": "cases_by_type, complaints_by_tier, escalations_by_tier, sla_breaches_by_kind, carriers"
        }
    )


@blp.route("/kpis", methods=["GET"])
@requires("ops", "finance", "admin")
@blp.arguments(KpiArgs, location="query")
@blp.response(200, KpiReportOut)
@blp.alt_response(200, description="`format=csv`: the daily series and both periods' totals", content_type="text/csv")
def kpis(args):
    """The KPIs of a shop per day over `from`..`to` with the previous period of the same length.
    Merchant staff read their own shop (another shop answers 404); platform roles name a shop or get
    the platform totals."""
    shop_id = shop_or_all(args.get("shop_id"))
    with use_case(Settings) as ctx:
        end = args.get("end") or domain.day_of(ctx.now, ctx.settings.day_utc_offset_hours)
        start = args.get("start") or end
        report = operations.kpi_report(ctx, shop_id, start=start, end=end)
    if args["format"] == "csv":
        return csv_response(report)
    return {**report, "start": report["from"], "end": report["to"]}


def csv_response(report: dict) -> Response:
    """UTF-8 with a BOM (Excel opens Chinese text right), one row per day, then the period's and the
    previous period's totals; no cell starts a formula (domain.csv_cell)."""
    columns = list(report["kpis"])
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["shop_id", "day", *columns])
    shop = report["shop_id"] or "all"
    for row in report["series"]:
        writer.writerow([domain.csv_cell(v) for v in (shop, row["day"], *(row.get(c) for c in columns))])
    period = f"{report['from']}..{report['to']}"
    previous = f"{report['previous_from']}..{report['previous_to']}"
    for label, kpis in ((period, report["kpis"]), (previous, report["previous"])):
        writer.writerow([domain.csv_cell(v) for v in (shop, label, *(kpis[c] for c in columns))])
    filename = f"kpis-{shop}-{report['from']}-{report['to']}.csv"
    return Response(
        out.getvalue().encode("utf-8"),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{domain.csv_cell(filename)}"'},
    )
