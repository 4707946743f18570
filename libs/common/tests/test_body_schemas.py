"""Every JSON body of every service refuses a string (or a float) where it takes an integer: the
schemas it is loaded with, and those they nest, derive from ecom_common.schemas.BodySchema."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re

import pytest
from marshmallow import Schema, ValidationError, fields

from ecom_common.config import PORTS
from ecom_common.schemas import BodySchema

# Bodies a view loads itself instead of through @blp.arguments (the signed webhooks).
LOADED_BY_HAND = {"logistics": ["TrackingIn"], "billing": ["WebhookEventIn"]}


def api_modules(service: str) -> list:
    """A service's api module, or every module of its api package (catalog's, logistics')."""
    api = importlib.import_module(f"{service}.api")
    parts = pkgutil.iter_modules(getattr(api, "__path__", []))
    return [api, *(importlib.import_module(f"{api.__name__}.{part.name}") for part in parts)]


def loaded_by_hand(service: str, modules: list) -> list[Schema]:
    """An instance of each schema LOADED_BY_HAND names, from whichever module defines it."""
    return [next(getattr(m, name) for m in modules if hasattr(m, name))() for name in LOADED_BY_HAND.get(service, [])]


def argument_schemas(modules: list) -> list[Schema]:
    """The schemas of the JSON bodies declared with @blp.arguments in a service's api modules."""
    found = []
    for view in (v for module in modules for v in vars(module).values()):
        if inspect.isfunction(view):
            for parameter in getattr(view, "_apidoc", {}).get("arguments", {}).get("parameters", []):
                if parameter["in"] == "json":
                    schema = parameter["schema"]
                    found.append(schema() if isinstance(schema, type) else schema)
    return found


def with_nested(schemas: list[Schema]) -> dict[type, Schema]:
    out: dict[type, Schema] = {}
    stack = list(schemas)
    while stack:
        schema = stack.pop()
        if type(schema) in out:
            continue
        out[type(schema)] = schema
        for field in schema.fields.values():
            for inner in containers(field):
                if isinstance(inner, fields.Nested):
                    stack.append(inner.schema)
    return out


def containers(field):
    yield field
    for inner in (
        getattr(field, "inner", None),
        getattr(field, "value_field", None),
        *(getattr(field, "tuple_fields", None) or ()),
    ):
        if inner is not None:
            yield from containers(inner)


def a_string_for_each_integer(field):
    """The field's value with "5" wherever an integer goes, or None when it holds no integer."""
    if isinstance(field, fields.Integer):
        return "5"
    if isinstance(field, fields.List):
        inner = a_string_for_each_integer(field.inner)
        return None if inner is None else [inner]
    if isinstance(field, fields.Dict) and field.value_field is not None:
        inner = a_string_for_each_integer(field.value_field)
        return None if inner is None else {"k": inner}
    return None


def flat(messages, prefix=""):
    if isinstance(messages, dict):
        for key, value in messages.items():
            yield from flat(value, f"{prefix}.{key}" if prefix else str(key))
    else:
        yield prefix, messages


def body_schemas() -> list:
    params = []
    for service in PORTS:
        modules = api_modules(service)
        for schema in with_nested(argument_schemas(modules) + loaded_by_hand(service, modules)).values():
            params.append(pytest.param(schema, id=f"{service}.{type(schema).__name__}"))
    return params


@pytest.mark.parametrize("service", list(PORTS))
def test_every_body_a_view_loads_by_hand_is_listed(service):
    source = "".join(inspect.getsource(module) for module in api_modules(service))
    loaded = set(re.findall(r"(\w+)\(\)\.load\(", source))
    assert loaded <= set(LOADED_BY_HAND.get(service, [])), "add it to LOADED_BY_HAND"


@pytest.mark.parametrize("schema", body_schemas())
def test_a_body_refuses_a_string_for_an_integer(schema):
    assert isinstance(schema, BodySchema), "a JSON body schema derives from ecom_common.schemas.BodySchema"
    for name, field in schema.fields.items():
        if field.dump_only:
            continue
        bad = a_string_for_each_integer(field)
        if bad is None:
            continue
        key = field.data_key or name
        with pytest.raises(ValidationError) as refused:
            type(schema)().load({key: bad})
        # A FlatErrorsSchema (orders) names nested fields "lines.0.quantity" itself.
        messages = dict(flat(refused.value.messages))
        assert any(path.split(".")[0] == key and "Not a valid integer." in m for path, m in messages.items()), (
            key,
            messages,
        )
