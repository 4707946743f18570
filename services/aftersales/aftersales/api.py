"""aftersales HTTP API: flask-smorest blueprint and marshmallow schemas.

Who may do what (CONTRACTS.md roles): a buyer opens cases and complaints on their own orders, ships
returns and gives feedback; `cs` of the shop approves, rejects, retries refunds and handles
complaints; `warehouse` of the shop inspects returns; `admin` may act for any shop. A buyer sees only
their own cases, shop staff only their shop's; anyone else's answers 404.
"""

from __future__ import annotations

import sqlalchemy as sa
from marshmallow import Schema, fields, validate

from ecom_common.auth import (
    current_principal,
    list_filter,
    not_found_unless,
    requires,
    shop_for_read,
    shop_or_all,
    visible,
)
from ecom_common.clock import aware, iso
from ecom_common.db import is_unique_violation
from ecom_common.errors import Conflict
from ecom_common.http import MAX_INT, Blueprint, BodySchema, PageArgs, UtcTime, current_config, current_db, paginate
from ecom_common.idempotency import idempotent
from ecom_common.privacy import scrub

from . import domain, operations
from .domain import CaseType, ComplaintStatus, Reason, Status, Tier
from .gateways import orders_gateway
from .models import Case, Complaint, Feedback

blp = Blueprint(
    "aftersales",
    __name__,
    url_prefix="/api/v1",
    description="Return, exchange and refund-only cases, complaints, SLAs and feedback",
)

STAFF = ("cs", "ops", "warehouse", "finance", "admin", "service")


# Schemas -----------------------------------------------------------------------------------------


class FreeText(fields.Str):
    """Text people write (evidence, complaints, replies, notes): a phone number in it is masked on
    arrival, so it is never stored, listed, logged or sent in an event unmasked (CONTRACTS.md "Auth").
    cs reaches the buyer through the order, whose full address it may read."""

    def _deserialize(self, value, attr, data, **kwargs):
        return scrub(super()._deserialize(value, attr, data, **kwargs))


class LineIn(BodySchema):
    sku_code = fields.Str(required=True, validate=validate.Length(min=1, max=64))
    quantity = fields.Int(required=True, validate=validate.Range(min=1, max=MAX_INT))
    new_sku_code = fields.Str(
        validate=validate.Length(min=1, max=64), metadata={"description": "exchange only: the spec to ship instead"}
    )


class EvidenceIn(BodySchema):
    images = fields.List(fields.Url(), load_default=list, validate=validate.Length(max=9))
    text = FreeText(load_default="", validate=validate.Length(max=2000))


class CaseCreate(BodySchema):
    order_id = fields.Str(required=True, validate=validate.Length(min=1, max=40))
    type = fields.Str(required=True, validate=validate.OneOf(CaseType.ALL))
    reason = fields.Str(required=True, validate=validate.OneOf(Reason.ALL))
    lines = fields.List(
        fields.Nested(LineIn),
        load_default=list,
        metadata={"description": "omit for a refund-only before shipment (whole order)"},
    )
    amount_fen = fields.Int(
        validate=validate.Range(min=0, max=MAX_INT), metadata={"description": "default: what was paid for the lines"}
    )
    evidence = fields.Nested(EvidenceIn, load_default=lambda: {"images": [], "text": ""})


class LineOut(Schema):
    sku_code = fields.Str()
    quantity = fields.Int()
    unit_price_fen = fields.Int()
    amount_fen = fields.Int()
    new_sku_code = fields.Str(allow_none=True)


class TimelineOut(Schema):
    """The timeline entry every service returns (cases and complaints alike)."""

    at = UtcTime()
    by = fields.Str()
    action = fields.Str()
    from_status = fields.Str(allow_none=True, metadata={"description": "the status before (null for the first entry)"})
    status = fields.Str(metadata={"description": "the status after the entry"})
    reason = fields.Str(allow_none=True)


class SlaOut(Schema):
    kind = fields.Str(allow_none=True)
    due_at = UtcTime(allow_none=True)
    seconds_left = fields.Int(allow_none=True)
    overdue = fields.Bool()


