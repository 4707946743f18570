"""Reservations: what each paid order holds or waits for, and the waiting queue."""

from __future__ import annotations

import sqlalchemy as sa
from marshmallow import Schema, fields, validate

from ecom_common.auth import list_filter, requires
from ecom_common.http import Blueprint, current_db
from ecom_common.pagination import PageArgs, paginate
from ecom_common.schemas import TimelineOut, UtcTime, page_of
from ecom_common.usecase import use_case

from .. import queries
from ..domain import ReservationStatus
from ..models import Reservation, ReservationLine
from ..settings import Settings
from .schemas import SHOP_ID

blp = Blueprint("reservations", __name__)


class ReservationLineOut(Schema):
    sku_code = fields.Str()
    quantity = fields.Int()
    warehouse_code = fields.Str(allow_none=True)


class ReservationOut(Schema):
    order_id = fields.Str()
    shop_id = fields.Str()
    status = fields.Str()
    policy = fields.Str(allow_none=True)
    paid_at = UtcTime(allow_none=True)
    short = fields.List(fields.Dict(), allow_none=True)
    created_at = UtcTime()
    updated_at = UtcTime()


class ReservationDetailOut(ReservationOut):
    lines = fields.List(fields.Nested(ReservationLineOut))
    timeline = fields.List(fields.Nested(TimelineOut))


class ReservationArgs(PageArgs):
    shop_id = fields.Str(validate=SHOP_ID)
    status = fields.Str(validate=validate.OneOf(ReservationStatus.ALL))
    sku_code = fields.Str()


ReservationPage = page_of(ReservationOut)


@blp.route("/reservations", methods=["GET"])
@requires("warehouse", "ops", "admin", "service", "cs")
@blp.arguments(ReservationArgs, location="query")
@blp.response(200, ReservationPage)
def list_reservations(args):
    """Reservations, newest first; `status=waiting` lists the waiting queue in the order it is
    served (oldest payment first)."""
    stmt = sa.select(Reservation).where(list_filter(Reservation.shop_id, shop_id=args.get("shop_id")))
    if args.get("status"):
        stmt = stmt.where(Reservation.status == args["status"])
    if args.get("sku_code"):
        stmt = stmt.where(
            Reservation.order_id.in_(
                sa.select(ReservationLine.order_id).where(ReservationLine.sku_code == args["sku_code"])
            )
        )
    with current_db().Session() as session:
        if args.get("status") == ReservationStatus.WAITING:
            return paginate(
                session,
                stmt,
                [Reservation.paid_at, Reservation.order_id],
                args["limit"],
                args.get("cursor"),
                descending=False,
            )
        return paginate(
            session, stmt, [Reservation.created_at, Reservation.order_id], args["limit"], args.get("cursor")
        )


@blp.route("/reservations/<order_id>", methods=["GET"])
@requires("warehouse", "ops", "admin", "service", "cs")
@blp.response(200, ReservationDetailOut)
def get_reservation(order_id):
    """What an order holds or waits for, where, and every status change of it."""
    with use_case(Settings) as ctx:
        return queries.reservation(ctx, order_id)
