"""Calls to other services over HTTP (e.g. orders asks catalog for prices).

A service token signed with the shared secret; the correlation id travels as X-Request-ID; connection
failures are retried briefly, then surface as 503 so the caller's client can retry the whole request.
A peer that answers 503 (e.g. its database is away) is passed on as 503 too: it is as temporary as a
peer that cannot be reached. Any other 5xx is the peer failing, passed on as 502.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar

import flask
import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from . import context
from .auth import issue_token
from .config import Config
from .errors import BadGateway, ServiceUnavailable

_local = threading.local()
T = TypeVar("T")


def _session() -> requests.Session:
    session = getattr(_local, "session", None)
    if session is None:
        session = requests.Session()
        retry = Retry(
            total=2, connect=2, read=0, backoff_factor=0.1, allowed_methods=["GET"], status_forcelist=[502, 503, 504]
        )
        session.mount("http://", HTTPAdapter(max_retries=retry, pool_maxsize=32))
        session.mount("https://", HTTPAdapter(max_retries=retry, pool_maxsize=32))
        _local.session = session
    return session


class PeerClient:
    def __init__(self, config: Config, peer: str, timeout: float = 5.0):
        self.config = config
        self.peer = peer
        self.base = config.peers[peer].rstrip("/")
        self.timeout = timeout
        self._token: str | None = None

    def _headers(self) -> dict[str, str]:
        if self._token is None:
            self._token = issue_token(
                self.config.jwt_secret, f"service:{self.config.service}", ["service"], ttl=timedelta(days=3650)
            )
        headers = {"Authorization": f"Bearer {self._token}"}
        cid = context.correlation_id()
        if cid:
            headers["X-Request-ID"] = cid
        return headers

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        try:
            resp = _session().request(method, self.base + path, headers=self._headers(), timeout=self.timeout, **kwargs)
        except requests.RequestException as exc:
            raise ServiceUnavailable(f"{self.peer} is unreachable: {type(exc).__name__}") from exc
        if resp.status_code == 503:
            raise ServiceUnavailable(f"{self.peer} is unavailable (it answered 503); retry later")
        if resp.status_code >= 500:
            raise BadGateway(f"{self.peer} answered {resp.status_code}")
        return resp

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("POST", path, **kwargs)


# Gateways ----------------------------------------------------------------------------------------
# A service reaches a peer through a small class of its own (`gateways.py`: `OrdersGateway` with the
# calls it makes, answering domain objects, not the peer's JSON). Views and operations get the app's
# instance from `gateway(KEY, Factory)`; unit tests put a fake in its place with `inject_gateway`.
def gateway(key: str, factory: Callable[[Config], T]) -> T:
    """The app's one instance of the gateway `key`, built from its config on first use."""
    from flask import current_app

    instance = current_app.extensions.get(f"gateway.{key}")
    if instance is None:
        instance = current_app.extensions[f"gateway.{key}"] = factory(current_app.config["ECOM"])
    return instance


def inject_gateway(app: flask.Flask, key: str, instance: object) -> None:
    """Use `instance` (a fake, in unit tests) as the app's gateway `key`."""
    app.extensions[f"gateway.{key}"] = instance
