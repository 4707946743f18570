"""Carriers (the platform's list, admin only) and each shop's carrier rules: which carrier a new
shipment gets."""

from __future__ import annotations

import sqlalchemy as sa
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from ecom_common.auth import current_principal, requires, shop_for_read, shop_for_write
from ecom_common.errors import UnprocessableEntity
from ecom_common.http import MAX_INT, Blueprint, BodySchema, PageArgs, current_db, paginate

from .. import domain
from .. import operations as ops
from ..models import Carrier, CarrierRuleSet
from .context import ShopQuery, commit_or_conflict, now, settings

blp = Blueprint("carriers", __name__)


class CarrierSchema(BodySchema):
    code = fields.Str(required=True, validate=validate.Regexp(r"^[A-Z0-9_]{2,32}$"))
    name = fields.Str(required=True, validate=validate.Length(min=1, max=100))
    active = fields.Bool(load_default=True)
    services = fields.Str(load_default=None, allow_none=True, validate=validate.Length(max=200))


class CarrierList(BodySchema):
    items = fields.List(fields.Nested(CarrierSchema), required=True)


class CarrierPage(Schema):
    items = fields.List(fields.Nested(CarrierSchema))
    next_cursor = fields.Str(allow_none=True)


def carrier_dict(c: Carrier) -> dict:
    return {"code": c.code, "name": c.name, "active": c.active, "services": c.services}


def carriers_out(session) -> dict:
    """Every carrier (the answer to a replacement: what is stored now)."""
    rows = session.execute(sa.select(Carrier).order_by(Carrier.code)).scalars().all()
    return {"items": [carrier_dict(c) for c in rows], "next_cursor": None}


@blp.route("/carriers", methods=["GET"])
@requires("admin", "warehouse", "ops", "cs", "service")
@blp.arguments(PageArgs, location="query")
@blp.response(200, CarrierPage)
def list_carriers(args):
    """The platform's carriers by code (inactive ones are never chosen)."""
    with current_db().Session() as session:
        return paginate(
            session,
            sa.select(Carrier),
            [Carrier.code],
            args["limit"],
            args.get("cursor"),
            descending=False,
            to_item=carrier_dict,
        )


@blp.route("/carriers", methods=["PUT"])
@requires("admin")
@blp.arguments(CarrierList)
@blp.response(200, CarrierPage)
def put_carriers(body):
    """Replace the carrier list: listed carriers are created or updated, unlisted ones deactivated
    (never deleted: shipments keep referring to them). Platform-wide, so admin only. Each code
    once (422)."""
    codes = [c["code"] for c in body["items"]]
    if len(codes) != len(set(codes)):
        raise UnprocessableEntity("each carrier code once", {"items": ["Duplicate carrier code."]})
    with current_db().uow() as uow:
        t = now()
        for item in body["items"]:
            uow.session.merge(
                Carrier(
                    code=item["code"],
                    name=item["name"],
                    active=item["active"],
                    services=item.get("services"),
                    updated_at=t,
                )
            )
        uow.session.execute(sa.update(Carrier).where(Carrier.code.not_in(codes)).values(active=False, updated_at=t))
        commit_or_conflict(uow)
        return carriers_out(uow.session)


class CarrierRuleSchema(BodySchema):
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
    rules = fields.List(fields.Nested(CarrierRuleSchema), required=True)
    default_carrier = fields.Str(load_default=None, allow_none=True)


class CarrierRulesOut(Schema):
    shop_id = fields.Str()
    source = fields.Str()
    rules = fields.List(fields.Nested(CarrierRuleSchema))
    default_carrier = fields.Str(allow_none=True)


@blp.route("/carrier-rules", methods=["GET"])
@requires("admin", "warehouse", "ops")
@blp.arguments(ShopQuery, location="query")
@blp.response(200, CarrierRulesOut)
def get_carrier_rules(args):
    """Which carrier a new shipment of this shop gets: the first rule that applies, in order."""
    shop_id = shop_for_read(args.get("shop_id"))
    with current_db().Session() as session:
        rules, default, source = ops.carrier_rules_for(session, settings(), shop_id)
    return {"shop_id": shop_id, "source": source, "rules": [r.to_dict() for r in rules], "default_carrier": default}


@blp.route("/carrier-rules", methods=["PUT"])
@requires("admin", "warehouse")
@blp.arguments(ShopQuery, location="query")
@blp.arguments(CarrierRulesIn)
@blp.response(200, CarrierRulesOut)
def put_carrier_rules(args, body):
    """Replace the shop's carrier rules; a rule's min_weight_g above its max_weight_g is 422."""
    shop_id = shop_for_write(args.get("shop_id"))
    rules = [domain.CarrierRule.from_dict(r) for r in body["rules"]]
    with current_db().uow() as uow:
        known = set(uow.session.execute(sa.select(Carrier.code)).scalars())
        unknown = sorted({r.carrier for r in rules} - known)
        if unknown:
            raise UnprocessableEntity("unknown carrier", {"rules": [f"Unknown carrier {c!r}." for c in unknown]})
        if body.get("default_carrier") and body["default_carrier"] not in known:
            raise UnprocessableEntity(
                "unknown carrier", {"default_carrier": [f"Unknown carrier {body['default_carrier']!r}."]}
            )
        uow.session.merge(
            CarrierRuleSet(
                shop_id=shop_id,
                rules=[r.to_dict() for r in rules],
                default_carrier=body.get("default_carrier"),
                updated_at=now(),
                updated_by=current_principal().sub,
            )
        )
        commit_or_conflict(uow)
    default = body.get("default_carrier") or settings().default_carrier
    return {"shop_id": shop_id, "source": "shop", "rules": [r.to_dict() for r in rules], "default_carrier": default}
