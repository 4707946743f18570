"""The advertising-law word list the compliance scan reads: banned words and their exemptions.
Admins change it; everyone reads it."""

from __future__ import annotations

import sqlalchemy as sa
from marshmallow import Schema, fields, validate

from ecom_common.auth import current_principal, requires
from ecom_common.db import is_unique_violation
from ecom_common.errors import Conflict, NotFound, UnprocessableEntity
from ecom_common.http import Blueprint, BodySchema, PageArgs, UtcTime, current_config, current_db, paginate
from ecom_common.idempotency import idempotent

from ..models import BannedWord
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


class BannedWordPage(Schema):
    items = fields.List(fields.Nested(BannedWordOut))
    next_cursor = fields.Str(allow_none=True)


class BannedWordArgs(PageArgs):
    kind = fields.Str(validate=validate.OneOf(["banned", "exemption"]))


@blp.route("/banned-words", methods=["GET"])
@requires()
@blp.arguments(BannedWordArgs, location="query")
@blp.response(200, BannedWordPage)
def list_banned_words(args):
    """The advertising-law word list (kind=banned) and its exemptions (kind=exemption)."""
    with current_db().Session() as session:
        stmt = sa.select(BannedWord)
        if args.get("kind"):
            stmt = stmt.where(BannedWord.kind == args["kind"])
        return paginate(session, stmt, [BannedWord.word], args["limit"], args.get("cursor"), descending=False)


@blp.route("/banned-words", methods=["POST"])
@requires("admin")
@idempotent()
@blp.arguments(BannedWordIn)
@blp.response(201, BannedWordOut)
def add_banned_word(body):
    """Ban a word, or exempt one.

    An exemption is a word that contains a banned one but claims nothing (最近 contains 最).
    409 if the word is already listed."""
    word = body["word"].strip()
    if not word:
        raise UnprocessableEntity("the word is empty", {"word": ["Must not be blank."]})
    with current_db().uow() as uow:
        row = BannedWord(
            word=word,
            kind=body["kind"],
            note=body.get("note"),
            created_by=current_principal().sub,
            created_at=current_config().clock.now(),
        )
        uow.session.add(row)
        try:
            uow.commit()
        except sa.exc.IntegrityError as exc:
            if not is_unique_violation(exc):
                raise
            raise Conflict(f"{word!r} is already on the list", {"word": ["Already listed."]}) from exc
        return row


@blp.route("/banned-words/<word>", methods=["DELETE"])
@requires("admin")
@blp.response(204)
def remove_banned_word(word):
    """Take a word off the list (banned or exemption)."""
    with current_db().uow() as uow:
        deleted = uow.session.execute(sa.delete(BannedWord).where(BannedWord.word == word)).rowcount
        if not deleted:
            raise NotFound("no such word on the list")
        uow.commit()
    return ""
