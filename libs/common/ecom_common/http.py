"""The HTTP kit every service's Flask app is built with.

- problem+json for every failure (validation -> 422 with field messages, malformed JSON -> 400,
  unknown route -> 404, a body over the limit -> 413, unreachable database -> 503, anything
  unexpected -> 500);
- request bodies limited in size and checked where they are read (ecom_common.bodies);
- `X-Content-Type-Options: nosniff` on every answer, `Cache-Control: no-store` on every /api/ one;
- correlation id from X-Request-ID (or a new one), echoed back and carried into events and logs;
- cursor pagination;
- /healthz, /readyz, /metrics, /openapi.json.
"""

from __future__ import annotations

import contextlib
import http as http_status
import json
import logging
import time
from typing import Any

import sqlalchemy as sa
from apispec import BasePlugin
from apispec.ext.marshmallow.field_converter import FieldConverterMixin
from flask import Flask, Response, current_app, g, make_response, request
from flask.json.provider import DefaultJSONProvider
from flask_smorest import Api
from flask_smorest.utils import prepare_response
from marshmallow import INCLUDE, Schema, fields, validate
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from . import bodies, bus, context, metrics
from .bodies import Blueprint  # noqa: F401 (services declare their routes on it: make_app refuses others)
from .config import Config
from .db import Database
from .errors import BadRequest, DomainError, Problem, ServiceUnavailable, UnprocessableEntity, problem_for_status
from .observability import configure_logging
from .outbox import pending_count

log = logging.getLogger("ecom.http")

PROBLEM_JSON = "application/problem+json"


# Errors ----------------------------------------------------------------------------------------
def problem_response(problem: Problem) -> Response:
    resp = make_response(json.dumps(problem.to_dict(), ensure_ascii=False), problem.status)
    resp.mimetype = PROBLEM_JSON
    if problem.status == 401:
        resp.headers["WWW-Authenticate"] = 'Bearer realm="ecom"'
    return resp


def _flatten_messages(messages: object) -> dict[str, Any]:
    """webargs nests messages by location ({"json": {...}, "query": {...}}): merge the locations."""
    if not isinstance(messages, dict):
        return {"_schema": messages if isinstance(messages, list) else [str(messages)]}
    out: dict[str, Any] = {}
    for location, errs in messages.items():
        if location in ("json", "query", "form", "headers", "view_args", "files", "path") and isinstance(errs, dict):
            out.update(errs)
        elif location in ("json", "query") and isinstance(errs, list):
            out.setdefault("_schema", []).extend(errs)
        else:
            out[location] = errs
    return out


def _from_http_exception(exc: HTTPException) -> Problem:
    data = getattr(exc, "data", None) or {}
    errors = _flatten_messages(data["messages"]) if "messages" in data else {}
    problem = problem_for_status(
        exc.code or 500, exc.name, exc.description if exc.code != 422 else "the request failed validation", errors
    )
    if problem.status == 400 and errors.get("_schema") == ["Invalid JSON body."]:
        problem.detail = "the request body is not valid JSON"
        problem.errors = {"body": ["Invalid JSON body."]}
    return problem


