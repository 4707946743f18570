"""Schemas every service's API repeats: times on the wire, the base of every JSON body, the timeline
entry and the page of a list.

Naming (README, "Names"): `XIn` a body that creates, `XPatch` one that changes, `XOut` what is
answered, `XPage = page_of(XOut)` a list's answer, `XArgs` query arguments (on `PageArgs` for lists).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from marshmallow import Schema, fields

from .clock import iso

# The largest integer a request may carry where it is stored or compared: PostgreSQL's INTEGER, the
# type of the services' quantity, price and weight columns. Input schemas bound their integers with
# it (`validate.Range(..., max=MAX_INT)`) so that a larger one is a 422 naming the field.
MAX_INT = 2**31 - 1

_pages: dict[type[Schema], type[Schema]] = {}


class UtcTime(fields.DateTime):
    """A response time as CONTRACTS.md wants it on the wire: ISO-8601 UTC with a Z
    (`2026-11-23T02:12:46.724689Z`). Naive datetimes (SQLite) are read as UTC; an ISO string
    already rendered is normalised the same way. Loading is fields.DateTime's."""

    def _serialize(self, value: datetime | str | None, attr: str | None, obj: Any, **kwargs: Any) -> str | None:
        if value is None:
            return None
        if isinstance(value, str):
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return iso(value)


class BodySchema(Schema):
    """Base of every schema a JSON body is loaded with (and of the schemas it nests): an integer must
    be a JSON integer, `"5"` or `5.0` is a 422 naming the field, in every service alike.

    One option here rather than `strict=True` on each field, so that a new field cannot forget it.
    Query and path schemas (PageArgs, XArgs) stay on Schema: their values arrive as text."""

    def on_bind_field(self, field_name: str, field_obj: fields.Field[Any]) -> None:
        _strict_ints(field_obj)


def _strict_ints(field: fields.Field[Any]) -> None:
    if isinstance(field, fields.Integer):
        field.strict = True
    # Integers inside containers: List(Int()), Tuple((Int(), ...)), Dict(values=Int()).
    for inner in (
        getattr(field, "inner", None),
        getattr(field, "value_field", None),
        *(getattr(field, "tuple_fields", None) or ()),
    ):
        if inner is not None:
            _strict_ints(inner)


class TimelineOut(Schema):
    """The timeline entry every service returns: who did what when, and the status it left.

    A service whose timeline rows use other column names maps them with `attribute=` in a subclass
    (`<Thing>TimelineEntry`), and adds what it has to add (`details`) there."""

    at = UtcTime()
    by = fields.Str()
    action = fields.Str()
    from_status = fields.Str(allow_none=True, metadata={"description": "the status before (null for the first entry)"})
    status = fields.Str(allow_none=True, metadata={"description": "the status after the entry"})
    reason = fields.Str(allow_none=True)


def page_of(item: type[Schema]) -> type[Schema]:
    """The schema of one page of a list of `item`: `{"items": [...], "next_cursor": str | null}`
    (ecom_common.pagination.paginate). One class per item schema, named `<X>Page` after `<X>Out`, so that
    the OpenAPI document names it once."""
    page = _pages.get(item)
    if page is None:
        name = item.__name__.removesuffix("Out").removesuffix("Schema") + "Page"
        page = type(
            name,
            (Schema,),
            {
                "items": fields.List(fields.Nested(item)),
                "next_cursor": fields.Str(
                    allow_none=True, metadata={"description": "pass as `cursor` for the next page; null on the last"}
                ),
                "__doc__": f"One page of {item.__name__.removesuffix('Out')} items.",
            },
        )
        _pages[item] = page
    return page
