import json

from ecom_testkit import auth


def post(client, body, key=None, raw=None, role="ops", sub="alice"):
    headers = {**auth(role, sub=sub), "Content-Type": "application/json"}
    if key:
        headers["Idempotency-Key"] = key
    return client.post("/api/v1/widgets", data=raw if raw is not None else json.dumps(body), headers=headers)


def assert_problem(resp, status):
    assert resp.status_code == status, resp.get_data(as_text=True)
    assert resp.mimetype == "application/problem+json"
    body = resp.get_json(force=True)
    assert set(body) >= {"type", "title", "status", "detail", "errors"}
    assert body["status"] == status
    return body


def test_malformed_json_is_400_naming_the_body(widget_app):
    body = assert_problem(post(widget_app.test_client(), None, raw="{not json"), 400)
    assert "body" in body["errors"]
    assert widget_app.created == []


def test_wrong_type_and_missing_field_are_422_naming_the_fields(widget_app):
    c = widget_app.test_client()
    body = assert_problem(post(c, {"name": "w", "quantity": "many"}), 422)
    assert body["errors"] == {"quantity": ["Not a valid integer."]}
    body = assert_problem(post(c, {"quantity": 2}), 422)
    assert "name" in body["errors"]
    body = assert_problem(post(c, {"name": "w", "quantity": 1, "colour": "red"}), 422)
    assert "colour" in body["errors"]
    assert widget_app.created == []


def test_auth_problems(widget_app):
    c = widget_app.test_client()
    assert_problem(c.post("/api/v1/widgets", json={"name": "w", "quantity": 1}), 401)
    assert_problem(
        c.post("/api/v1/widgets", json={"name": "w", "quantity": 1}, headers={"Authorization": "Bearer nope"}), 401
    )
    assert_problem(post(c, {"name": "w", "quantity": 1}, role="buyer"), 403)
    assert widget_app.created == []


def test_unknown_route_and_method(widget_app):
    c = widget_app.test_client()
    assert_problem(c.get("/api/v1/nothing-here"), 404)
    assert_problem(c.delete("/api/v1/widgets"), 405)


def test_idempotency_key_replays_first_response_and_refuses_other_body(widget_app):
    c = widget_app.test_client()
    first = post(c, {"name": "w", "quantity": 1}, key="k1")
    assert first.status_code == 201
    again = post(c, {"name": "w", "quantity": 1}, key="k1")
    assert again.status_code == 201 and again.get_json() == first.get_json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert len(widget_app.created) == 1
    assert_problem(post(c, {"name": "other", "quantity": 1}, key="k1"), 409)
    # keys are per caller: bob's k1 is a new request
    assert post(c, {"name": "w", "quantity": 1}, key="k1", sub="bob").status_code == 201
    assert len(widget_app.created) == 2


def test_a_failed_request_releases_its_key(widget_app):
    c = widget_app.test_client()
    assert post(c, {"name": "", "quantity": 1}, key="k2").status_code == 422
    # the client fixes the body and retries with the same key: it is processed, not refused
    ok = post(c, {"name": "fixed", "quantity": 1}, key="k2")
    assert ok.status_code == 201 and ok.get_json()["name"] == "fixed"


def test_a_request_committed_but_not_answered_is_never_run_again(widget_app, db):
    from ecom_testkit import recorded_events

    c = widget_app.test_client()
    headers = {**auth("ops"), "Idempotency-Key": "k-crash"}
    first = c.post("/api/v1/widgets/fragile", json={"name": "w", "quantity": 1}, headers=headers)
    assert first.status_code == 500
    again = c.post("/api/v1/widgets/fragile", json={"name": "w", "quantity": 1}, headers=headers)
    body = assert_problem(again, 409)
    assert "already processed" in body["detail"]
    assert len(widget_app.created) == 1 and len(recorded_events(db)) == 1


def test_a_database_lost_after_the_commit_is_not_answered_nothing_was_changed(widget_app, db):
    from ecom_testkit import recorded_events

    c = widget_app.test_client()
    before = assert_problem(
        c.post("/api/v1/widgets/lost-before-commit", json={"name": "w", "quantity": 1}, headers=auth("ops")), 503
    )
    assert "nothing was changed" in before["detail"] and before["outcome"] == "nothing_changed"

    headers = {**auth("ops"), "Idempotency-Key": "k-lost"}
    after = assert_problem(
        c.post("/api/v1/widgets/lost-after-commit", json={"name": "w", "quantity": 1}, headers=headers), 503
    )
    assert "nothing was changed" not in after["detail"] and "it is saved" in after["detail"]
    assert after["outcome"] == "saved"
    again = assert_problem(
        c.post("/api/v1/widgets/lost-after-commit", json={"name": "w", "quantity": 1}, headers=headers), 409
    )
    assert "already processed" in again["detail"]
    assert len(widget_app.created) == 1 and len(recorded_events(db)) == 1
    # the next request on the same thread starts clean
    assert (
        "nothing was changed"
        in assert_problem(
            c.post("/api/v1/widgets/lost-before-commit", json={"name": "w", "quantity": 1}, headers=auth("ops")), 503
        )["detail"]
    )


