"""The services' public APIs, called with the signed-in PERSON's token (never a service token, never
their databases): what a person cannot do in a service, the console cannot do for them.

Views get the app's gateway with `services()`; unit tests put a fake in its place with
`ecom_common.peers.inject_gateway(app, KEY, fake)`."""

from __future__ import annotations

import uuid
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


class ServicesGateway:
    """Every call the console makes: `call(token, peer, method, path, ...)`. Unreachable or failing
    services raise ecom_common.errors.ServiceUnavailable / BadGateway (the page says so)."""

    def __init__(self, config: Config):
        self.config = config

    def call(
        self, token: str, peer: str, method: str, path: str, *, params: dict | None = None, json: Any = None
    ) -> Answer:
        kwargs: dict[str, Any] = {"params": params}
        extra = None
        if method != "GET":
            kwargs["json"] = json if json is not None else {}
            extra = {"Idempotency-Key": uuid.uuid4().hex}
        resp = PersonClient(self.config, peer, token, extra).request(method, path, **kwargs)
        try:
            body = resp.json() if resp.content else None
        except ValueError:
            body = resp.text
        return Answer(resp.status_code, body)

    def text(self, token: str, peer: str, path: str, *, params: dict | None = None) -> Answer:
        resp = PersonClient(self.config, peer, token).request("GET", path, params=params)
        return Answer(resp.status_code, resp.text)


def services() -> ServicesGateway:
    return gateway(KEY, ServicesGateway)
