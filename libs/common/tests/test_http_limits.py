"""Request bodies: limited in size, read only after the caller is authenticated, JSON bounded in
depth (ecom_common.bodies); the headers every answer carries (ecom_common.http)."""

import io
import json
import logging

import pytest
from flask import request
from flask_smorest import Blueprint as PlainBlueprint

from ecom_common import bodies
from ecom_common.auth import requires
from ecom_common.http import Blueprint, json_body
from ecom_testkit import auth, unit_config


class WatchedBody(io.RawIOBase):
    """A request body that counts what is read from it: `size` bytes of JSON-ish filler."""

    def __init__(self, size: int):
        self.left = size
        self.read_bytes = 0

    def readable(self):
        return True

    def readinto(self, buffer):
        n = min(len(buffer), self.left)
        buffer[:n] = b"[" * n
        self.left -= n
        self.read_bytes += n
        return n


def send(client, body: WatchedBody, length: str, headers=None, **environ):
    """POST a widget with `body` as the WSGI input stream and Content-Length `length` ("" for none)."""
    return client.post(
        "/api/v1/widgets",
        headers=headers or {},
        environ_overrides={
            "wsgi.input": io.BufferedReader(body),
            "CONTENT_LENGTH": length,
            "CONTENT_TYPE": "application/json",
            **environ,
        },
    )


def assert_problem(resp, status):
    assert resp.status_code == status, resp.get_data(as_text=True)
    assert resp.mimetype == "application/problem+json"
    body = resp.get_json(force=True)
    assert body["status"] == status and set(body) >= {"type", "title", "detail", "errors"}
    return body


def app_with(make_widget_app, **settings):
    """The widget app plus two views that parse JSON by hand: json_body() and request.get_json()."""
    raw = Blueprint("raw", __name__, url_prefix="/api/v1")

    @raw.route("/raw", methods=["POST"])
    @requires("ops")
    def by_hand():
        return {"keys": sorted(json_body())}

    @raw.route("/flask-json", methods=["POST"])
    @requires("ops")
    def by_flask():
        return {"type": type(request.get_json()).__name__}

    return make_widget_app(settings, (raw,))


# Size and order ----------------------------------------------------------------------------------
def test_a_body_without_a_token_is_refused_before_it_is_read(widget_app):
    body = WatchedBody(1000)
    assert_problem(send(widget_app.test_client(), body, "1000"), 401)
    assert body.read_bytes == 0
    assert widget_app.created == []


@pytest.mark.parametrize("headers", [{}, auth("ops")], ids=["no token", "token"])
def test_a_declared_length_over_the_limit_is_413_without_reading_it(widget_app, headers):
    body = WatchedBody(200 * 1024 * 1024)
    problem = assert_problem(send(widget_app.test_client(), body, str(200 * 1024 * 1024), headers), 413)
    assert problem["type"].endswith("/content-too-large") and "1048576 bytes" in problem["detail"]
    assert body.read_bytes == 0


def test_a_chunked_body_is_cut_off_once_it_passes_the_limit(make_widget_app):
    app = app_with(make_widget_app, ECOM_MAX_BODY_BYTES="10000")
    body = WatchedBody(50 * 1024 * 1024)
    resp = send(
        app.test_client(), body, "", auth("ops"), **{"wsgi.input_terminated": True, "HTTP_TRANSFER_ENCODING": "chunked"}
    )
    assert_problem(resp, 413)
    assert body.read_bytes < 1024 * 1024  # stopped near the limit, not read to the end
    assert app.created == []


def test_the_limit_is_a_setting_per_service_or_for_all(tmp_path):
    config = unit_config("inventory", tmp_path)
    assert bodies.max_body_bytes(config) == 1024 * 1024
    assert bodies.max_body_bytes(config.with_(settings={"ECOM_MAX_BODY_BYTES": "2048"})) == 2048
    assert (
        bodies.max_body_bytes(
            config.with_(settings={"ECOM_MAX_BODY_BYTES": "2048", "INVENTORY_MAX_BODY_BYTES": "4096"})
        )
        == 4096
    )
    with pytest.raises(ValueError):
        bodies.max_body_bytes(config.with_(settings={"INVENTORY_MAX_BODY_BYTES": "0"}))