# The database unavailable (503): what the request had written when it failed, in words and as the
# problem's `outcome` member (context.NOTHING / SAVED / UNKNOWN).
DB_DOWN = {
    context.NOTHING: "the database is unavailable; nothing was changed, retry later",
    # lost after this request's own commit: the change is saved (write views build their answer
    # before the commit; this is one that reads after it)
    context.SAVED: "the database went away after this request's change was saved: it is saved, but the answer "
    "could not be read; look it up instead of sending the request again (with the same "
    "Idempotency-Key a repeat is refused as already processed)",
    # lost at the commit: the server may or may not have applied it
    context.UNKNOWN: "the database went away while this request's change was being saved: it may or may not be "
    "saved; repeat the request with the same Idempotency-Key once the service is back (it is "
    "refused as already processed if it was saved) or look it up",
}


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(Problem)
    def _problem(exc: Problem) -> Response:
        return problem_response(exc)

    @app.errorhandler(DomainError)
    def _domain(exc: DomainError) -> Response:
        return problem_response(exc.problem(exc.detail, exc.errors))

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Response:
        resp = problem_response(_from_http_exception(exc))
        # What the exception says beyond its page, e.g. a 405's Allow (RFC 9110 requires it).
        for name, value in exc.get_headers():
            if name.lower() != "content-type":
                resp.headers[name] = value
        return resp

    @app.errorhandler(RequestEntityTooLarge)
    def _too_large(exc: RequestEntityTooLarge) -> Response:
        # werkzeug's own 413 (a body stream read again past the limit) answered as bodies' are: a
        # declared length over the limit in refuse_oversize_body, a chunked one in Request.get_data.
        return problem_response(bodies.too_large(current_app.config["MAX_CONTENT_LENGTH"]))

    @app.errorhandler(sa.exc.DataError)
    def _unstorable(exc: sa.exc.DataError) -> Response:
        # A value the database refuses (out of range, not representable): the client's input, and
        # the transaction is rolled back. The input schemas bound what they can (MAX_INT); this
        # covers what they cannot see, e.g. a total computed from bounded parts.
        log.warning("a value the database cannot store: %s", str(getattr(exc, "orig", exc)).splitlines()[0])
        return problem_response(
            UnprocessableEntity(
                "a value in this request is out of the range this service can store; nothing was changed",
                {"_schema": ["A value is out of range."]},
            )
        )

    @app.errorhandler(sa.exc.OperationalError)
    @app.errorhandler(sa.exc.InterfaceError)
    def _db_down(exc: sa.exc.DBAPIError) -> Response:
        log.error("database unavailable: %r", exc)
        return problem_response(ServiceUnavailable(DB_DOWN[context.written()], outcome=context.written()))

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        log.exception("unhandled error")
        return problem_response(Problem("an unexpected error occurred; it has been logged"))


# Request context -------------------------------------------------------------------------------
def _has_nul(value: object) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


def _refuse_nul_characters() -> None:
    """No text a client sends may carry a NUL character: PostgreSQL cannot store one in a text
    column (the statement fails: a 500 after the request was accepted), and no field of this
    platform has a use for it. Refused up front as a 400, for every service and every field. The
    body is checked where it is parsed (bodies.loads), after the caller is authenticated: reading
    it here would read every body before knowing who sent it."""
    where = None
    if "\x00" in request.path:
        where = "path"
    elif any(_has_nul(k) or _has_nul(v) for k, v in request.args.items(multi=True)):
        where = "query"
    elif any("\x00" in v for _, v in request.headers.items()):
        where = "headers"
    if where:
        raise BadRequest(
            f"the request's {where} contains a NUL character", {where: ["NUL characters (\\u0000) are not accepted."]}
        )


def _before() -> None:
    g.started = time.perf_counter()
    cid = request.headers.get("X-Request-ID") or context.new_id()
    g.correlation_id = cid[:100]
    context.set_correlation(g.correlation_id)
    _refuse_nul_characters()


def _after(resp: Response) -> Response:
    resp.headers["X-Request-ID"] = g.get("correlation_id", "")
    service = current_app.config["ECOM"].service
    endpoint = request.url_rule.rule if request.url_rule else "unmatched"
    metrics.HTTP_REQUESTS.labels(service, request.method, endpoint, resp.status_code).inc()
    if "started" in g:
        metrics.HTTP_LATENCY.labels(service, request.method, endpoint).observe(time.perf_counter() - g.started)
    return resp


def _protective_headers(resp: Response) -> Response:
    """No browser may guess another type than the one sent (a JSON answer holding a customer's
    text rendered as HTML), and no cache, shared or private, may keep an API answer: they carry
    personal data (addresses, phones) to the roles allowed to see it. A view may set its own
    Cache-Control."""
    resp.headers["X-Content-Type-Options"] = "nosniff"
    if request.path.startswith("/api/"):
        resp.headers.setdefault("Cache-Control", "no-store")
    return resp


# Accessors -------------------------------------------------------------------------------------
def current_db() -> Database:
    db: Database = current_app.extensions["ecom.db"]
    return db


def current_config() -> Config:
    config: Config = current_app.config["ECOM"]
    return config


def json_body() -> dict[str, Any]:
    """For views that parse by hand: malformed JSON is a 400 problem, never a 500."""
    # bodies.Request: too deep or with a NUL is a 400 problem
    data: dict[str, Any] | None = request.get_json(silent=True)
    if data is None:
        raise BadRequest("the request body must be a JSON object", {"body": ["Invalid JSON body."]})
    return data


