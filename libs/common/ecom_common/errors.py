"""Problems (RFC 9457): every failure a client can see is one of these, rendered as
application/problem+json {"type", "title", "status", "detail", "errors"}.

Domain code raises DomainError subclasses (no Flask here); the HTTP layer maps them.
"""

from __future__ import annotations

from typing import Any


class Problem(Exception):
    status = 500
    title = "Internal Server Error"
    type_slug = "internal"

    def __init__(self, detail: str | None = None, errors: dict[str, Any] | None = None, **extra: Any) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.errors = errors or {}
        self.extra = extra

    def to_dict(self, base_type: str = "https://errors.ecom.example/") -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": base_type + self.type_slug,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            "errors": self.errors,
        }
        body.update(self.extra)
        return body


class BadRequest(Problem):
    status, title, type_slug = 400, "Bad Request", "bad-request"


class Unauthorized(Problem):
    status, title, type_slug = 401, "Unauthorized", "unauthorized"


class Forbidden(Problem):
    status, title, type_slug = 403, "Forbidden", "forbidden"


class NotFound(Problem):
    status, title, type_slug = 404, "Not Found", "not-found"


class MethodNotAllowed(Problem):
    status, title, type_slug = 405, "Method Not Allowed", "method-not-allowed"


class Conflict(Problem):
    status, title, type_slug = 409, "Conflict", "conflict"


class ContentTooLarge(Problem):
    status, title, type_slug = 413, "Content Too Large", "content-too-large"


class UnprocessableEntity(Problem):
    status, title, type_slug = 422, "Unprocessable Entity", "validation"


class ServiceUnavailable(Problem):
    status, title, type_slug = 503, "Service Unavailable", "unavailable"


class BadGateway(Problem):
    status, title, type_slug = 502, "Bad Gateway", "upstream"


# The type of a problem by status, for the ones not raised as a class above (werkzeug's and
# gunicorn's own errors).
TYPE_SLUGS = {
    400: "bad-request",
    401: "unauthorized",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    409: "conflict",
    413: "content-too-large",
    414: "uri-too-long",
    415: "unsupported-media-type",
    422: "validation",
    431: "header-fields-too-large",
    503: "unavailable",
}


def problem_for_status(status: int, title: str, detail: str | None, errors: dict[str, Any] | None = None) -> Problem:
    problem = Problem(detail, errors)
    problem.status, problem.title = status, title
    problem.type_slug = TYPE_SLUGS.get(status, f"http-{status}")
    return problem


# Domain-level errors: raised by domain.py code, which knows nothing of HTTP. -------------------
class DomainError(Exception):
    """Base for rule violations found by domain code."""

    problem: type[Problem] = UnprocessableEntity

    def __init__(self, detail: str, errors: dict[str, Any] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or {}


class RuleViolation(DomainError):
    """Valid input that breaks a business rule -> 422."""

    problem = UnprocessableEntity


class IllegalTransition(DomainError):
    """A state change the state machine does not allow -> 409."""

    problem = Conflict

    def __init__(self, entity: str, current: str, action: str):
        super().__init__(f"cannot {action} a {entity} that is {current}", {"status": [current]})
        self.current = current
        self.action = action


class ConflictError(DomainError):
    problem = Conflict


class ConcurrentChange(ConflictError):
    """A guarded write found the row changed since it was read (compare-and-set on its status or
    version): over HTTP a 409 that tells the caller to reload; in a handler, like any exception, the
    message goes through the retry tiers and the retry reads the new state."""

    def __init__(self, detail: str = "changed by someone else meanwhile; reload and try again"):
        super().__init__(detail)


# Signals to the consumer: not errors of the message, which will be right later. ----------------
class RetryLater(Exception):
    """A handler cannot act on this event yet (it overtook the event it answers, a peer is away):
    the consumer sends it through its back-off tiers (ecom_common.consumer) instead of dead-lettering
    it as poison. `reason` is logged and counted."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class LostRace(RetryLater):
    """A handler or job lost a race for a row to another writer (its conditional UPDATE matched
    nothing): retried, it reads the winner's state and decides again."""
