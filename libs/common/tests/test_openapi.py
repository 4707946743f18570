"""The OpenAPI document says what the server enforces (issue 14, item 14): what the HTTP kit refuses
whatever the field (NUL characters, made-up cursors, a missing required body), the headers it reads,
and what marshmallow refuses that apispec's rendering admits (null in a free-form value, any object
for a nullable nested one)."""

import pytest
from marshmallow import fields

from ecom_common.auth import requires
from ecom_common.http import NO_NUL, Blueprint, make_app
from ecom_common.idempotency import idempotent
from ecom_common.pagination import PageArgs
from ecom_common.schemas import BodySchema
from ecom_testkit import auth


class Size(BodySchema):
    width = fields.Int(required=True)


class GadgetPatch(BodySchema):
    name = fields.Str()
    specs = fields.Dict(keys=fields.Str(), values=fields.Raw())
    size = fields.Nested(Size, allow_none=True)


@pytest.fixture
def gadget_app(db):
    blp = Blueprint("gadgets", __name__, url_prefix="/api/v1")
    changed = []

    @blp.route("/gadgets/<gadget_id>", methods=["PATCH"])
    @requires("ops")
    @idempotent(required=True)
    @blp.arguments(GadgetPatch)
    @blp.response(200, GadgetPatch)
    def patch(body, gadget_id):
        changed.append(body)
        return body

    @blp.route("/gadgets", methods=["GET"])
    @requires("ops")
    @blp.arguments(PageArgs, location="query")
    @blp.response(200)
    def gadgets(args):
        return {"items": []}

    app = make_app(db.config, [blp], db=db)
    app.changed = changed
    return app


def spec_of(app) -> dict:
    return app.test_client().get("/openapi.json").get_json()


def test_the_spec_says_no_nul_on_every_string_and_path_parameter(gadget_app):
    spec = spec_of(gadget_app)
    assert spec["components"]["schemas"]["GadgetPatch"]["properties"]["name"]["pattern"] == NO_NUL
    (path_parameter,) = spec["paths"]["/api/v1/gadgets/{gadget_id}"]["parameters"]
    assert path_parameter["schema"]["pattern"] == NO_NUL
    assert "NUL" in spec["info"]["description"]


def test_the_spec_says_a_cursor_is_only_one_the_list_returned(gadget_app):
    (cursor,) = [
        p for p in spec_of(gadget_app)["paths"]["/api/v1/gadgets"]["get"]["parameters"] if p["name"] == "cursor"
    ]
    assert cursor["schema"]["pattern"] == "^[A-Za-z0-9_-]*$" and "next_cursor" in cursor["description"]


def test_a_free_form_value_is_not_null_and_a_nullable_nested_one_is_null_or_the_schema(gadget_app):
    properties = spec_of(gadget_app)["components"]["schemas"]["GadgetPatch"]["properties"]
    assert {"type": "null"} not in properties["specs"]["additionalProperties"]["anyOf"]
    assert {b.get("type") for b in properties["specs"]["additionalProperties"]["anyOf"]} == {
        "string",
        "number",
        "boolean",
        "array",
        "object",
    }
    assert {"type": "object", "nullable": True, "enum": [None]} in properties["size"]["anyOf"]
    # as the server has it
    c = gadget_app.test_client()
    headers = {**auth("ops"), "Idempotency-Key": "k"}
    assert c.patch("/api/v1/gadgets/g1", json={"specs": {"colour": None}}, headers=headers).status_code == 422
    assert c.patch("/api/v1/gadgets/g1", json={"size": None}, headers=headers).status_code == 200


def test_the_idempotency_key_header_is_documented_where_it_is_read(gadget_app):
    operation = spec_of(gadget_app)["paths"]["/api/v1/gadgets/{gadget_id}"]["patch"]
    (header,) = [p for p in operation["parameters"] if p["in"] == "header"]
    assert header["name"] == "Idempotency-Key" and header["required"] is True
    assert "default" not in operation["responses"]


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"data": "name=x"}, {"data": "", "content_type": "application/json"}],
    ids=["no body", "not JSON", "empty JSON body"],
)
def test_a_required_body_is_required_even_when_every_field_is_optional(gadget_app, kwargs):
    c = gadget_app.test_client()
    answer = c.patch("/api/v1/gadgets/g1", headers={**auth("ops"), "Idempotency-Key": "k"}, **kwargs)
    assert answer.status_code == 422, answer.get_data(as_text=True)
    assert answer.mimetype == "application/problem+json" and "body" in answer.get_json()["errors"]
    assert gadget_app.changed == []
    # authentication comes first: no token is 401, whatever the body
    assert c.patch("/api/v1/gadgets/g1", headers={"Idempotency-Key": "k"}, **kwargs).status_code == 401
    assert c.patch("/api/v1/gadgets/g1", json={}, headers={**auth("ops"), "Idempotency-Key": "k"}).status_code == 200
