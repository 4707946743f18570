"""The waybill: what the warehouse prints and sticks on a parcel, as JSON or as a printable page
(templates/waybill.html)."""

from __future__ import annotations

import jinja2
from flask import Response, request

from ecom_common.auth import requires
from ecom_common.errors import UnprocessableEntity
from ecom_common.http import Blueprint
from ecom_common.usecase import use_case

from .. import operations
from ..settings import Settings

blp = Blueprint("waybill", __name__)

# Autoescape on, for every template: each value printed comes from a caller (receiver, sender,
# carrier, SKU codes). `finalize` prints a missing value (None) as nothing, not "None".
PAGES = jinja2.Environment(
    loader=jinja2.PackageLoader("logistics"), autoescape=True, finalize=lambda value: "" if value is None else value
)


@blp.route("/shipments/<shipment_id>/waybill", methods=["GET"])
@requires("warehouse", "ops", "admin", "service")
@blp.doc(
    responses={200: {"description": "JSON by default; `?format=html` or `Accept: text/html` gives a printable page"}}
)
def waybill(shipment_id):
    """The waybill: sender, masked receiver, order number, carrier, tracking number, SKU lines."""
    with use_case(Settings) as ctx:
        bill = operations.waybill(ctx, shipment_id)  # another shop's shipment is 404 before the format is read
    fmt = request.args.get("format")
    if fmt not in (None, "html", "json"):
        raise UnprocessableEntity("format must be json or html", {"format": ["Must be one of: json, html."]})
    accept = request.accept_mimetypes
    if fmt == "html" or (fmt is None and accept["text/html"] > accept["application/json"]):
        return Response(waybill_html(bill), mimetype="text/html")
    return bill


def waybill_html(bill: dict) -> str:
    """The printable page of a waybill (the dict `waybill` answers as JSON)."""
    return PAGES.get_template("waybill.html").render(bill=bill)
