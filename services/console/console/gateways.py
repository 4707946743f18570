"""The services' public APIs, called with the signed-in PERSON's token (never a service token, never
their databases): what a person cannot do in a service, the console cannot do for them.

Views get the app's gateway with `services()`; unit tests put a fake in its place with
`ecom_common.peers.inject_gateway(app, KEY, fake)`."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ecom_common import context
from ecom_common.config import Config
from ecom_common.peers import PeerClient, gateway

KEY = "services"


@dataclass(frozen=True)
class Answer:
    """A service's answer: its status and JSON body (problem+json for a refusal)."""

    status: int
    body: Any

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def detail(self) -> str:
        if isinstance(self.body, dict):
            return str(self.body.get("detail") or self.body.get("title") or self.status)
        return str(self.status)


class PersonClient(PeerClient):
    """A PeerClient that sends the person's short-lived token instead of the service's own."""

    def __init__(self, config: Config, peer: str, token: str, extra: dict[str, str] | None = None):
        super().__init__(config, peer, timeout=10.0)
        self.person_token = token
        self.extra = extra or {}

    def _headers(self) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self.person_token}", **self.extra}
        cid = context.correlation_id()
        if cid:
            headers["X-Request-ID"] = cid
        return headers


@dataclass(frozen=True)
class Call:
    """One request to a service: method, path, query parameters and JSON body."""

    method: str
    path: str
    params: dict | None = None
    json: Any = None


class ServicesGateway:
    """Every call the console makes: `call(token, peer, Call(method, path, ...))`. Unreachable or
    failing services raise ecom_common.errors.ServiceUnavailable / BadGateway (the page says so)."""

    def __init__(self, config: Config):
        self.config = config

    def call(self, token: str, peer: str, request: Call) -> Answer:
        kwargs: dict[str, Any] = {"params": request.params}
        extra = None
        if request.method != "GET":
            kwargs["json"] = request.json if request.json is not None else {}
            extra = {"Idempotency-Key": uuid.uuid4().hex}
        resp = PersonClient(self.config, peer, token, extra).request(request.method, request.path, **kwargs)
        try:
            body = resp.json() if resp.content else None
        except ValueError:
            body = resp.text
        return Answer(resp.status_code, body)

    def stream(self, token: str, peer: str, path: str, *, params: dict | None = None) -> tuple[Answer, Iterator[bytes]]:
        """A GET whose body is passed on as it arrives (an export): the answer (its body None when
        it is ok, the problem otherwise) and the body's chunks (nothing for a refusal)."""
        resp = PersonClient(self.config, peer, token).request("GET", path, params=params, stream=True)
        if not 200 <= resp.status_code < 300:
            try:
                body = resp.json() if resp.content else None
            except ValueError:
                body = resp.text
            resp.close()
            return Answer(resp.status_code, body), iter(())

        def chunks() -> Iterator[bytes]:
            with resp:
                yield from resp.iter_content(chunk_size=64 * 1024)

        return Answer(resp.status_code, None), chunks()

    def text(self, token: str, peer: str, path: str, *, params: dict | None = None) -> Answer:
        resp = PersonClient(self.config, peer, token).request("GET", path, params=params)
        return Answer(resp.status_code, resp.text)


def services() -> ServicesGateway:
    return gateway(KEY, ServicesGateway)
