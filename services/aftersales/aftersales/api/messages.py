"""Buyer notifications over HTTP: the message log (a buyer their own messages, cs/ops/admin their
shop's), the buyer's marketing opt-out, cs re-sending a parked message, and the admin's switch that
tells the sandbox SMS provider to fail."""

from __future__ import annotations

import sqlalchemy as sa
from marshmallow import Schema, fields, validate

from ecom_common.auth import list_filter, requires
from ecom_common.http import Blueprint
from ecom_common.pagination import PageArgs, paginate
from ecom_common.schemas import BodySchema, TimelineOut, UtcTime, page_of
from ecom_common.usecase import use_case

from .. import notifications
from ..messages import TEMPLATES, MessageStatus
from ..models import Message
from ..settings import Settings
from .schemas import timeline_json

blp = Blueprint("messages", __name__)

LOG_READERS = ("buyer", "cs", "ops", "admin")


class MessageOut(Schema):
    message_id = fields.Str(attribute="id")
    buyer_id = fields.Str(allow_none=True)
    shop_id = fields.Str(allow_none=True)
    order_id = fields.Str(allow_none=True)
    template = fields.Str()
    category = fields.Str()
    channel = fields.Str()
    body = fields.Str(allow_none=True, metadata={"description": "the text sent (null until a channel took it)"})
    phone_masked = fields.Str(allow_none=True)
    status = fields.Str()
    attempts = fields.Int()
    last_error = fields.Str(allow_none=True)
    not_before = UtcTime(metadata={"description": "a pending message's next attempt"})
    created_at = UtcTime()
    sent_at = UtcTime(allow_none=True)
    timeline = fields.Method("_timeline")

    def _timeline(self, m):
        return TimelineOut(many=True).dump(timeline_json(m.timeline, lambda t: t.reason))


MessagePage = page_of(MessageOut)


class MessageArgs(PageArgs):
    status = fields.Str(validate=validate.OneOf(MessageStatus.ALL))
    template = fields.Str(validate=validate.OneOf(sorted(TEMPLATES)))
    order_id = fields.Str()
    buyer_id = fields.Str(metadata={"description": "staff: one buyer's messages"})
    shop_id = fields.Str(metadata={"description": "platform roles only; shop staff see their own shop"})


class PreferenceIn(BodySchema):
    marketing = fields.Bool(required=True, metadata={"description": "false: no marketing messages"})


class PreferenceOut(Schema):
    buyer_id = fields.Str()
    marketing = fields.Method("_marketing")
    updated_at = UtcTime()

    def _marketing(self, p):
        return not p.marketing_opt_out


class SandboxIn(BodySchema):
    fail = fields.Bool(required=True)
    error = fields.Str(load_default=None, validate=validate.Length(max=500))


class SandboxOut(Schema):
    channel = fields.Str(attribute="name")
    fail = fields.Bool()
    error = fields.Str(allow_none=True)
    updated_at = UtcTime()
    updated_by = fields.Str()


@blp.route("/messages", methods=["GET"])
@requires(*LOG_READERS)
@blp.arguments(MessageArgs, location="query")
@blp.response(200, MessagePage)
def list_messages(args):
    """The message log, newest first: a buyer reads their own messages, shop staff their shop's."""
    stmt = sa.select(Message).where(list_filter(Message.shop_id, Message.buyer_id, args.get("shop_id")))
    for key, col in (
        ("status", Message.status),
        ("template", Message.template),
        ("order_id", Message.order_id),
        ("buyer_id", Message.buyer_id),
    ):
        if args.get(key):
            stmt = stmt.where(col == args[key])
    with use_case(Settings) as ctx:
        return paginate(ctx.session, stmt, [Message.created_at, Message.id], args["limit"], args.get("cursor"))


@blp.route("/messages/<message_id>/requeue", methods=["POST"])
@requires("cs", "admin")
@blp.response(200, MessageOut)
def requeue_message(message_id):
    """Send a parked message again (its attempts start over)."""
    with use_case(Settings) as ctx:
        return notifications.requeue(ctx, message_id)


@blp.route("/notifications/preferences", methods=["PUT"])
@requires("buyer")
@blp.arguments(PreferenceIn)
@blp.response(200, PreferenceOut)
def set_preferences(args):
    """The buyer's marketing opt-out (service messages such as 已发货 always go out)."""
    with use_case(Settings) as ctx:
        return notifications.set_preference(ctx, marketing=args["marketing"])


@blp.route("/notifications/sandbox-sms", methods=["PUT"])
@requires("admin")
@blp.arguments(SandboxIn)
@blp.response(200, SandboxOut)
def switch_sandbox_sms(args):
    """Tell the sandbox SMS provider to fail every message (demos, tests) or to accept again."""
    with use_case(Settings) as ctx:
        return notifications.switch_sandbox(ctx, fail=args["fail"], error=args.get("error"))