class CaseOut(Schema):
    case_id = fields.Str()
    order_id = fields.Str()
    shop_id = fields.Str()
    buyer_id = fields.Str()
    type = fields.Str()
    reason = fields.Str()
    status = fields.Str()
    amount_fen = fields.Int()
    lines = fields.List(fields.Nested(LineOut))
    evidence = fields.Dict()
    before_shipment = fields.Bool()
    shipping_paid_by = fields.Str(allow_none=True)
    return_address = fields.Str(allow_none=True)
    return_shipment = fields.Dict(allow_none=True)
    inspection = fields.Dict(allow_none=True)
    refund = fields.Dict()
    replacement = fields.Dict(allow_none=True)
    sla = fields.Nested(SlaOut)
    allowed_actions = fields.List(fields.Str())
    timeline = fields.List(fields.Nested(TimelineOut))
    created_at = UtcTime()
    updated_at = UtcTime()
    closed_at = UtcTime(allow_none=True)


class CasePage(Schema):
    items = fields.List(fields.Nested(CaseOut))
    next_cursor = fields.Str(allow_none=True)


class CaseListArgs(PageArgs):
    status = fields.Str(validate=validate.OneOf(Status.ALL))
    type = fields.Str(validate=validate.OneOf(CaseType.ALL))
    order_id = fields.Str()
    shop_id = fields.Str(metadata={"description": "platform roles only; shop staff see their own shop"})
    overdue = fields.Bool(metadata={"description": "only open cases whose SLA clock has run out"})


class ReasonIn(BodySchema):
    reason = FreeText(load_default=None, validate=validate.Length(max=1000))


class RejectIn(BodySchema):
    reason = FreeText(required=True, validate=validate.Length(min=1, max=1000))


class ReturnShipmentIn(BodySchema):
    carrier = fields.Str(required=True, validate=validate.Length(min=1, max=64))
    tracking_no = fields.Str(required=True, validate=validate.Length(min=4, max=64))


class ReceiveIn(BodySchema):
    resellable = fields.Bool(required=True)
    note = FreeText(load_default=None, validate=validate.Length(max=1000))


class FeedbackIn(BodySchema):
    score = fields.Int(required=True, validate=validate.Range(min=1, max=5))
    comment = FreeText(load_default=None, validate=validate.Length(max=2000))


class FeedbackOut(Schema):
    case_id = fields.Str()
    shop_id = fields.Str()
    score = fields.Int()
    comment = fields.Str(allow_none=True)
    created_at = UtcTime()


class FeedbackReportArgs(Schema):
    shop_id = fields.Str(metadata={"description": "required for platform roles"})


class FeedbackReportOut(Schema):
    shop_id = fields.Str()
    count = fields.Int()
    average_score = fields.Float(allow_none=True)
    distribution = fields.Dict(keys=fields.Str(), values=fields.Int())
    satisfied_share = fields.Float(allow_none=True)
    recent = fields.List(fields.Nested(FeedbackOut))


class ComplaintCreate(BodySchema):
    order_id = fields.Str(required=True, validate=validate.Length(min=1, max=40))
    tier = fields.Str(required=True, validate=validate.OneOf(Tier.ALL))
    text = FreeText(required=True, validate=validate.Length(min=1, max=5000))


class ComplaintActionIn(BodySchema):
    text = FreeText(required=True, validate=validate.Length(min=1, max=5000))


class EscalationOut(Schema):
    kind = fields.Str()
    at = UtcTime()
    reason = fields.Str()


class ComplaintOut(Schema):
    complaint_id = fields.Str()
    order_id = fields.Str()
    shop_id = fields.Str()
    buyer_id = fields.Str()
    tier = fields.Str()
    text = fields.Str()
    status = fields.Str()
    milestone = fields.Str()
    sla = fields.Nested(SlaOut)
    met_at = UtcTime(allow_none=True)
    response = fields.Str(allow_none=True)
    resolution = fields.Str(allow_none=True)
    escalations = fields.List(fields.Nested(EscalationOut))
    timeline = fields.List(fields.Nested(TimelineOut))
    created_at = UtcTime()
    updated_at = UtcTime()


class ComplaintPage(Schema):
    items = fields.List(fields.Nested(ComplaintOut))
    next_cursor = fields.Str(allow_none=True)


class ComplaintListArgs(PageArgs):
    tier = fields.Str(validate=validate.OneOf(Tier.ALL))
    status = fields.Str(validate=validate.OneOf(ComplaintStatus.ALL))
    order_id = fields.Str()
    shop_id = fields.Str()
    overdue = fields.Bool()


