"""Bad input: schemathesis generates requests from every service's own /openapi.json, valid ones and
invalid ones, and sends them in-process to the service's Flask app (on its PostgreSQL schema, with
its peers and workers running on the real broker). No answer may be a 5xx, every answer must be what
the operation documents (status, content type, body schema: errors included, as problem+json), and
the spec must say what the server enforces: a request the spec calls valid is not refused as
malformed (positive_data_acceptance), one it calls invalid is refused (negative_data_rejection), a
documented required header is required (missing_required_header), and so is a required body.

Operations are called with a valid token of a role the view accepts (merchant staff of shop S1 where
staff may act, else buyer `bob`, else a platform role without a shop). Path parameters are drawn at
random and, in a second pass, are the ids of the shop's real resources (seeded through the public API
first), so that the generated bodies reach the views' logic rather than stopping at 404. A bounded
number of examples per operation and mode, with a fixed seed: the same requests on every run.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from collections import defaultdict

import pytest
import schemathesis  # pinned in requirements-dev.txt
from hypothesis import HealthCheck, Phase, assume, given, seed, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.core.parameters import ParameterLocation
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    missing_required_header,
    negative_data_rejection,
    positive_data_acceptance,
    response_schema_conformance,
    status_code_conformance,
)

from ecom_common.auth import PLATFORM_ROLES
from ecom_testkit import Platform, token
from ecom_testkit.saga import ALL_SERVICES
from ecom_testkit.world import PLATFORM_SETTINGS, seed_world

pytestmark = [pytest.mark.integration, pytest.mark.reliability, pytest.mark.timeout(300)]

SERVICES = [
    "catalog",
    "orders",
    "inventory",
    "aftersales",
    "logistics",
    "billing",
    "marketing",
    "analytics",
]
# Per operation, generation mode and pass (~1,600 requests in all, 75-120 s on a busy 2-core machine);
# ECOM_FUZZ_EXAMPLES=50 for a deeper run by hand.
EXAMPLES = int(os.environ.get("ECOM_FUZZ_EXAMPLES", "6"))
SEED = 20261123
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
    positive_data_acceptance,
    missing_required_header,
]

# Operations whose 422 can answer a request the schema calls valid, because the rule is over stored
# data or across fields, which an OpenAPI 3.0 schema cannot say; each operation's description names
# the rule. Their valid requests may get 422, never 400 (the other checks stay on).
RULES_BEYOND_SCHEMA = {
    # stored data: the named thing must exist (and be active)
    "POST /api/v1/categories": "parent_id names an existing category",
    "POST /api/v1/products": "the listing rules (category exists, attributes, images, SKUs)",
    "PUT /api/v1/products/{product_id}": "the listing rules",
    "PATCH /api/v1/products/{product_id}": "the listing rules",
    "POST /api/v1/orders": "the SKUs exist, are sellable and belong to the shop; the address is deliverable",
    "POST /api/v1/shipments/{shipment_id}/carrier": "an active carrier",
    # a generated PUT /carriers may deactivate the carrier chosen for the shipment before its dispatch
    "POST /api/v1/shipments/{shipment_id}/dispatch": "an active carrier (named, or the chosen one)",
    "POST /api/v1/shipments/{shipment_id}/change-carrier": "an active carrier",
    "POST /api/v1/shipping/quote": "a known province",
    "POST /api/v1/carrier-statements": "a known carrier; a platform role names the shop",
    "POST /api/v1/shipments/{shipment_id}/estimate": "the estimate is in the future",
    "PUT /api/v1/shipping/sender": "a known province",
    "POST /api/v1/cases": "the order's lines and quantities",
    "POST /api/v1/complaints/{complaint_id}/resolve": "refund/coupon for serious or crisis only, within what is left",
    "POST /api/v1/payments": "the order exists and awaits payment",
    "POST /api/v1/coupon-templates/{template_id}/claims": "coupons left, within the buyer's limit and the validity",
    "POST /api/v1/quotes": "the coupons and points are the buyer's, valid, free and over their threshold",
    # across fields
    "GET /api/v1/orders": "min_payable_fen <= max_payable_fen, created_from <= created_to",
    "GET /api/v1/kpis": "from <= to, at most ANALYTICS_MAX_RANGE_DAYS days",
    "GET /api/v1/carriers/stats": "from < to, at most 366 days",
    "POST /api/v1/experiments": "variant names unique, ends_on not before starts_on",
    "POST /api/v1/orders/{order_id}/review": "a rejection needs a reason",
    "POST /api/v1/invoices": "a company title needs its tax number, a personal one none; a USCC's check character",
    "POST /api/v1/orders/review/bulk": "a rejection needs a reason",
    "POST /api/v1/orders/{order_id}/notes": "a note is not only spaces",
    "PUT /api/v1/promotion-periods": "ends_at after starts_at",
    "POST /api/v1/promotion-periods": "ends_at after starts_at",
    "PATCH /api/v1/promotion-periods/{period_id}": "ends_at after starts_at",
    "GET /api/v1/campaigns/roi": "from <= to, at most ANALYTICS_MAX_RANGE_DAYS days",
    "POST /api/v1/transfers": "two different warehouses",
    "POST /api/v1/warehouses": "a province of China; cost keys (province, region or *) 1-20 characters",
    "PATCH /api/v1/warehouses/{code}": "a province of China; cost keys (province, region or *) 1-20 characters",
    "POST /api/v1/promotions": "ends_at after starts_at; campaign_id names a campaign of the shop",
    "POST /api/v1/coupon-templates": "valid_until after valid_from",
    "POST /api/v1/campaigns": "the split's shares sum to 100; each phase ends after it starts",
    "POST /api/v1/stock/{sku_code}/adjustments": "counted and reason for a count_correction",
    "PUT /api/v1/carrier-rules": "min_weight_g <= max_weight_g",
    "PUT /api/v1/carriers": "each carrier code once",
    "PUT /api/v1/shipping/templates": "known provinces, each once",
}


def accepted_roles(view) -> tuple[str, ...]:
    """The roles `@requires(...)` lets in (read from its closure down the decorator chain); () for
    any authenticated caller."""
    f = view
    while f is not None:
        for name, cell in zip(f.__code__.co_freevars, f.__closure__ or (), strict=False):
            if name == "roles":
                return tuple(cell.cell_contents)
        f = getattr(f, "__wrapped__", None)
    return ()


def headers_for(roles: tuple[str, ...]) -> dict:
    """Staff of shop S1 where staff may act: their shop comes from the token, so a list or setting
    that a platform role must name a `shop_id` for (documented on the operation) is reachable."""
    staff = [r for r in roles if r not in PLATFORM_ROLES and r != "buyer"]
    role = (staff or list(roles) or ["ops"])[0]
    if role == "buyer":
        bearer = token(role=role, sub="bob")
    elif role in PLATFORM_ROLES:
        bearer = token(role=role, sub="root")
    else:
        bearer = token(role=role, sub="staff", shop_id="S1")
    return {"Authorization": f"Bearer {bearer}"}


def checks_for(label: str) -> list:
    if label not in RULES_BEYOND_SCHEMA:
        return CHECKS

    def positive_data_acceptance_but_rules(ctx, response, case):
        # 422 only: a 400 (malformed, NUL, cursor, missing header) is still a spec the server disagrees with
        return None if response.status_code == 422 else positive_data_acceptance(ctx, response, case)

    return [positive_data_acceptance_but_rules if c is positive_data_acceptance else c for c in CHECKS]


def has_nul(value) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(has_nul(k) or has_nul(v) for k, v in value.items())
    return isinstance(value, list) and any(has_nul(v) for v in value)


def as_sent(case, mode, headers: dict) -> dict:
    """The headers to send with `case`, and the case made sendable. A case whose headers are the
    invalid part (a missing or malformed Authorization, a bad Idempotency-Key) is sent as generated;
    others carry the valid token in place of the generated one. A generated cursor in a valid case is dropped: a
    cursor is valid only as a list issued it (its description says so), which no schema can spell."""
    if mode is schemathesis.GenerationMode.POSITIVE:
        if isinstance(case.query, dict):
            case.query.pop("cursor", None)
        # Every string field says "no NUL" (a pattern); an object's keys and free-form values cannot
        # in OpenAPI 3.0 (info.description says it): such a body is not a valid request.
        assume(not has_nul(case.body))
    headers_component = case.meta.components.get(ParameterLocation.HEADER) if case.meta else None
    if headers_component is not None and headers_component.mode.is_negative:
        # the generated headers are the invalid part (maybe the Authorization itself): sent as they are
        return {}
    return headers


@pytest.fixture(scope="module")
def world():
    with Platform(ALL_SERVICES, settings=PLATFORM_SETTINGS) as platform:
        yield platform, seed_world(platform, shops=(("S1", "bob"),))["S1"]


def operations_of(app):
    """(operation, label, headers) of every operation of `app`'s spec."""
    schema = schemathesis.openapi.from_wsgi("/openapi.json", app)
    urls = app.url_map.bind("localhost")
    for result in schema.get_all_operations():
        op = result.ok()
        endpoint, _ = urls.match(re.sub(r"\{\w+\}", "x", op.path), method=op.method.upper())
        yield op, f"{op.method.upper()} {op.path}", headers_for(accepted_roles(app.view_functions[endpoint]))


