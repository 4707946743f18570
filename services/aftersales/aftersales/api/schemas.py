"""Schemas and renderings shared by the case and complaint views: free text, the SLA clock, the
timeline."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from ecom_common.privacy import scrub
from ecom_common.schemas import UtcTime


class FreeText(fields.Str):
    """Text people write (evidence, complaints, replies, notes): a phone number in it is masked on
    arrival, so it is never stored, listed, logged or sent in an event unmasked (CONTRACTS.md "Auth").
    cs reaches the buyer through the order, whose full address it may read."""

    def _deserialize(self, value, attr, data, **kwargs):
        return scrub(super()._deserialize(value, attr, data, **kwargs))


class SlaOut(Schema):
    kind = fields.Str(allow_none=True)
    due_at = UtcTime(allow_none=True)
    seconds_left = fields.Int(allow_none=True)
    overdue = fields.Bool()


def timeline_json(entries, why) -> list[dict]:
    """Entries in the common shape (ecom_common.schemas.TimelineOut). Every change of status is
    written to the timeline from creation on, so the status before an entry is the status after the
    one before it."""
    out, before = [], None
    for t in entries:
        out.append(
            {"at": t.at, "by": t.by, "action": t.action, "from_status": before, "status": t.status, "reason": why(t)}
        )
        before = t.status
    return out


def image_urls() -> fields.List:
    """Up to 9 http(s) image addresses. Written as a pattern, not fields.Url, so that the OpenAPI
    document says exactly what is accepted (a generated valid request is never refused)."""
    url = fields.Str(validate=[validate.Length(max=500), validate.Regexp(r"^https?://\S+$")])
    return fields.List(url, load_default=list, validate=validate.Length(max=9))
