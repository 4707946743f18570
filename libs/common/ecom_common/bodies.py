"""What a request body may be, checked where the body is read, never before the caller is known.

- Size: at most `max_body_bytes(config)` (1 MiB unless `<SERVICE>_MAX_BODY_BYTES` or
  `ECOM_MAX_BODY_BYTES` says otherwise). A declared Content-Length over it is refused with 413
  before the request goes further (nothing is read); a chunked body is refused with 413 once it
  passes the limit (`Request.get_data`). Views authenticate before they parse, so a request
  without a valid token is refused before its body is read.
- JSON: nested at most MAX_JSON_DEPTH containers deep, and no NUL character in any string
  (PostgreSQL cannot store one). Both are 400 problems. Every way a view reads JSON goes through
  `loads`: `request.get_json()` (`Request`), webargs (`Blueprint`'s parser) and hand-parsed
  webhooks.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable
from typing import Any, Literal, overload

import flask
import flask_smorest
from marshmallow import Schema
from webargs import core
from webargs.flaskparser import FlaskParser, is_json_request

from .config import Config
from .errors import BadRequest, ContentTooLarge, UnprocessableEntity

log = logging.getLogger("ecom.http")

DEFAULT_MAX_BODY_BYTES = 1024 * 1024
# A Flask view function: its URL arguments (and the arguments flask-smorest parsed) in, a response out.
View = Callable[..., Any]
# No document of this platform nests more than a few levels; the parsers recurse per level, so a
# body nested thousands deep would exhaust the stack (a 500) if it were not refused first.
MAX_JSON_DEPTH = 32


def max_body_bytes(config: Config) -> int:
    """The largest request body the service accepts: `<SERVICE>_MAX_BODY_BYTES`, else
    `ECOM_MAX_BODY_BYTES`, else 1 MiB."""
    default = config.setting("ECOM_MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES, int)
    limit = config.setting(f"{config.service.upper()}_MAX_BODY_BYTES", default, int)
    if limit <= 0:
        raise ValueError(f"the body limit of {config.service} must be a positive number of bytes, not {limit}")
    return limit


def too_large(limit: int) -> ContentTooLarge:
    return ContentTooLarge(
        f"the request body is larger than this service accepts ({limit} bytes at most)",
        {"body": [f"At most {limit} bytes."]},
    )


def refuse_oversize_body() -> None:
    """before_request: a declared length over the limit is refused without reading a byte."""
    limit = flask.current_app.config["MAX_CONTENT_LENGTH"]
    if flask.request.content_length is not None and flask.request.content_length > limit:
        raise too_large(limit)


def loads(data: bytes | str) -> Any:
    """JSON of a request body. Malformed JSON raises ValueError (json.JSONDecodeError or
    UnicodeDecodeError) as json.loads does, for the caller's own "invalid JSON" answer; too deep or
    carrying a NUL character is a BadRequest problem."""
    text = data.decode("utf-8") if isinstance(data, (bytes, bytearray)) else data
    try:
        value = json.loads(text)
    except RecursionError:
        raise _too_deep() from None
    # Only a body with that many brackets can be that deep, only one with the escape can hold a NUL
    # (a raw one is invalid JSON): most bodies are not walked at all.
    deep = text.count("[") + text.count("{") > MAX_JSON_DEPTH
    nul = "\\u0000" in text.lower()
    if deep or nul:
        _walk(value, nul)
    return value


def _walk(value: object, nul: bool) -> None:
    stack: list[tuple[object, int]] = [(value, 0)]
    while stack:  # a loop, not recursion: the depth is what is being checked
        node, depth = stack.pop()
        if isinstance(node, (dict, list)):
            if depth >= MAX_JSON_DEPTH:
                raise _too_deep()
            children = [*node.keys(), *node.values()] if isinstance(node, dict) else node
            stack.extend((child, depth + 1) for child in children)
        elif nul and isinstance(node, str) and "\x00" in node:
            raise BadRequest(
                "the request's body contains a NUL character", {"body": ["NUL characters (\\u0000) are not accepted."]}
            )


def _too_deep() -> BadRequest:
    log.warning("refused a JSON body nested deeper than %d levels", MAX_JSON_DEPTH)
    return BadRequest(
        f"the request body is nested too deeply (at most {MAX_JSON_DEPTH} levels)",
        {"body": [f"Nested deeper than {MAX_JSON_DEPTH} levels."]},
    )


class _RequestJson:
    """What `request.get_json()` parses with: `loads` (werkzeug turns its ValueError into 400)."""

    loads = staticmethod(lambda data, **_kwargs: loads(data))
    dumps = staticmethod(flask.json.dumps)


class Request(flask.Request):
    # werkzeug types it as the json module; what it uses of it is `loads` and `dumps`.
    @property  # type: ignore[override]
    def json_module(self) -> type[_RequestJson]:
        return _RequestJson

    @json_module.setter
    def json_module(self, _provider: object) -> None:
        """Flask hands each request the app's JSON provider; a request body parses with `loads`."""

    @overload
    def get_data(self, cache: bool = ..., as_text: Literal[False] = ..., parse_form_data: bool = ...) -> bytes: ...
    @overload
    def get_data(self, cache: bool = ..., as_text: Literal[True] = ..., parse_form_data: bool = ...) -> str: ...
    def get_data(self, cache: bool = True, as_text: bool = False, parse_form_data: bool = False) -> bytes | str:
        data = super().get_data(cache=cache, parse_form_data=parse_form_data)
        # werkzeug stops reading a body of unknown length (chunked) at MAX_CONTENT_LENGTH and hands
        # over what it read: a body cut short, not refused. One byte more tells which it was.
        limit = self.max_content_length
        if (
            self.content_length is None
            and limit is not None
            and len(data) >= limit
            and self.environ["wsgi.input"].read(1)
        ):
            raise too_large(limit)
        return data.decode(errors="replace") if as_text else data