def fuzz(service, ids: dict) -> tuple[int, int, dict]:
    """(operations, requests, failures) of one service; failures keyed by (operation, check),
    each with one reproducing curl command and the answer."""
    failures: dict = defaultdict(list)
    operations = requests = 0
    for op, label, headers in operations_of(service.app):
        operations += 1
        checks = checks_for(label)
        names = re.findall(r"\{(\w+)\}", op.path)
        passes = [None]
        if names and all(n in ids for n in names):
            passes.append({n: ids[n] for n in names})
        for path_parameters in passes:
            for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE):
                strategy = op.as_strategy(generation_mode=mode, path_parameters=path_parameters)

                @seed(SEED)
                @settings(
                    max_examples=EXAMPLES,
                    deadline=None,
                    database=None,
                    derandomize=False,
                    suppress_health_check=list(HealthCheck),
                    phases=[Phase.explicit, Phase.generate],
                )
                @given(case=strategy)
                def run(case):
                    nonlocal requests
                    requests += 1
                    response = case.call(headers=as_sent(case, mode, headers))
                    try:
                        case.validate_response(response, checks=checks)
                    except BaseExceptionGroup as group:
                        for exc in group.exceptions:
                            key = (label, mode.value, type(exc).__name__)
                            if not failures[key]:
                                failures[key].append(
                                    f"{str(exc)[:600]}\n    {case.as_curl_command()[:600]}\n"
                                    f"    -> {response.status_code} {response.text[:300]}"
                                )

                with contextlib.suppress(Unsatisfiable):
                    run()
    return operations, requests, failures


