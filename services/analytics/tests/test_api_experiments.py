"""A/B experiments over HTTP: define, assign, visits carrying the variant, the report, tenancy."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime

from analytics import domain
from ecom_common.clock import iso

T0 = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)  # 2026-12-01 in China


def _create(projector, role="ops", shop_id="S1", **body):
    body = {"name": "banner test", "target": "banner", "variants": [{"name": "promo"}, {"name": "product"}], **body}
    headers = {"Idempotency-Key": uuid.uuid4().hex}
    return projector.client.post("/api/v1/experiments", json=body, headers={**headers, **_auth(role, shop_id)})


def _auth(role, shop_id):
    from ecom_testkit import auth

    return dict(auth(role, "olga", shop_id))


def test_define_assign_and_report_a_winner(projector):
    created = _create(projector, starts_on="2026-12-01", ends_on="2026-12-01")
    assert created.status_code == 201, created.get_json()
    exp = created.get_json()
    assert exp["shop_id"] == "S1" and [v["name"] for v in exp["variants"]] == ["promo", "product"]
    xid = exp["experiment_id"]
    # the storefront asks for each visitor's variant (the same each time) and sends it on the visit
    rng = random.Random(5)
    views, buyers = [], []
    for n in range(4000):
        visitor = f"b{n}"
        got = domain.assign(xid, visitor, (domain.Variant("promo", 1), domain.Variant("product", 1)))
        if n < 20:  # what the storefront is told over HTTP is that hash
            answer = projector.get(
                f"/api/v1/experiments/{xid}/assignment",
                role="service",
                shop_id=None,
                query_string={"visitor_id": visitor},
            )
            assert answer.get_json()["variant"] == got
        views.append(
            {"event_id": f"e{n}", "visitor_id": visitor, "shop_id": "S1", "page": "home", "at": iso(T0), "variant": got}
        )
        if rng.random() < (0.05 if got == "promo" else 0.10):
            buyers.append(visitor)
    for start in range(0, len(views), 500):
        assert projector.post("/api/v1/visits", json={"visits": views[start : start + 500]}).status_code == 202
    for n, buyer in enumerate(buyers):
        p = projector.placed(f"O{n}", buyer_id=buyer, at=T0)
        projector.deliver("orders.OrderPlaced", p)
        projector.deliver("orders.OrderPaid", projector.paid(p, T0))
    report = projector.get(f"/api/v1/experiments/{xid}/report").get_json()
    assert (report["from"], report["to"], report["control"]) == ("2026-12-01", "2026-12-01", "promo")
    by = {v["variant"]: v for v in report["variants"]}
    assert by["promo"]["visitors"] + by["product"]["visitors"] == 4000
    assert by["promo"]["buyers"] + by["product"]["buyers"] == len(buyers)
    assert report["winner"] == "product" and by["product"]["lift"] > 0.5 and by["product"]["p_value"] < 0.05


def test_assignment_is_stable_over_http(projector):
    xid = _create(projector).get_json()["experiment_id"]
    answers = {
        projector.get(
            f"/api/v1/experiments/{xid}/assignment", role="service", shop_id=None, query_string={"visitor_id": "v1"}
        ).get_json()["variant"]
        for _ in range(5)
    }
    assert len(answers) == 1


def test_rules_and_tenancy(projector):
    dup = _create(projector, variants=[{"name": "a"}, {"name": "a"}])
    assert dup.status_code == 422 and "variants" in dup.get_json()["errors"]
    backwards = _create(projector, starts_on="2026-12-02", ends_on="2026-12-01")
    assert backwards.status_code == 422
    assert _create(projector, role="finance").status_code == 403
    xid = _create(projector).get_json()["experiment_id"]
    assert projector.get(f"/api/v1/experiments/{xid}", role="ops", shop_id="S2").status_code == 404
    assert projector.get(f"/api/v1/experiments/{xid}/report", role="finance", shop_id="S2").status_code == 404
    assert projector.get(f"/api/v1/experiments/{xid}", role="finance", shop_id="S1").status_code == 200
    assert projector.get(f"/api/v1/experiments/{xid}/report", role="admin", shop_id=None).status_code == 200
    assert projector.get("/api/v1/experiments/X-nope", role="admin", shop_id=None).status_code == 404
    # a platform role must name the shop it creates for
    assert _create(projector, role="admin", shop_id=None).status_code in (400, 422)