class DashboardArgs(Schema):
    shop_id = fields.Str(metadata={"description": "platform roles: one shop (default: all shops)"})


class DashboardOut(Schema):
    generated_at = UtcTime()
    shop_id = fields.Str(allow_none=True)
    tiers = fields.Dict()


# Helpers -----------------------------------------------------------------------------------------
def _now():
    return current_config().clock.now()


def _policy() -> domain.Policy:
    return domain.Policy.from_config(current_config())


def case_json(case: Case, now, detail: bool = True) -> dict:
    running = case.status not in Status.FINAL
    sla = {"kind": case.sla_kind if running else None, **domain.time_left(case.sla_due_at if running else None, now)}
    out = {
        "case_id": case.id,
        "order_id": case.order_id,
        "shop_id": case.shop_id,
        "buyer_id": case.buyer_id,
        "type": case.case_type,
        "reason": case.reason,
        "status": case.status,
        "amount_fen": case.amount_fen,
        "lines": [
            {
                "sku_code": l.sku_code,
                "quantity": l.quantity,
                "unit_price_fen": l.unit_price_fen,
                "amount_fen": l.amount_fen,
                "new_sku_code": l.new_sku_code,
            }
            for l in case.lines
        ],
        "evidence": case.evidence or {},
        "before_shipment": case.before_shipment,
        "shipping_paid_by": case.shipping_paid_by,
        "return_address": case.return_address,
        "return_shipment": (
            {"carrier": case.return_carrier, "tracking_no": case.return_tracking_no}
            if case.return_tracking_no
            else None
        ),
        "inspection": (
            {"resellable": case.resellable, "note": case.inspection_note, "received_at": iso(aware(case.received_at))}
            if case.received_at
            else None
        ),
        "refund": {
            "attempts": case.refund_attempts,
            "failed": case.refund_failed,
            "last_error": case.last_refund_error,
            "refund_id": case.refund_id,
        },
        "replacement": (
            {"shipment_id": case.reship_shipment_id, "tracking_no": case.reship_tracking_no}
            if case.reship_shipment_id
            else None
        ),
        "sla": sla,
        "allowed_actions": domain.allowed_actions(case.case_type, case.status),
        "created_at": case.created_at,
        "updated_at": case.updated_at,
        "closed_at": case.closed_at,
    }
    if detail:
        out["timeline"] = timeline_json(case.timeline, lambda t: t.reason)
    return out


def timeline_json(entries, why) -> list[dict]:
    """Entries in the common shape. Every change of status is written to the timeline from creation on, so
    the status before an entry is the status after the one before it."""
    out, before = [], None
    for t in entries:
        out.append(
            {"at": t.at, "by": t.by, "action": t.action, "from_status": before, "status": t.status, "reason": why(t)}
        )
        before = t.status
    return out


def complaint_json(c: Complaint, now, detail: bool = True) -> dict:
    running = c.status != ComplaintStatus.RESOLVED and c.met_at is None
    clock = (
        domain.time_left(c.due_at, now)
        if running
        else {"due_at": aware(c.due_at), "seconds_left": None, "overdue": False}
    )
    out = {
        "complaint_id": c.id,
        "order_id": c.order_id,
        "shop_id": c.shop_id,
        "buyer_id": c.buyer_id,
        "tier": c.tier,
        "text": c.text,
        "status": c.status,
        "milestone": c.milestone,
        "sla": {"kind": c.milestone, **clock},
        "met_at": c.met_at,
        "response": c.response,
        "resolution": c.resolution,
        "escalations": [{"kind": e.kind, "at": e.at, "reason": e.reason} for e in c.escalations],
        "created_at": c.created_at,
        "updated_at": c.updated_at,
    }
    if detail:
        out["timeline"] = timeline_json(c.timeline, lambda t: t.note)
    return out


def _load_case(session, case_id: str) -> Case:
    case = session.get(Case, case_id)
    not_found_unless(case is not None and visible(case.shop_id, case.buyer_id), "case")
    return case


def _load_complaint(session, complaint_id: str) -> Complaint:
    c = session.get(Complaint, complaint_id)
    not_found_unless(c is not None and visible(c.shop_id, c.buyer_id), "complaint")
    return c