@pytest.mark.parametrize("name", SERVICES)
def test_generated_requests_get_no_5xx_and_only_documented_answers(world, name, reliability_report):
    platform, ids = world
    started = time.monotonic()
    operations, requests, failures = fuzz(platform[name], ids)
    reliability_report(
        {
            "operations": operations,
            "requests": requests,
            "examples_per_operation_mode_pass": EXAMPLES,
            "seed": SEED,
            "failures": len(failures),
            "seconds": round(time.monotonic() - started, 1),
        },
        scenario=f"bad input (schemathesis): {name}",
    )
    report = "\n".join(f"- {k}: {v[0]}" for k, v in sorted(failures.items()))
    assert not failures, f"{len(failures)} kinds of failure in {name}:\n{report}"


@pytest.mark.parametrize("name", SERVICES)
def test_a_missing_required_body_is_refused(world, name):
    """Every operation whose spec says its body is required refuses a request without one (400/422),
    called as a caller that may act on the shop's real resources, so that nothing else refuses it
    first."""
    platform, ids = world
    app = platform[name].app
    accepted = []
    for op, label, headers in operations_of(app):
        body = op.definition.raw.get("requestBody") or {}
        if not body.get("required"):
            continue
        path = re.sub(r"\{(\w+)\}", lambda m: str(ids.get(m.group(1), "x")), op.path)
        extra = {"Idempotency-Key": f"missing-body-{label}"} if "Idempotency-Key" in str(op.definition.raw) else {}
        answer = app.test_client().open(path, method=op.method.upper(), headers={**headers, **extra})
        if answer.status_code < 300:
            accepted.append(f"{label} -> {answer.status_code}")
    assert not accepted, "a required body was not required:\n" + "\n".join(accepted)
