"""Configuration from the environment, with the defaults of CONTRACTS.md.

One `Config` per service process. Everything a service needs to know about its surroundings is
here, so that tests can build a config by hand (its own database, its own bus prefix, its own
clock) and run several services in one process without touching os.environ.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar, overload

from .clock import Clock, SystemClock

_D = TypeVar("_D")
_T = TypeVar("_T")

SERVICES = (
    "catalog",
    "orders",
    "inventory",
    "aftersales",
    "logistics",
    "billing",
    "marketing",
    "analytics",
    "console",
)
PORTS = {
    "catalog": 8001,
    "orders": 8002,
    "inventory": 8003,
    "aftersales": 8004,
    "logistics": 8005,
    "billing": 8006,
    "marketing": 8007,
    "analytics": 8008,
    "console": 8000,
}


def var_dir(env: Mapping[str, str] = os.environ) -> Path:
    return Path(env.get("ECOM_VAR_DIR", "var")).resolve()


def embedded_broker_url(env: Mapping[str, str] = os.environ) -> str:
    return f"sqla+sqlite:///{var_dir(env) / 'bus.sqlite'}"


# Service settings that the embedded default (no BROKER_URL: `make run`) generates into var/ when they
# are unset, as it does the JWT secret, so that a fresh clone can take an order to delivery. Only
# there: every process of the embedded default shares var/ (its bus is a file in it), so all agree on
# the value; a deployment with a broker (compose, Kubernetes, `make run-rabbit`) sets them explicitly,
# and until it does the feature stays off (logistics' carrier webhook answers 503).
GENERATED_SETTINGS = {"LOGISTICS_CARRIER_WEBHOOK_SECRET": "carrier-webhook-secret"}


def load_jwt_secret(env: Mapping[str, str] = os.environ) -> str:
    """`ECOM_JWT_SECRET`, else the secret generated once into var/ (embedded default)."""
    if env.get("ECOM_JWT_SECRET"):
        return env["ECOM_JWT_SECRET"]
    return generated_secret(var_dir(env) / "jwt-secret")


def generated_settings(service: str, env: Mapping[str, str] = os.environ) -> dict[str, str]:
    """The GENERATED_SETTINGS of `service` that the environment does not name, on the embedded default
    (named but empty keeps the feature off)."""
    if env.get("BROKER_URL"):
        return {}
    return {
        name: generated_secret(var_dir(env) / filename)
        for name, filename in GENERATED_SETTINGS.items()
        if name.startswith(service.upper() + "_") and name not in env
    }


def generated_secret(path: Path) -> str:
    """The secret in `path`, written there first if it does not exist yet.

    The secret is written to a private temporary file and linked into place: several processes
    starting at once agree on the first link, and none can read the file half-written (an
    O_EXCL-created file is visible empty before its write).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        try:
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_urlsafe(48))
            # FileExistsError: another process linked its secret first; use that one.
            with contextlib.suppress(FileExistsError):
                os.link(tmp, path)
        finally:
            os.unlink(tmp)
    return path.read_text().strip()


def _floats(value: str) -> tuple[float, ...]:
    return tuple(float(v) for v in value.split(",") if v.strip())


@dataclass(frozen=True)
class Config:
    service: str
    database_url: str
    broker_url: str
    jwt_secret: str
    # Prefix for the exchange and every queue name. Empty in every deployment (names are exactly
    # those of CONTRACTS.md); tests give each test its own prefix so queues never leak between tests.
    bus_prefix: str = ""
    peers: dict[str, str] = field(default_factory=dict)
    # Retry back-off tiers in seconds; after the last one a message goes to <queue>.dlq.
    retry_delays: tuple[float, ...] = (1.0, 10.0, 60.0)
    # Unacknowledged messages the broker pushes to a consumer. Twice the batch: while one batch is
    # handled the next is already on its way, instead of waiting for the acks (docs/perf-log.md, "Consumer batches").
    prefetch: int = 64
    # Messages of one queue that a consumer handles in one transaction when they are already waiting
    # (a backlog); 1 handles every message in a transaction of its own (ecom_common.consumer).
    consumer_batch: int = 32
    relay_batch: int = 100
    relay_poll_interval: float = 0.5
    job_interval: float = 30.0
    # Connections per process to the service's database: requests beyond them wait (pool timeout)
    # rather than failing, so size max_connections of PostgreSQL for processes x (pool + overflow).
    db_pool_size: int = 10
    db_max_overflow: int = 20
    # A pooled connection idle longer than this is pinged before use (see ecom_common.db).
    db_ping_idle_seconds: float = 2.0
    clock: Clock = field(default_factory=SystemClock)
    # Service-specific settings (e.g. ORDERS_UNPAID_TIMEOUT_MINUTES) read from the environment;
    # services read them with `setting(name, default, cast)`.
    settings: dict[str, str] = field(default_factory=dict)
    testing: bool = False

    @classmethod
    def from_env(cls, service: str, env: Mapping[str, str] = os.environ, **overrides: Any) -> Config:
        if service not in SERVICES:
            raise ValueError(f"unknown service {service!r}; one of {', '.join(SERVICES)}")
        prefix = service.upper()
        vdir = var_dir(env)
        database_url = env.get(f"{prefix}_DATABASE_URL") or f"sqlite:///{vdir / (service + '.sqlite')}"
        peers = {name: env.get(f"{name.upper()}_URL", f"http://127.0.0.1:{port}") for name, port in PORTS.items()}
        kwargs: dict[str, Any] = dict(
            service=service,
            database_url=database_url,
            broker_url=env.get("BROKER_URL") or embedded_broker_url(env),
            jwt_secret=load_jwt_secret(env),
            bus_prefix=env.get("ECOM_BUS_PREFIX", ""),
            peers=peers,
            settings={
                **generated_settings(service, env),
                **{k: v for k, v in env.items() if k.startswith(prefix + "_") or k.startswith("ECOM_")},
            },
        )
        if env.get("ECOM_RETRY_DELAYS"):
            kwargs["retry_delays"] = _floats(env["ECOM_RETRY_DELAYS"])
        for key, name, cast in (
            ("prefetch", "ECOM_PREFETCH", int),
            ("consumer_batch", "ECOM_CONSUMER_BATCH", int),
            ("relay_batch", "ECOM_RELAY_BATCH", int),
            ("relay_poll_interval", "ECOM_RELAY_POLL_INTERVAL", float),
            ("job_interval", "ECOM_JOB_INTERVAL", float),
            ("db_pool_size", "ECOM_DB_POOL_SIZE", int),
            ("db_max_overflow", "ECOM_DB_MAX_OVERFLOW", int),
            ("db_ping_idle_seconds", "ECOM_DB_PING_IDLE_SECONDS", float),
        ):
            if env.get(name):
                kwargs[key] = cast(env[name])
        kwargs.update(overrides)
        return cls(**kwargs)

    def with_(self, **changes: Any) -> Config:
        return replace(self, **changes)

    @overload
    def setting(self, name: str, default: _D) -> str | _D: ...
    @overload
    def setting(self, name: str, default: _D, cast: Callable[[str], _T]) -> _T | _D: ...
    def setting(self, name: str, default: object, cast: Callable[[str], object] = str) -> object:
        """A service setting such as ORDERS_UNPAID_TIMEOUT_MINUTES, cast, or its default."""
        raw = self.settings.get(name)
        if raw is None or raw == "":
            return default
        return cast(raw)

    @property
    def embedded_bus(self) -> bool:
        return not self.broker_url.startswith(("amqp://", "amqps://", "pyamqp://"))

    @property
    def port(self) -> int:
        return PORTS[self.service]
