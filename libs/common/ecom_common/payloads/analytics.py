"""analytics' events."""

from __future__ import annotations

from marshmallow import fields, validate

from . import Payload, event


@event("analytics.KpiAlert")
class KpiAlert(Payload):
    """A shop's KPI past its configured bound (issue 17: conversion 15% under the benchmark, refund
    rate above its bound, new-customer share under 30%), for the console and notifications."""

    shop_id = fields.Str(required=True)
    kpi = fields.Str(required=True)  # conversion | refund_rate | new_buyer_share
    value = fields.Float(required=True, allow_none=True)
    bound = fields.Float(required=True)
    direction = fields.Str(required=True, validate=validate.OneOf(["below", "above"]))
    start = fields.Str(required=True, data_key="from")  # the period's days, both included
    end = fields.Str(required=True, data_key="to")