# Health ----------------------------------------------------------------------------------------
def register_health(app: Flask) -> None:
    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok", "service": current_config().service}

    @app.get("/readyz")
    def readyz() -> dict[str, Any] | Response:
        checks: dict[str, str] = {}
        try:
            current_db().ping()
            checks["database"] = "ok"
        except Exception as exc:
            checks["database"] = f"unreachable: {type(exc).__name__}"
        try:
            bus.check_broker(current_config())
            checks["broker"] = "ok"
        except Exception as exc:
            checks["broker"] = f"unreachable: {type(exc).__name__}"
        if all(v == "ok" for v in checks.values()):
            return {"status": "ready", "service": current_config().service, "checks": checks}
        failed = ", ".join(k for k, v in checks.items() if v != "ok")
        return problem_response(ServiceUnavailable(f"not ready: {failed}", checks=checks))

    @app.get("/metrics")
    def prometheus() -> Response:
        with contextlib.suppress(Exception):
            metrics.OUTBOX_PENDING.labels(current_config().service).set(pending_count(current_db()))
        return Response(generate_latest(), mimetype=CONTENT_TYPE_LATEST)


# OpenAPI: the errors as they are on the wire ---------------------------------------------------
class ProblemSchema(Schema):
    """application/problem+json (RFC 9457), as `problem_response` renders every failure."""

    type = fields.Str(required=True)
    title = fields.Str(required=True)
    status = fields.Int(required=True)
    detail = fields.Str(required=True)
    errors = fields.Dict(required=True, metadata={"description": "field -> messages"})
    outcome = fields.Str(
        validate=validate.OneOf(list(DB_DOWN)),
        metadata={
            "description": "503 when the database is unavailable: what the request had written, `nothing_changed`, "
            "`saved` (the answer was lost after the commit) or `unknown` (lost at the commit)"
        },
    )

    class Meta:
        # Some problems add members (readyz: `checks`): RFC 9457 allows extensions.
        unknown = INCLUDE


# The failures any operation can answer (register_error_handlers): malformed body, cursor or
# Idempotency-Key 400; no/bad token 401; role or shop 403; unknown or another tenant's resource 404;
# validation or rule 422; database or peer down 503. Writes can also conflict (state, key reuse) 409,
# and carry a body, which is refused over the service's limit with 413 (ecom_common.bodies).
COMMON_PROBLEMS = (400, 401, 403, 404, 422, 503)
WRITE_PROBLEMS = (409, 413)


# The spelling of "no NUL character" in the spec (_refuse_nul_characters answers 400 to one anywhere).
NO_NUL = "^[^\\x00]*$"


# apispec's OpenAPI 3.0 spelling of a nullable nested schema, `anyOf: [{type: object, nullable}, $ref]`,
# admits any object; the server admits null or the nested schema.
_ANY_OBJECT = {"type": "object", "nullable": True}


def say_what_is_enforced(
    converter: FieldConverterMixin, field: fields.Field[Any], ret: dict[str, Any], **kwargs: Any
) -> dict[str, Any]:
    """apispec attribute function: what the server enforces on a field beyond marshmallow's own
    words. Every string field without a pattern, format or enum of its own says that a NUL character
    is refused (_refuse_nul_characters, 400); a free-form value is not null unless it may be; a
    nullable nested schema is null or that schema."""
    if isinstance(field, fields.String) and not {"pattern", "format", "enum"} & set(ret):
        return {"pattern": NO_NUL}
    if type(field) is fields.Raw and not field.allow_none and not {"type", "anyOf"} & set(ret):
        # `{}` admits null; marshmallow refuses it ("Field may not be null.")
        return {"anyOf": [{"type": t} for t in ("string", "number", "boolean", "array", "object")]}
    if isinstance(ret.get("anyOf"), list) and _ANY_OBJECT in ret["anyOf"]:
        return {"anyOf": [dict(b, enum=[None]) if b == _ANY_OBJECT else b for b in ret["anyOf"]]}
    return {}