def test_a_body_under_a_lowered_limit_passes_and_one_over_it_is_413(make_widget_app):
    c = app_with(make_widget_app, INVENTORY_MAX_BODY_BYTES="100").test_client()
    ok = c.post("/api/v1/widgets", json={"name": "w", "quantity": 1}, headers=auth("ops"))
    assert ok.status_code == 201
    assert_problem(c.post("/api/v1/widgets", json={"name": "w" * 100, "quantity": 1}, headers=auth("ops")), 413)


# JSON depth ----------------------------------------------------------------------------------------
class Records(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record):
        self.records.append(record)


def nested(depth: int) -> str:
    return '{"name": "w", "quantity": 1, "x": ' + "[" * depth + "]" * depth + "}"


@pytest.mark.parametrize("path", ["/api/v1/widgets", "/api/v1/raw", "/api/v1/flask-json"])
@pytest.mark.parametrize("depth", [33, 1000, 100_000])
def test_deeply_nested_json_is_400_and_one_log_line(make_widget_app, path, depth):
    c = app_with(make_widget_app).test_client()
    records = Records()
    logging.getLogger().addHandler(records)
    try:
        resp = c.post(path, data=nested(depth), content_type="application/json", headers=auth("ops"))
    finally:
        logging.getLogger().removeHandler(records)
    problem = assert_problem(resp, 400)
    assert problem["errors"] == {"body": ["Nested deeper than 32 levels."]}
    assert [r.getMessage() for r in records.records] == ["refused a JSON body nested deeper than 32 levels"]
    assert all(r.exc_info is None for r in records.records)


def test_deeply_nested_json_without_a_token_is_401(widget_app):
    assert_problem(
        widget_app.test_client().post("/api/v1/widgets", data=nested(1000), content_type="application/json"), 401
    )


def test_json_within_the_depth_limit_is_parsed(make_widget_app):
    c = app_with(make_widget_app).test_client()
    resp = c.post("/api/v1/raw", data=nested(31), content_type="application/json", headers=auth("ops"))
    assert resp.status_code == 200 and resp.get_json() == {"keys": ["name", "quantity", "x"]}
    assert bodies.loads(json.dumps({"a": [{"b": "\\u0000"}]})) == {"a": [{"b": "\\u0000"}]}


def test_a_nul_in_a_hand_parsed_body_is_400(make_widget_app):
    resp = (
        app_with(make_widget_app)
        .test_client()
        .post("/api/v1/raw", data='{"k": "a\\u0000"}', content_type="application/json", headers=auth("ops"))
    )
    assert "body" in assert_problem(resp, 400)["errors"]


def test_make_app_refuses_a_blueprint_that_would_skip_the_body_checks(make_widget_app):
    with pytest.raises(TypeError, match="ecom_common.http.Blueprint"):
        make_widget_app(more=(PlainBlueprint("plain", __name__),))


# Headers -------------------------------------------------------------------------------------------
def test_405_names_the_allowed_methods(widget_app):
    resp = widget_app.test_client().delete("/api/v1/widgets")
    assert_problem(resp, 405)
    assert "POST" in {m.strip() for m in resp.headers["Allow"].split(",")}


def test_every_answer_is_nosniff_and_api_answers_are_not_stored(widget_app):
    c = widget_app.test_client()
    for resp in (
        c.get("/healthz"),
        c.get("/api/v1/nothing"),
        c.post("/api/v1/widgets", json={}),
        c.post("/api/v1/widgets", json={"name": "w", "quantity": 1}, headers=auth("ops")),
    ):
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert "Cache-Control" not in c.get("/healthz").headers
    for resp in (
        c.get("/api/v1/nothing"),
        c.post("/api/v1/widgets", json={}),
        c.post("/api/v1/widgets", json={"name": "w", "quantity": 1}, headers=auth("ops")),
    ):
        assert resp.headers["Cache-Control"] == "no-store"