def _buyers_order(order_id: str) -> domain.OrderView:
    """The order from orders (service token), or 404 when it is unknown or someone else's."""
    order = orders_gateway().get_order(order_id)
    not_found_unless(order is not None and current_principal().owns(order.buyer_id), "order")
    return order


# Cases -------------------------------------------------------------------------------------------
@blp.route("/cases", methods=["POST"])
@requires("buyer")
@idempotent()
@blp.arguments(CaseCreate)
@blp.response(201, CaseOut)
def create_case(args):
    """Open a return, exchange or refund-only case on one of your orders.

    Checked against the order fetched from orders: delivered or completed (refund-only also before
    shipment, which cancels the order), lines and quantities bought, amount not above what was paid
    and not claimed by another case, "no_reason" within AFTERSALES_NO_REASON_DAYS of delivery.
    A refund-only below AFTERSALES_AUTO_APPROVE_FEN is approved at once."""
    p = current_principal()
    order = _buyers_order(args["order_id"])  # before any write: orders down -> 503, nothing written
    now, policy = _now(), _policy()
    lines = [domain.RequestedLine(l["sku_code"], l["quantity"], l.get("new_sku_code")) for l in args["lines"]]
    draft = domain.draft_case(order, args["type"], args["reason"], lines, args.get("amount_fen"), now, policy)
    with current_db().uow() as uow:
        case = operations.open_case(uow, draft, p.sub, args["evidence"], now, policy)
        body = case_json(case, now)
        uow.commit()
    return body


@blp.route("/cases", methods=["GET"])
@requires("buyer", *STAFF)
@blp.arguments(CaseListArgs, location="query")
@blp.response(200, CasePage)
def list_cases(args):
    """Cases, newest first. Buyers see their own, shop staff their shop's; `overdue=true` lists open
    cases whose SLA (response, refund or replacement) has run out."""
    now = _now()
    stmt = sa.select(Case).where(list_filter(Case.shop_id, Case.buyer_id, args.get("shop_id")))
    for key, col in (("status", Case.status), ("type", Case.case_type), ("order_id", Case.order_id)):
        if args.get(key):
            stmt = stmt.where(col == args[key])
    if args.get("overdue") is True:
        stmt = stmt.where(Case.sla_due_at < now, Case.status.not_in(tuple(Status.FINAL)))
    elif args.get("overdue") is False:
        stmt = stmt.where(sa.or_(Case.sla_due_at.is_(None), Case.sla_due_at >= now))
    with current_db().Session() as session:
        return paginate(
            session,
            stmt,
            [Case.created_at, Case.id],
            args["limit"],
            args.get("cursor"),
            to_item=lambda c: case_json(c, now, detail=False),
        )


@blp.route("/cases/<case_id>", methods=["GET"])
@requires("buyer", *STAFF)
@blp.response(200, CaseOut)
def get_case(case_id):
    """One case with its timeline and SLA clock."""
    with current_db().Session() as session:
        return case_json(_load_case(session, case_id), _now())


def _act(case_id: str, work) -> dict:
    now, policy = _now(), _policy()
    with current_db().uow() as uow:
        case = _load_case(uow.session, case_id)
        work(uow, case, current_principal(), now, policy)
        uow.session.expire_all()
        body = case_json(uow.session.get(Case, case_id), now)
        uow.commit()
    return body


@blp.route("/cases/<case_id>/approve", methods=["POST"])
@requires("cs", "admin")
@blp.arguments(ReasonIn)
@blp.response(200, CaseOut)
def approve_case(args, case_id):
    """cs approves: a return or exchange waits for the buyer's parcel (the shop's return address is
    on the case); a refund-only goes to refunding at once."""
    return _act(
        case_id, lambda uow, case, p, now, policy: operations.approve(uow, case, p.sub, now, policy, args.get("reason"))
    )


@blp.route("/cases/<case_id>/reject", methods=["POST"])
@requires("cs", "admin")
@blp.arguments(RejectIn)
@blp.response(200, CaseOut)
def reject_case(args, case_id):
    """cs rejects with a reason; the units and amount become claimable again."""
    return _act(
        case_id, lambda uow, case, p, now, policy: operations.reject(uow, case, p.sub, now, policy, args["reason"])
    )