class ProblemApi(Api):  # type: ignore[misc]  # flask-smorest has no type information
    """flask-smorest's Api documenting errors as they are sent: problem+json, not its own Error."""

    ERROR_SCHEMA = ProblemSchema
    # No catch-all `default` answer: an operation documents the statuses it can answer (the plugin
    # below adds the HTTP kit's), so that an undocumented one is a finding, not "default".
    DEFAULT_ERROR_RESPONSE_NAME = None

    def _register_responses(self) -> None:
        for status in http_status.HTTPStatus:
            response: dict[str, Any] = {"description": status.phrase}
            if status >= 400:
                response["schema"] = self.ERROR_SCHEMA
                prepare_response(response, self.spec, PROBLEM_JSON)
            else:
                prepare_response(response, self.spec, self.DEFAULT_RESPONSE_CONTENT_TYPE)
            self.spec.components.response(status.name, response, lazy=True)


class ProblemResponsesPlugin(BasePlugin):
    """Declare on every operation the problems the HTTP kit can answer, so that clients (and
    schemathesis) can rely on the documented statuses; an operation's own declaration wins."""

    def path_helper(
        self,
        path: str | None = None,
        operations: dict[str, Any] | None = None,
        parameters: list[dict[str, Any]] | None = None,
        **kwargs: Any,
    ) -> str | None:
        # Path parameters come from the URL rule, not from a marshmallow field: say "no NUL" here.
        for parameter in parameters or ():
            schema = parameter.get("schema") if isinstance(parameter, dict) else None
            if parameter.get("in") == "path" and isinstance(schema, dict) and schema.get("type") == "string":
                schema.setdefault("pattern", NO_NUL)
        return path

    def operation_helper(
        self, path: str | None = None, operations: dict[str, Any] | None = None, **kwargs: Any
    ) -> None:
        for method, operation in (operations or {}).items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            responses = operation.setdefault("responses", {})
            statuses = COMMON_PROBLEMS + (WRITE_PROBLEMS if method != "get" else ())
            for status in statuses:
                responses.setdefault(str(status), http_status.HTTPStatus(status).name)


# The app factory -------------------------------------------------------------------------------
# What every operation enforces that a field's schema cannot say (OpenAPI 3.0 cannot constrain an
# object's keys or free-form values), appended to each service's description.
API_RULES = (
    "\n\nEvery failure is application/problem+json. Text containing a NUL character (U+0000) is "
    "refused with 400 wherever it appears: path, query, headers, and any string or object key of a "
    "JSON body. A list's `cursor` is valid only as the list returned it (`next_cursor`); any "
    "other value is a 400. A 422 names the fields that broke a rule, including rules over stored "
    "data or across fields that the operation's description states."
)


def make_app(
    config: Config, blueprints: list[bodies.Blueprint], db: Database | None = None, description: str = ""
) -> Flask:
    configure_logging(config.service)
    app = Flask(config.service)
    app.config.update(
        ECOM=config,
        TESTING=config.testing,
        API_TITLE=f"ecom {config.service}",
        API_VERSION="v1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/",
        OPENAPI_JSON_PATH="openapi.json",
        JSON_SORT_KEYS=False,
    )
    json_provider = app.json
    assert isinstance(json_provider, DefaultJSONProvider)  # Flask's own: make_app keeps it
    json_provider.ensure_ascii = False
    json_provider.sort_keys = False
    app.extensions["ecom.db"] = db or Database(config)
    bodies.limit_bodies(app, config)
    api = ProblemApi(
        app,
        spec_kwargs={
            "info": {"description": (description or f"The {config.service} service of the ecom platform.") + API_RULES},
            "security": [{"bearerAuth": []}],
            "extra_plugins": [ProblemResponsesPlugin()],
        },
    )
    api.ma_plugin.converter.add_attribute_function(say_what_is_enforced)
    api.spec.components.security_scheme("bearerAuth", {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"})
    for blp in blueprints:
        if not isinstance(blp, bodies.Blueprint):
            raise TypeError(
                f"blueprint {blp.name!r} must be an ecom_common.http.Blueprint, whose arguments "
                "parse request bodies with their limits (ecom_common.bodies)"
            )
        api.register_blueprint(blp)
    register_error_handlers(app)
    register_health(app)
    app.before_request(_before)
    app.before_request(bodies.refuse_oversize_body)
    app.after_request(_after)
    app.after_request(_protective_headers)
    return app