class BodyParser(FlaskParser):
    """webargs reading JSON bodies with `loads`."""

    def _raw_load_json(self, req: flask.Request) -> Any:
        if not is_json_request(req):
            return core.missing
        return loads(req.get_data(cache=True))


class Blueprint(flask_smorest.Blueprint):  # type: ignore[misc]  # flask-smorest has no type information
    """The blueprint every service declares its routes on: its `arguments` parse with BodyParser
    (make_app refuses any other, so that no route skips the body checks), and a JSON body the
    operation documents as required is required. webargs reads a missing body (or one not sent as
    JSON) as `{}`, which a schema with no required field accepts: PUT/PATCH of all-optional fields
    answered 200 to nothing at all. Checked where the body is parsed, after authentication."""

    ARGUMENTS_PARSER = BodyParser()

    def arguments(
        self, schema: Schema | type[Schema], *, location: str = "json", required: bool = True, **kwargs: Any
    ) -> Callable[[View], View]:
        decorator: Callable[[View], View] = super().arguments(schema, location=location, required=required, **kwargs)
        if location != "json" or not required:
            return decorator

        def body_required(func: View) -> View:
            parse = decorator(func)

            @functools.wraps(parse)
            def view(*args: Any, **kw: Any) -> Any:
                if not is_json_request(flask.request) or not flask.request.get_data(cache=True).strip():
                    raise UnprocessableEntity(
                        "this request needs a JSON body (Content-Type: application/json)",
                        {"body": ["A JSON body is required."]},
                    )
                return parse(*args, **kw)

            return view

        return body_required


def limit_bodies(app: flask.Flask, config: Config) -> None:
    """The app's limit and request class (make_app also registers `refuse_oversize_body`)."""
    app.config["MAX_CONTENT_LENGTH"] = max_body_bytes(config)
    app.request_class = Request