@blp.route("/cases/<case_id>/return-shipment", methods=["POST"])
@requires("buyer")
@blp.arguments(ReturnShipmentIn)
@blp.response(200, CaseOut)
def return_shipment(args, case_id):
    """The buyer sent the goods back: carrier and tracking number (approved -> awaiting_return)."""
    return _act(
        case_id,
        lambda uow, case, p, now, policy: operations.ship_return(
            uow, case, p.sub, now, policy, args["carrier"], args["tracking_no"]
        ),
    )


@blp.route("/cases/<case_id>/receive", methods=["POST"])
@requires("warehouse", "admin")
@blp.arguments(ReceiveIn)
@blp.response(200, CaseOut)
def receive_return(args, case_id):
    """The warehouse inspected the returned goods (ReturnReceived{resellable}); a return goes on to
    refunding (RefundApproved), an exchange asks logistics for the replacement (ReshipRequested)."""
    return _act(
        case_id,
        lambda uow, case, p, now, policy: operations.receive(
            uow, case, p.sub, now, policy, args["resellable"], args.get("note")
        ),
    )


@blp.route("/cases/<case_id>/retry-refund", methods=["POST"])
@requires("cs", "admin")
@blp.arguments(ReasonIn)
@blp.response(200, CaseOut)
def retry_refund(args, case_id):
    """Ask billing again after it reported RefundFailed (409 unless the last refund failed)."""
    return _act(
        case_id,
        lambda uow, case, p, now, policy: operations.start_refund(
            uow, case, p.sub, now, policy, args.get("reason") or "refund retried", retry=True
        ),
    )


@blp.route("/cases/<case_id>/feedback", methods=["POST"])
@requires("buyer")
@idempotent()
@blp.arguments(FeedbackIn)
@blp.response(201, FeedbackOut)
def give_feedback(args, case_id):
    """Satisfaction (1-5) and a comment once the case is over (closed or rejected); once per case."""
    now = _now()
    with current_db().uow() as uow:
        case = _load_case(uow.session, case_id)
        domain.check_feedback_allowed(case.status)
        fb = Feedback(
            case_id=case.id,
            shop_id=case.shop_id,
            buyer_id=case.buyer_id,
            score=args["score"],
            comment=args.get("comment"),
            created_at=now,
        )
        uow.session.add(fb)
        try:
            uow.session.flush()
        except sa.exc.IntegrityError as exc:
            if is_unique_violation(exc):
                raise Conflict("feedback was already given for this case", {"case_id": ["Feedback exists."]}) from exc
            raise
        uow.commit()
        return fb


@blp.route("/feedback/report", methods=["GET"])
@requires("cs", "ops", "admin", "finance")
@blp.arguments(FeedbackReportArgs, location="query")
@blp.response(200, FeedbackReportOut)
def feedback_report(args):
    """Satisfaction per shop: count, average, distribution of scores, share of 4-5, latest comments."""
    shop_id = shop_for_read(args.get("shop_id"))
    with current_db().Session() as session:
        rows = session.execute(
            sa.select(Feedback.score, sa.func.count()).where(Feedback.shop_id == shop_id).group_by(Feedback.score)
        ).all()
        recent = (
            session.execute(
                sa.select(Feedback)
                .where(Feedback.shop_id == shop_id)
                .order_by(Feedback.created_at.desc(), Feedback.case_id.desc())
                .limit(10)
            )
            .scalars()
            .all()
        )
    dist = {str(s): 0 for s in range(1, 6)}
    for score, n in rows:
        dist[str(score)] = n
    count = sum(dist.values())
    total = sum(int(s) * n for s, n in dist.items())
    return {
        "shop_id": shop_id,
        "count": count,
        "average_score": round(total / count, 2) if count else None,
        "distribution": dist,
        "satisfied_share": round((dist["4"] + dist["5"]) / count, 4) if count else None,
        "recent": recent,
    }


# Complaints --------------------------------------------------------------------------------------
@blp.route("/complaints", methods=["POST"])
@requires("buyer")
@idempotent()
@blp.arguments(ComplaintCreate)
@blp.response(201, ComplaintOut)
def create_complaint(args):
    """A complaint about one of your orders. The tier sets the clock: general -> first response in
    2 h, serious -> a solution in 4 h, crisis -> escalated to admin at once and a statement in 24 h."""
    p = current_principal()
    order = _buyers_order(args["order_id"])
    now, policy = _now(), _policy()
    with current_db().uow() as uow:
        c = operations.open_complaint(uow, order, p.sub, args["tier"], args["text"], now, policy)
        uow.session.expire_all()
        body = complaint_json(uow.session.get(Complaint, c.id), now)
        uow.commit()
    return body