def test_a_committed_request_is_answered_even_if_its_answer_cannot_be_stored(widget_app, db):
    import sqlalchemy as sa

    from ecom_testkit import recorded_events

    c = widget_app.test_client()
    headers = {**auth("ops"), "Idempotency-Key": "k-unstored"}
    first = c.post("/api/v1/widgets/answer-not-stored", json={"name": "w", "quantity": 1}, headers=headers)
    assert first.status_code == 201 and first.get_json() == {"name": "w", "quantity": 1}
    with db.engine.begin() as conn:
        conn.execute(sa.text("ALTER TABLE idempotency_keys_away RENAME TO idempotency_keys"))
    again = c.post("/api/v1/widgets/answer-not-stored", json={"name": "w", "quantity": 1}, headers=headers)
    assert "already processed" in assert_problem(again, 409)["detail"]
    assert len(widget_app.created) == 1 and len(recorded_events(db)) == 1


def test_a_key_that_could_not_be_released_in_an_outage_is_released_when_the_database_is_back(widget_app, db):
    """A request refused with 503 "nothing was changed" whose key could not be released (the database
    was away for that too): the client's retry with the same key, once the database is back, is
    processed instead of being told "in progress" until the key expires."""
    import sqlalchemy as sa

    c = widget_app.test_client()
    headers = {**auth("ops"), "Idempotency-Key": "k-outage"}
    first = assert_problem(
        c.post("/api/v1/widgets/lost-with-its-key", json={"name": "w", "quantity": 1}, headers=headers), 503
    )
    assert first["outcome"] == "nothing_changed"
    with db.engine.begin() as conn:  # the database is back, the key still claimed in it
        conn.execute(sa.text("ALTER TABLE idempotency_keys_gone RENAME TO idempotency_keys"))
        assert conn.execute(sa.text("SELECT count(*) FROM idempotency_keys WHERE key = 'k-outage'")).scalar() == 1
    again = c.post("/api/v1/widgets/lost-with-its-key", json={"name": "w", "quantity": 1}, headers=headers)
    assert again.status_code == 201 and again.get_json() == {"name": "w", "quantity": 1}
    assert len(widget_app.created) == 1
    # and it is now answered as processed: a third try replays the answer
    replay = c.post("/api/v1/widgets/lost-with-its-key", json={"name": "w", "quantity": 1}, headers=headers)
    assert replay.status_code == 201 and replay.headers["Idempotent-Replayed"] == "true"


def test_request_id_is_echoed_or_created(widget_app):
    c = widget_app.test_client()
    assert c.get("/healthz", headers={"X-Request-ID": "abc"}).headers["X-Request-ID"] == "abc"
    assert len(c.get("/healthz").headers["X-Request-ID"]) == 36


def test_openapi_and_metrics(widget_app):
    c = widget_app.test_client()
    spec = c.get("/openapi.json").get_json()
    assert "/api/v1/widgets" in spec["paths"]
    assert spec["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    c.get("/healthz")
    text = c.get("/metrics").get_data(as_text=True)
    assert "ecom_http_requests_total" in text and "ecom_outbox_pending" in text


def test_readyz_reports_what_failed(widget_app, tmp_path):
    c = widget_app.test_client()
    assert c.get("/readyz").status_code == 200
    widget_app.config["ECOM"] = widget_app.config["ECOM"].with_(broker_url="amqp://guest:guest@127.0.0.1:1//")
    body = assert_problem(c.get("/readyz"), 503)
    assert body["checks"]["database"] == "ok" and body["checks"]["broker"].startswith("unreachable")


def test_utc_time_renders_every_time_the_same_way():
    from datetime import datetime, timedelta, timezone

    from marshmallow import Schema

    from ecom_common.schemas import UtcTime

    class Out(Schema):
        at = UtcTime(allow_none=True)

    naive = datetime(2026, 11, 23, 2, 12, 46, 724689)
    aware_cst = datetime(2026, 11, 23, 10, 12, 46, 724689, tzinfo=timezone(timedelta(hours=8)))
    expected = {"at": "2026-11-23T02:12:46.724689Z"}
    assert Out().dump({"at": naive}) == expected
    assert Out().dump({"at": aware_cst}) == expected
    assert Out().dump({"at": "2026-11-23T02:12:46.724689+00:00"}) == expected
    assert Out().dump({"at": None}) == {"at": None}


def test_openapi_documents_errors_as_problem_json(widget_app):
    spec = widget_app.test_client().get("/openapi.json").get_json()
    responses = spec["paths"]["/api/v1/widgets"]["post"]["responses"]
    assert "default" not in responses  # every status it can answer is named, none is "default"
    for status in ("400", "401", "403", "404", "409", "413", "422", "503"):
        name = responses[status]["$ref"].rsplit("/", 1)[1]
        content = spec["components"]["responses"][name]["content"]
        assert list(content) == ["application/problem+json"], (status, content)
        assert content["application/problem+json"]["schema"]["$ref"].endswith("/Problem")
    problem = spec["components"]["schemas"]["Problem"]
    assert set(problem["required"]) == {"type", "title", "status", "detail", "errors"}
    assert problem["properties"]["status"]["type"] == "integer"
    assert responses["201"]["content"] == {"application/json": {"schema": {"$ref": "#/components/schemas/WidgetIn"}}}


def test_nul_characters_are_refused_as_400_before_anything_runs(widget_app):
    c = widget_app.test_client()
    body = assert_problem(post(c, {"name": "w\u0000x", "quantity": 1}), 400)
    assert "body" in body["errors"]
    body = assert_problem(c.post("/api/v1/widgets?x=a%00b", json={"name": "w", "quantity": 1}, headers=auth()), 400)
    assert "query" in body["errors"]
    body = assert_problem(post(c, {"nested": {"k\u0000": 1}, "name": "w", "quantity": 1}), 400)
    assert widget_app.created == []
    # a literal backslash-u text is not a NUL: it goes through to validation as usual
    assert post(c, {"name": "\\u0000", "quantity": 1}).status_code == 201
