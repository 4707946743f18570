"""A shop's campaigns: targets, phases, a budget and its split; the subsidy its promotions spent and
the GMV of the orders that used them (ROI). Ops manage their shop's; finance reads."""

from __future__ import annotations

import sqlalchemy as sa
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from ecom_common.auth import list_filter, requires, shop_for_write
from ecom_common.http import Blueprint, current_db
from ecom_common.idempotency import idempotent
from ecom_common.pagination import PageArgs, paginate
from ecom_common.schemas import MAX_INT, BodySchema, page_of
from ecom_common.usecase import use_case

from .. import operations
from ..models import Campaign
from ..settings import Settings
from .schemas import Fen, Time

blp = Blueprint("campaigns", __name__)
READERS = ("ops", "finance", "admin", "service")
SHARES = ("promotion", "subsidy", "material", "reserve")


class PhaseIn(BodySchema):
    name = fields.Str(required=True, validate=validate.Length(min=1, max=40))
    starts_at = Time(required=True)
    ends_at = Time(required=True)


class TargetsIn(BodySchema):
    gmv_fen = Fen(metadata={"description": "e.g. 50万: 50000000"})
    new_customer_percent = fields.Int(validate=validate.Range(min=0, max=100))
    followers = fields.Int(validate=validate.Range(min=0, max=MAX_INT))


class SplitIn(BodySchema):
    """Percent of the budget per share, summing to 100 (the rule is checked, 422)."""

    promotion = fields.Int(required=True, validate=validate.Range(min=0, max=100), metadata={"description": "推广"})
    subsidy = fields.Int(required=True, validate=validate.Range(min=0, max=100), metadata={"description": "补贴"})
    material = fields.Int(required=True, validate=validate.Range(min=0, max=100), metadata={"description": "物料"})
    reserve = fields.Int(required=True, validate=validate.Range(min=0, max=100), metadata={"description": "备用金"})


class CampaignIn(BodySchema):
    shop_id = fields.Str(validate=validate.Length(min=1, max=64))
    name = fields.Str(required=True, validate=validate.Length(min=1, max=100))
    starts_at = Time(required=True, metadata={"description": "the default phases start here"})
    budget_fen = Fen(required=True)
    targets = fields.Nested(TargetsIn)
    split = fields.Nested(SplitIn, metadata={"description": "default 50/30/10/10"})
    phases = fields.List(
        fields.Nested(PhaseIn),
        validate=validate.Length(min=1, max=10),
        metadata={"description": "default: warm-up 3 days, burst 2 days, return 1 day from starts_at"},
    )

    @validates_schema
    def _split_sums_to_100(self, data, **kwargs):
        split = data.get("split")
        if split is not None and sum(split.values()) != 100:
            raise ValidationError({"split": [f"percent for each of {', '.join(SHARES)}, summing to 100"]})


class CampaignOut(Schema):
    campaign_id = fields.Str()
    shop_id = fields.Str()
    name = fields.Str()
    targets = fields.Dict()
    phases = fields.List(fields.Dict())
    budget_fen = fields.Int()
    split = fields.Dict()
    subsidy_budget_fen = fields.Int()
    subsidy_spent_fen = fields.Int(metadata={"description": "discounts reserved by orders not cancelled"})
    attributed_gmv_fen = fields.Int(metadata={"description": "what the paid orders that used its promotions paid"})
    roi = fields.Method("_roi", allow_none=True, metadata={"description": "attributed GMV / subsidy spent"})

    def _roi(self, campaign) -> float | None:
        # a Campaign row, or its dump again (the views dump, then flask-smorest dumps the dict)
        if isinstance(campaign, dict):
            spent, gmv = campaign["subsidy_spent_fen"], campaign["attributed_gmv_fen"]
        else:
            spent, gmv = campaign.subsidy_spent_fen, campaign.attributed_gmv_fen
        return round(gmv / spent, 2) if spent else None


CampaignPage = page_of(CampaignOut)


class CampaignArgs(PageArgs):
    shop_id = fields.Str()


@blp.route("/campaigns", methods=["POST"])
@requires("ops", "admin")
@idempotent()
@blp.arguments(CampaignIn)
@blp.response(201, CampaignOut)
def create_campaign(body):
    """A campaign for your shop; link promotions to it with their `campaign_id`: their discounts
    are paid from its subsidy share (budget x split.subsidy %), and stop applying when it is spent."""
    shop_id = shop_for_write(body.get("shop_id"))
    with use_case(Settings) as ctx:
        return CampaignOut().dump(operations.create_campaign(ctx, shop_id, body))


@blp.route("/campaigns", methods=["GET"])
@requires(*READERS)
@blp.arguments(CampaignArgs, location="query")
@blp.response(200, CampaignPage)
def list_campaigns(args):
    with current_db().Session() as session:
        stmt = sa.select(Campaign).where(list_filter(Campaign.shop_id, shop_id=args.get("shop_id")))
        keys = [Campaign.created_at, Campaign.campaign_id]
        return paginate(session, stmt, keys, args["limit"], args.get("cursor"), to_item=CampaignOut().dump)


@blp.route("/campaigns/<campaign_id>", methods=["GET"])
@requires(*READERS)
@blp.response(200, CampaignOut)
def get_campaign(campaign_id):
    """One campaign with its spend and ROI (attributed GMV / subsidy spent)."""
    with use_case(Settings) as ctx:
        return CampaignOut().dump(operations.get_campaign(ctx, campaign_id))