@blp.route("/complaints", methods=["GET"])
@requires("buyer", *STAFF)
@blp.arguments(ComplaintListArgs, location="query")
@blp.response(200, ComplaintPage)
def list_complaints(args):
    now = _now()
    stmt = sa.select(Complaint).where(list_filter(Complaint.shop_id, Complaint.buyer_id, args.get("shop_id")))
    for key, col in (("tier", Complaint.tier), ("status", Complaint.status), ("order_id", Complaint.order_id)):
        if args.get(key):
            stmt = stmt.where(col == args[key])
    if args.get("overdue"):
        stmt = stmt.where(
            Complaint.met_at.is_(None), Complaint.status != ComplaintStatus.RESOLVED, Complaint.due_at < now
        )
    with current_db().Session() as session:
        return paginate(
            session,
            stmt,
            [Complaint.created_at, Complaint.id],
            args["limit"],
            args.get("cursor"),
            to_item=lambda c: complaint_json(c, now, detail=False),
        )


@blp.route("/complaints/dashboard", methods=["GET"])
@requires("cs", "ops", "admin")
@blp.arguments(DashboardArgs, location="query")
@blp.response(200, DashboardOut)
def complaints_dashboard(args):
    """Open complaints by tier, most urgent first, with the time left on each clock (negative when
    overdue) and whether it was escalated."""
    now = _now()
    shop_id = shop_or_all(args.get("shop_id"))
    stmt = sa.select(Complaint).where(Complaint.status != ComplaintStatus.RESOLVED).order_by(Complaint.due_at)
    if shop_id:
        stmt = stmt.where(Complaint.shop_id == shop_id)
    tiers = {t: {"open": 0, "overdue": 0, "escalated": 0, "items": []} for t in Tier.ALL}
    with current_db().Session() as session:
        for c in session.execute(stmt.limit(1000)).scalars():
            bucket = tiers[c.tier]
            clock = domain.time_left(None if c.met_at else c.due_at, now)
            bucket["open"] += 1
            bucket["overdue"] += int(clock["overdue"])
            bucket["escalated"] += int(bool(c.escalations))
            bucket["items"].append(
                {
                    "complaint_id": c.id,
                    "order_id": c.order_id,
                    "shop_id": c.shop_id,
                    "status": c.status,
                    "milestone": c.milestone,
                    "milestone_met": c.met_at is not None,
                    "due_at": iso(aware(c.due_at)),
                    "seconds_left": clock["seconds_left"],
                    "overdue": clock["overdue"],
                    "escalated": bool(c.escalations),
                    "created_at": iso(aware(c.created_at)),
                }
            )
    return {"generated_at": now, "shop_id": shop_id, "tiers": tiers}


@blp.route("/complaints/<complaint_id>", methods=["GET"])
@requires("buyer", *STAFF)
@blp.response(200, ComplaintOut)
def get_complaint(complaint_id):
    with current_db().Session() as session:
        return complaint_json(_load_complaint(session, complaint_id), _now())


def _complaint_act(complaint_id: str, action: str, text: str) -> dict:
    now = _now()
    with current_db().uow() as uow:
        c = _load_complaint(uow.session, complaint_id)
        operations.act_on_complaint(uow, c, action, current_principal().sub, text, now)
        uow.session.expire_all()
        body = complaint_json(uow.session.get(Complaint, complaint_id), now)
        uow.commit()
    return body


@blp.route("/complaints/<complaint_id>/respond", methods=["POST"])
@requires("cs", "admin")
@blp.arguments(ComplaintActionIn)
@blp.response(200, ComplaintOut)
def respond_complaint(args, complaint_id):
    """A response (a crisis's statement): stops the general and crisis clocks."""
    return _complaint_act(complaint_id, "respond", args["text"])


@blp.route("/complaints/<complaint_id>/resolve", methods=["POST"])
@requires("cs", "admin")
@blp.arguments(ComplaintActionIn)
@blp.response(200, ComplaintOut)
def resolve_complaint(args, complaint_id):
    """The solution (e.g. refund + coupon): stops every tier's clock; the complaint is resolved."""
    return _complaint_act(complaint_id, "resolve", args["text"])
