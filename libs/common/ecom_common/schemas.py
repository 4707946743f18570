"""Schemas every service's API repeats: the timeline entry and the page of a list.

Naming (README, "Names"): `XIn` a body that creates, `XPatch` one that changes, `XOut` what is
answered, `XPage = page_of(XOut)` a list's answer, `XArgs` query arguments (on `PageArgs` for lists).
"""

from __future__ import annotations

from marshmallow import Schema, fields

from .http import UtcTime

_pages: dict[type[Schema], type[Schema]] = {}


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
    (ecom_common.http.paginate). One class per item schema, named `<X>Page` after `<X>Out`, so that
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
