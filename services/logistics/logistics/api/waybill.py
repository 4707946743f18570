"""The waybill: what the warehouse prints and sticks on a parcel, as JSON or as a printable page
(templates/waybill.html)."""

from __future__ import annotations

import jinja2
from flask import Response, request

from ecom_common.auth import requires
from ecom_common.clock import iso
from ecom_common.errors import UnprocessableEntity
from ecom_common.http import Blueprint, current_db

from .. import operations as ops
from ..models import Carrier
from .context import now, settings
from .shipments import load_visible

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
    with current_db().Session() as session:
        s = load_visible(session, shipment_id)
        sender, _ = ops.sender_for(session, settings(), s.shop_id)
        carrier = session.get(Carrier, s.carrier) if s.carrier else None
    bill = {
        "shipment_id": s.id,
        "order_id": s.order_id,
        "case_id": s.case_id,
        "shop_id": s.shop_id,
        "status": s.status,
        "carrier": {"code": carrier.code, "name": carrier.name} if carrier else None,
        "tracking_no": s.tracking_no,
        "sender": sender,
        "receiver": s.receiver,
        "lines": s.lines,
        "total_quantity": sum(line["quantity"] for line in s.lines),
        "weight_g": s.weight_g,
        "priority": s.priority,
        "printed_at": iso(now()),
    }
    fmt = request.args.get("format")
    if fmt not in (None, "html", "json"):
        raise UnprocessableEntity("format must be json or html", {"format": ["Must be one of: json, html."]})
    accept = request.accept_mimetypes
    wants_html = fmt == "html" or (fmt is None and accept["text/html"] > accept["application/json"])
    if wants_html:
        return Response(waybill_html(bill), mimetype="text/html")
    return bill


def waybill_html(bill: dict) -> str:
    """The printable page of a waybill (the dict `waybill` answers as JSON)."""
    return PAGES.get_template("waybill.html").render(bill)
