"""The compliance sweeps' report (sweeps.py): which listed products now break which rule, for
reviewers and admins."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from ecom_common.auth import requires
from ecom_common.http import Blueprint
from ecom_common.pagination import PageArgs, paginate
from ecom_common.schemas import UtcTime, page_of
from ecom_common.usecase import use_case

from .. import sweeps
from ..models import ComplianceFinding, ComplianceSweep
from ..settings import Settings
from .schemas import FindingSchema

blp = Blueprint("compliance", __name__)


class SweepOut(Schema):
    sweep_id = fields.Str(attribute="id")
    trigger = fields.Str(metadata={"description": "banned_word (a word was added) or periodic"})
    word = fields.Str(allow_none=True)
    status = fields.Str(metadata={"description": "pending, running, done"})
    created_by = fields.Str()
    created_at = UtcTime()
    finished_at = UtcTime(allow_none=True)
    scanned = fields.Int(metadata={"description": "listed products scanned"})
    flagged = fields.Int(metadata={"description": "of them, breaking a rule"})
    delisted = fields.Int(metadata={"description": "of them, delisted (CATALOG_SWEEP_DELIST)"})


class ComplianceFindingOut(Schema):
    sweep_id = fields.Str()
    product_id = fields.Str()
    shop_id = fields.Str()
    title = fields.Str()
    rules = fields.List(fields.Str())
    findings = fields.List(fields.Nested(FindingSchema))
    delisted = fields.Bool()
    found_at = UtcTime()


class SweepArgs(PageArgs):
    status = fields.Str(validate=validate.OneOf([sweeps.PENDING, sweeps.RUNNING, sweeps.DONE]))


class FindingArgs(PageArgs):
    sweep_id = fields.Str(validate=validate.Length(max=40))
    shop_id = fields.Str(validate=validate.Length(max=64))
    product_id = fields.Str(validate=validate.Length(max=40))
    delisted = fields.Bool()


@blp.route("/compliance/sweeps", methods=["GET"])
@requires("reviewer", "admin")
@blp.arguments(SweepArgs, location="query")
@blp.response(200, page_of(SweepOut))
def list_sweeps(args):
    """Compliance sweeps, newest first, with how many listed products each scanned, flagged, delisted."""
    with use_case(Settings) as ctx:
        keys = [ComplianceSweep.created_at, ComplianceSweep.id]
        return paginate(ctx.session, sweeps.sweeps_query(args.get("status")), keys, args["limit"], args.get("cursor"))


@blp.route("/compliance/findings", methods=["GET"])
@requires("reviewer", "admin")
@blp.arguments(FindingArgs, location="query")
@blp.response(200, page_of(ComplianceFindingOut))
def list_findings(args):
    """The sweeps' report, newest first: each listed product found breaking a rule, which rules
    (with the findings), and whether the sweep delisted it."""
    with use_case(Settings) as ctx:
        stmt = sweeps.findings_query(args)
        return paginate(ctx.session, stmt, [ComplianceFinding.id], args["limit"], args.get("cursor"))
