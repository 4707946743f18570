"""Carriers (the platform's list, admin only) and each shop's carrier rules: which carrier a new
shipment gets."""

from __future__ import annotations

import sqlalchemy as sa
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from ecom_common.auth import requires, shop_for_read, shop_for_write
from ecom_common.http import Blueprint
from ecom_common.pagination import PageArgs, paginate
from ecom_common.schemas import MAX_INT, BodySchema, page_of
from ecom_common.usecase import use_case

from .. import domain, operations
from ..models import Carrier
from ..settings import Settings
from .context import ShopArgs, conflict_on_unique

blp = Blueprint("carriers", __name__)


class CarrierIn(BodySchema):
    code = fields.Str(required=True, validate=validate.Regexp(r"^[A-Z0-9_]{2,32}$"))
    name = fields.Str(required=True, validate=validate.Length(min=1, max=100))
    active = fields.Bool(load_default=True)
    services = fields.Str(load_default=None, allow_none=True, validate=validate.Length(max=200))


class CarrierListIn(BodySchema):
    items = fields.List(fields.Nested(CarrierIn), required=True)


class CarrierOut(Schema):
    code = fields.Str()
    name = fields.Str()
    active = fields.Bool()
    services = fields.Str(allow_none=True)


CarrierPage = page_of(CarrierOut)


@blp.route("/carriers", methods=["GET"])
@requires("admin", "warehouse", "ops", "cs", "service")
@blp.arguments(PageArgs, location="query")
@blp.response(200, CarrierPage)
def list_carriers(args):
    """The platform's carriers by code (inactive ones are never chosen)."""
    with use_case(Settings) as ctx:
        return paginate(
            ctx.session, sa.select(Carrier), [Carrier.code], args["limit"], args.get("cursor"), descending=False
        )


@blp.route("/carriers", methods=["PUT"])
@requires("admin")
@blp.arguments(CarrierListIn)
@blp.response(200, CarrierPage)
def put_carriers(body):
    """Replace the carrier list: listed carriers are created or updated, unlisted ones deactivated
    (never deleted: shipments keep referring to them). Platform-wide, so admin only. Each code
    once (422). Answers every carrier (`next_cursor: null`)."""
    with conflict_on_unique(), use_case(Settings) as ctx:
        return {"items": operations.replace_carriers(ctx, body["items"]), "next_cursor": None}


class CarrierRuleIn(BodySchema):
    name = fields.Str(load_default=None, allow_none=True, validate=validate.Length(max=100))
    carrier = fields.Str(required=True)
    provinces = fields.List(fields.Str(), load_default=list, metadata={"description": "empty: any region"})
    min_weight_g = fields.Int(load_default=None, allow_none=True, validate=validate.Range(min=0, max=MAX_INT))
    max_weight_g = fields.Int(load_default=None, allow_none=True, validate=validate.Range(min=0, max=MAX_INT))

    @validates_schema
    def _weights(self, data, **kwargs):
        lo, hi = data.get("min_weight_g"), data.get("max_weight_g")
        if lo is not None and hi is not None and lo > hi:
            raise ValidationError("must not be above max_weight_g", "min_weight_g")


class CarrierRulesIn(BodySchema):
    rules = fields.List(fields.Nested(CarrierRuleIn), required=True)
    default_carrier = fields.Str(load_default=None, allow_none=True)


class CarrierRulesOut(Schema):
    shop_id = fields.Str()
    source = fields.Str()
    rules = fields.List(fields.Nested(CarrierRuleIn))
    default_carrier = fields.Str(allow_none=True)


def rules_out(shop_id: str, rule_set: domain.RuleSet) -> dict:
    return {
        "shop_id": shop_id,
        "source": rule_set.source,
        "rules": [r.to_dict() for r in rule_set.rules],
        "default_carrier": rule_set.default_carrier,
    }


@blp.route("/carrier-rules", methods=["GET"])
@requires("admin", "warehouse", "ops")
@blp.arguments(ShopArgs, location="query")
@blp.response(200, CarrierRulesOut)
def get_carrier_rules(args):
    """Which carrier a new shipment of this shop gets: the first rule that applies, in order."""
    shop_id = shop_for_read(args.get("shop_id"))
    with use_case(Settings) as ctx:
        return rules_out(shop_id, operations.carrier_rules_for(ctx, shop_id))


@blp.route("/carrier-rules", methods=["PUT"])
@requires("admin", "warehouse")
@blp.arguments(ShopArgs, location="query")
@blp.arguments(CarrierRulesIn)
@blp.response(200, CarrierRulesOut)
def put_carrier_rules(args, body):
    """Replace the shop's carrier rules; a rule's min_weight_g above its max_weight_g is 422."""
    shop_id = shop_for_write(args.get("shop_id"))
    rules = [domain.CarrierRule.from_dict(r) for r in body["rules"]]
    with conflict_on_unique(), use_case(Settings) as ctx:
        rule_set = domain.RuleSet(rules, body.get("default_carrier"))
        return rules_out(shop_id, operations.replace_carrier_rules(ctx, shop_id, rule_set))
