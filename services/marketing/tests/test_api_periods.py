"""The platform's promotion periods: declared by admin, read by anyone authenticated; every
declaration, change and cancellation leaves its event in the outbox for the copies elsewhere."""

from ecom_testkit import auth, recorded_events

ADMIN = auth("admin", sub="root")
OPS = auth("ops", sub="li", shop_id="S1")
URL = "/api/v1/promotion-periods"
D11 = {"name": "双11", "starts_at": "2026-11-01T00:00:00Z", "ends_at": "2026-11-12T00:00:00Z"}


def problem(resp, status):
    assert resp.status_code == status, resp.get_data(as_text=True)
    assert resp.mimetype == "application/problem+json"
    return resp.get_json()


def payloads(db, routing_key):
    return [e["payload"] for e in recorded_events(db, routing_key)]


def test_declare_change_cancel_each_emit_their_event(client, db):
    resp = client.post(URL, json=D11, headers={**ADMIN, "Idempotency-Key": "p1"})
    assert resp.status_code == 201, resp.get_json()
    period = resp.get_json()
    assert period["status"] == "active" and period["version"] == 1 and period["starts_at"] == D11["starts_at"]
    again = client.post(URL, json=D11, headers={**ADMIN, "Idempotency-Key": "p1"})
    assert again.get_json() == period
    pid = period["period_id"]
    assert payloads(db, "marketing.PromotionPeriodDeclared") == [
        {"period_id": pid, "name": "双11", "starts_at": D11["starts_at"], "ends_at": D11["ends_at"], "version": 1}
    ]

    changed = client.patch(f"{URL}/{pid}", json={"ends_at": "2026-11-13T00:00:00Z"}, headers=ADMIN)
    assert changed.status_code == 200, changed.get_json()
    assert changed.get_json()["version"] == 2 and changed.get_json()["ends_at"] == "2026-11-13T00:00:00Z"
    declared = payloads(db, "marketing.PromotionPeriodDeclared")
    assert [(p["version"], p["ends_at"]) for p in declared] == [(1, D11["ends_at"]), (2, "2026-11-13T00:00:00Z")]

    cancelled = client.post(f"{URL}/{pid}/cancel", headers=ADMIN)
    assert cancelled.status_code == 200 and cancelled.get_json()["status"] == "cancelled"
    assert client.post(f"{URL}/{pid}/cancel", headers=ADMIN).get_json()["version"] == 3  # nothing again
    assert payloads(db, "marketing.PromotionPeriodCancelled") == [{"period_id": pid, "name": "双11", "version": 3}]
    problem(client.patch(f"{URL}/{pid}", json={"name": "x"}, headers=ADMIN), 409)

    listed = client.get(URL, headers=OPS).get_json()["items"]
    assert [p["period_id"] for p in listed] == [pid]
    assert client.get(f"{URL}?status=active", headers=OPS).get_json()["items"] == []


def test_bad_input_and_roles(client, db):
    problem(client.post(URL, json={**D11, "ends_at": "2026-10-01T00:00:00Z"}, headers=ADMIN), 422)
    problem(client.post(URL, json={**D11, "starts_at": "soon"}, headers=ADMIN), 422)
    problem(
        client.post(
            URL, json={"name": "x" * 101, "starts_at": D11["starts_at"], "ends_at": D11["ends_at"]}, headers=ADMIN
        ),
        422,
    )
    problem(client.post(URL, json=D11, headers=OPS), 403)  # a shop's staff cannot move every shop's deadlines
    problem(client.patch(f"{URL}/PPnope", json={"name": "x"}, headers=ADMIN), 404)
    pid = client.post(URL, json=D11, headers=ADMIN).get_json()["period_id"]
    problem(client.patch(f"{URL}/{pid}", json={"starts_at": "2026-11-20T00:00:00Z"}, headers=ADMIN), 422)
    problem(client.get(URL), 401)
    assert payloads(db, "marketing.PromotionPeriodDeclared")[-1]["version"] == 1
