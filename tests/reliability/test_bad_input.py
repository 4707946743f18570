"""Bad input: schemathesis generates requests from every service's own /openapi.json, valid ones and
invalid ones, and sends them in-process to the service's Flask app (on its PostgreSQL schema, with
its peers and workers running on the real broker). No answer may be a 5xx, and every answer must be
what the operation documents: a documented status, content type, and a body that matches its schema
(errors included: problem+json).

Operations are called with a valid token of the first role the view accepts (merchant staff of shop
S1, buyer `bob`, platform roles without a shop). Path parameters are drawn at random and, in a second
pass, are the ids of the shop's real resources (seeded through the public API first), so that the
generated bodies reach the views' logic rather than stopping at 404. A bounded number of examples per
operation and mode, with a fixed seed: the same requests on every run.
"""
from __future__ import annotations

import os
import re
import time
from collections import defaultdict

import pytest
import schemathesis  # pinned in requirements-dev.txt
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance, response_schema_conformance, status_code_conformance)

from ecom_common.auth import PLATFORM_ROLES
from ecom_common.testing import Platform, token

pytestmark = [pytest.mark.integration, pytest.mark.reliability, pytest.mark.timeout(300)]

SERVICES = ["catalog", "orders", "inventory", "aftersales", "logistics", "billing"]
# Per operation, generation mode and pass (~1,600 requests in all, ~30 s); ECOM_FUZZ_EXAMPLES=50 for a
# deeper run by hand.
EXAMPLES = int(os.environ.get("ECOM_FUZZ_EXAMPLES", "6"))
SEED = 20261123
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def accepted_roles(view) -> tuple[str, ...]:
    """The roles `@requires(...)` lets in (read from its closure down the decorator chain); () for
    any authenticated caller."""
    f = view
    while f is not None:
        for name, cell in zip(f.__code__.co_freevars, f.__closure__ or ()):
            if name == "roles":
                return tuple(cell.cell_contents)
        f = getattr(f, "__wrapped__", None)
    return ()


def headers_for(roles: tuple[str, ...]) -> dict:
    role = roles[0] if roles else "ops"
    if role == "buyer":
        bearer = token(role=role, sub="bob")
    elif role in PLATFORM_ROLES:
        bearer = token(role=role, sub="root")
    else:
        bearer = token(role=role, sub="staff", shop_id="S1")
    return {"Authorization": f"Bearer {bearer}"}


@pytest.fixture(scope="module")
def world(kit):
    with Platform(kit.services, settings=kit.settings) as platform:
        yield platform, kit.seed_world(platform, shops=(("S1", "bob"),))["S1"]


def fuzz(service, ids: dict) -> tuple[int, int, dict]:
    """(operations, requests, failures) of one service; failures keyed by (operation, check),
    each with one reproducing curl command."""
    app = service.app
    schema = schemathesis.openapi.from_wsgi("/openapi.json", app)
    urls = app.url_map.bind("localhost")
    failures: dict = defaultdict(list)
    operations = requests = 0
    for result in schema.get_all_operations():
        op = result.ok()
        operations += 1
        endpoint, _ = urls.match(re.sub(r"\{\w+\}", "x", op.path), method=op.method.upper())
        headers = headers_for(accepted_roles(app.view_functions[endpoint]))
        label = f"{op.method.upper()} {op.path}"
        names = re.findall(r"\{(\w+)\}", op.path)
        passes = [None]
        if names and all(n in ids for n in names):
            passes.append({n: ids[n] for n in names})
        for path_parameters in passes:
            for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE):
                strategy = op.as_strategy(generation_mode=mode, path_parameters=path_parameters)

                @seed(SEED)
                @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=False,
                          suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate])
                @given(case=strategy)
                def run(case):
                    nonlocal requests
                    requests += 1
                    try:
                        case.call_and_validate(headers=headers, checks=CHECKS)
                    except BaseExceptionGroup as group:
                        for exc in group.exceptions:
                            key = (label, mode.value, type(exc).__name__)
                            if not failures[key]:
                                failures[key].append(f"{str(exc)[:800]}\n    {case.as_curl_command()[:800]}")

                try:
                    run()
                except Unsatisfiable:
                    pass
    return operations, requests, failures


@pytest.mark.parametrize("name", SERVICES)
def test_generated_requests_get_no_5xx_and_only_documented_answers(world, name, reliability_report):
    platform, ids = world
    started = time.monotonic()
    operations, requests, failures = fuzz(platform[name], ids)
    reliability_report({
        "operations": operations, "requests": requests, "examples_per_operation_mode_pass": EXAMPLES,
        "seed": SEED, "failures": len(failures), "seconds": round(time.monotonic() - started, 1),
    }, scenario=f"bad input (schemathesis): {name}")
    report = "\n".join(f"- {k}: {v[0]}" for k, v in sorted(failures.items()))
    assert not failures, f"{len(failures)} kinds of failure in {name}:\n{report}"
