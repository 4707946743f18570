"""Service clocks and ownership (首问负责制) over HTTP: each case's and complaint's owner, clocks and
follow-up record; agents add notes, contacts and solutions, or assign the owner; `GET /sla` is the
board of every running clock (CONTRACTS.md: `{items: [{kind, id, shop_id, due_at, seconds_left,
breached}]}`)."""

from __future__ import annotations

import sqlalchemy as sa
from marshmallow import Schema, fields, validate

from ecom_common.auth import list_filter, requires
from ecom_common.clock import aware
from ecom_common.http import Blueprint
from ecom_common.schemas import BodySchema, UtcTime
from ecom_common.usecase import use_case

from .. import service_desk
from ..domain import ComplaintStatus, Status
from ..models import Case, Complaint, ServiceTicket
from ..settings import Settings
from .schemas import FreeText

blp = Blueprint("service", __name__)

DESK = ("cs", "ops", "admin", "service")
AGENTS = ("cs", "admin")


class FollowUpIn(BodySchema):
    entry = fields.Str(required=True, validate=validate.OneOf(service_desk.ENTRIES))
    channel = fields.Str(
        load_default=None,
        validate=validate.OneOf(["phone", "im", "sms", "email"]),
        metadata={"description": "how the buyer was contacted (entry contact)"},
    )
    text = FreeText(required=True, validate=validate.Length(min=1, max=2000))


class AssignIn(BodySchema):
    owner = fields.Str(required=True, validate=validate.Length(min=1, max=120))
    reason = FreeText(load_default=None, validate=validate.Length(max=500))


class ClockOut(Schema):
    milestone = fields.Str()
    due_at = UtcTime()
    met_at = UtcTime(allow_none=True)
    seconds_left = fields.Int(allow_none=True)
    breached = fields.Bool()


class FollowUpOut(Schema):
    entry = fields.Str()
    channel = fields.Str(allow_none=True)
    text = fields.Str()
    at = UtcTime()
    by = fields.Str()


class ServiceOut(Schema):
    kind = fields.Str()
    case_id = fields.Str()
    complaint_id = fields.Str()
    review_id = fields.Str()
    shop_id = fields.Str()
    buyer_id = fields.Str()
    order_id = fields.Str()
    owner = fields.Str(allow_none=True)
    owner_since = UtcTime(allow_none=True)
    opened_at = UtcTime()
    clocks = fields.List(fields.Nested(ClockOut))
    follow_ups = fields.List(fields.Nested(FollowUpOut))


class SlaItemOut(Schema):
    kind = fields.Str()
    id = fields.Str()
    shop_id = fields.Str()
    owner = fields.Str(allow_none=True)
    due_at = UtcTime()
    seconds_left = fields.Int()
    breached = fields.Bool()


class SlaBoardOut(Schema):
    items = fields.List(fields.Nested(SlaItemOut))


class SlaArgs(Schema):
    shop_id = fields.Str(metadata={"description": "platform roles: one shop (default: every shop)"})


KINDS = {"cases": service_desk.CASE, "complaints": service_desk.COMPLAINT, "reviews": service_desk.REVIEW}


def _routes(plural: str, key: str, readable: bool = True) -> None:
    kind = KINDS[plural]

    if readable:

        @blp.route(f"/{plural}/<{key}>/service", methods=["GET"], endpoint=f"{kind}_service")
        @requires(*DESK)
        @blp.response(200, ServiceOut)
        def read(**ids):
            """The owner, service clocks and follow-up record."""
            with use_case(Settings) as ctx:
                return service_desk.read(ctx, kind, ids[key])

    @blp.route(f"/{plural}/<{key}>/follow-ups", methods=["POST"], endpoint=f"{kind}_follow_up")
    @requires(*AGENTS)
    @blp.arguments(FollowUpIn)
    @blp.response(201, ServiceOut)
    def follow_up(args, **ids):
        """A note, a contact with the buyer or a proposed solution; the first agent to answer owns it."""
        with use_case(Settings) as ctx:
            line = service_desk.Entry(args["entry"], args["text"], args.get("channel"))
            return service_desk.follow_up(ctx, kind, ids[key], line=line)

    @blp.route(f"/{plural}/<{key}>/assign", methods=["POST"], endpoint=f"{kind}_assign")
    @requires(*AGENTS)
    @blp.arguments(AssignIn)
    @blp.response(200, ServiceOut)
    def assign(args, **ids):
        """Hand the request to another agent (who then owns it)."""
        with use_case(Settings) as ctx:
            return service_desk.assign(ctx, kind, ids[key], owner=args["owner"], reason=args.get("reason"))


_routes("cases", "case_id")
_routes("complaints", "complaint_id")
_routes("reviews", "review_id", readable=False)  # a bad review's task is shown on GET /reviews


@blp.route("/sla", methods=["GET"])
@requires(*DESK)
@blp.arguments(SlaArgs, location="query")
@blp.response(200, SlaBoardOut)
def sla_board(args):
    """Every running clock, most urgent first: cases (response / refund / reship), complaints (their
    tier's milestone) and the service clocks of both (first response, solution, resolution)."""
    shop = args.get("shop_id")
    with use_case(Settings) as ctx:
        now, items = ctx.now, []
        cases = sa.select(Case).where(
            list_filter(Case.shop_id, None, shop), Case.status.not_in(Status.FINAL), Case.sla_due_at.is_not(None)
        )
        for c in ctx.session.execute(cases.limit(1000)).scalars():
            items.append(_item(f"case.{c.sla_kind}", c, c.sla_due_at, now))
        complaints = sa.select(Complaint).where(
            list_filter(Complaint.shop_id, None, shop),
            Complaint.status != ComplaintStatus.RESOLVED,
            Complaint.met_at.is_(None),
        )
        for k in ctx.session.execute(complaints.limit(1000)).scalars():
            items.append(_item(f"complaint.{k.milestone}", k, k.due_at, now))
        for clock in service_desk.open_clocks(ctx, where=list_filter(ServiceTicket.shop_id, None, shop)):
            items.append({**clock, "kind": f"service.{clock['kind']}"})
    items.sort(key=lambda i: i["due_at"])
    return {"items": items}


def _item(kind: str, thing: Case | Complaint, due_at, now) -> dict:
    due = aware(due_at)
    left = int((due - now).total_seconds())
    return {
        "kind": kind,
        "id": thing.id,
        "shop_id": thing.shop_id,
        "owner": None,
        "due_at": due,
        "seconds_left": left,
        "breached": left < 0,
    }
