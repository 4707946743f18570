"""The advertising-law word list the compliance scan reads: banned words and their exemptions.
Admins change it; everyone reads it."""

from __future__ import annotations

import sqlalchemy as sa
from marshmallow import Schema, fields, validate

from ecom_common.auth import requires
from ecom_common.http import Blueprint
from ecom_common.idempotency import idempotent
from ecom_common.pagination import PageArgs, paginate
from ecom_common.schemas import BodySchema, UtcTime, page_of
from ecom_common.usecase import use_case

from .. import operations
from ..models import BannedWord
from ..settings import Settings
from .schemas import WHITESPACE

blp = Blueprint("words", __name__)

# What `add_word` keeps after str.strip(): something (and no NUL, as everywhere).
NOT_BLANK = rf"^[^\x00]*[^\x00{WHITESPACE}][^\x00]*$"


class BannedWordIn(BodySchema):
    word = fields.Str(
        required=True,
        validate=validate.Length(min=1, max=50),
        metadata={"pattern": NOT_BLANK, "description": "blank once trimmed: 422"},
    )
    kind = fields.Str(load_default="banned", validate=validate.OneOf(["banned", "exemption"]))
    note = fields.Str(validate=validate.Length(max=200))


class BannedWordOut(Schema):
    word = fields.Str()
    kind = fields.Str()
    note = fields.Str(allow_none=True)
    created_by = fields.Str()
    created_at = UtcTime()


BannedWordPage = page_of(BannedWordOut)


class BannedWordArgs(PageArgs):
    kind = fields.Str(validate=validate.OneOf(["banned", "exemption"]))


@blp.route("/banned-words", methods=["GET"])
@requires()
@blp.arguments(BannedWordArgs, location="query")
@blp.response(200, BannedWordPage)
def list_banned_words(args):
    """The advertising-law word list (kind=banned) and its exemptions (kind=exemption)."""
    with use_case(Settings) as ctx:
        stmt = sa.select(BannedWord)
        if args.get("kind"):
            stmt = stmt.where(BannedWord.kind == args["kind"])
        return paginate(ctx.session, stmt, [BannedWord.word], args["limit"], args.get("cursor"), descending=False)


@blp.route("/banned-words", methods=["POST"])
@requires("admin")
@idempotent()
@blp.arguments(BannedWordIn)
@blp.response(201, BannedWordOut)
def add_banned_word(body):
    """Ban a word, or exempt one.

    An exemption is a word that contains a banned one but claims nothing (最近 contains 最).
    409 if the word is already listed."""
    with use_case(Settings) as ctx:
        return operations.add_banned_word(ctx, body["word"], kind=body["kind"], note=body.get("note"))


@blp.route("/banned-words/<word>", methods=["DELETE"])
@requires("admin")
@blp.response(204)
def remove_banned_word(word):
    """Take a word off the list (banned or exemption)."""
    with use_case(Settings) as ctx:
        operations.remove_banned_word(ctx, word)
    return ""
