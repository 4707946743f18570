"""The storefront's beacon: page views in batches, each with the client's own event id."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from ecom_common.auth import requires
from ecom_common.errors import ContentTooLarge
from ecom_common.http import Blueprint
from ecom_common.schemas import BodySchema
from ecom_common.usecase import use_case

from .. import operations
from ..settings import Settings

blp = Blueprint("visits", __name__)

_ID = validate.Length(min=1, max=64)


class VisitIn(BodySchema):
    event_id = fields.Str(required=True, validate=_ID, metadata={"description": "the client's id of this view"})
    visitor_id = fields.Str(required=True, validate=_ID)
    shop_id = fields.Str(required=True, validate=_ID)
    product_id = fields.Str(load_default=None, validate=validate.Length(min=1, max=40))
    page = fields.Str(required=True, validate=_ID, metadata={"description": "e.g. home, product, cart"})
    at = fields.AwareDateTime(required=True, default_timezone=None)
    variant = fields.Str(load_default=None, validate=_ID, metadata={"description": "A/B variant shown"})


class VisitsIn(BodySchema):
    visits = fields.List(fields.Nested(VisitIn), required=True, validate=validate.Length(min=1))


class VisitsOut(Schema):
    accepted = fields.Int(metadata={"description": "views recorded now"})
    duplicates = fields.Int(metadata={"description": "views whose event_id was recorded before"})


@blp.route("/visits", methods=["POST"])
@requires("service", "admin")
@blp.arguments(VisitsIn)
@blp.response(202, VisitsOut)
def post_visits(body):
    """A batch of page views (at most ANALYTICS_VISITS_MAX_BATCH, else 413). A view already
    received (same event_id) is counted once, so the storefront may resend a batch it is unsure of."""
    with use_case(Settings) as ctx:
        cap = ctx.settings.visits_max_batch
        if len(body["visits"]) > cap:
            raise ContentTooLarge(f"at most {cap} visits in one batch", errors={"visits": [f"at most {cap}"]})
        return operations.record_visits(ctx, [operations.VisitIn(**v) for v in body["visits"]])
