"""Integration tests: `Platform` runs real services in this process, each with its own PostgreSQL
schema, real HTTP on an ephemeral port (werkzeug, threaded) and a real worker against RabbitMQ, on a
bus namespace of its own (every queue and the exchange carry a unique prefix), so that no test sees
another's leftovers."""

from __future__ import annotations

import contextlib
import threading
import uuid
from dataclasses import dataclass, field

import requests

from ecom_common.clock import OffsetClock
from ecom_common.config import PORTS, Config
from ecom_common.db import Database

from .infra import amqp_url, create_schema, database_url, delete_bus_namespace, drop_schema
from .tokens import TEST_SECRET, token

# How long a test's HTTP client waits for an answer: a guard against a hang, not a deadline. With
# both cores busy, a payment among 16 concurrent buyers (the in-process services share the test's
# interpreter) took over 10 s.
HTTP_TIMEOUT = 60


class _Dispatch:
    """WSGI shim so a server can be bound (and its port known) before the app exists."""

    def __init__(self):
        self.app = None

    def __call__(self, environ, start_response):
        return self.app(environ, start_response)


@dataclass
class RunningService:
    name: str
    config: Config
    db: Database
    app: object
    url: str
    server: object = None
    worker: object = None
    thread: threading.Thread | None = None

    def token(self, role="ops", sub="alice", shop_id=None) -> str:
        return token(self.config.jwt_secret, role, sub, shop_id)

    def headers(self, role="ops", sub="alice", shop_id=None, **extra) -> dict:
        return {"Authorization": f"Bearer {self.token(role, sub, shop_id)}", **extra}

    def get(self, path, role="ops", sub="alice", shop_id=None, **kwargs):
        return requests.get(self.url + path, headers=self.headers(role, sub, shop_id), timeout=HTTP_TIMEOUT, **kwargs)

    def post(self, path, role="ops", sub="alice", shop_id=None, headers=None, **kwargs):
        h = self.headers(role, sub, shop_id)
        h.update(headers or {})
        return requests.post(self.url + path, headers=h, timeout=HTTP_TIMEOUT, **kwargs)

    def put(self, path, role="ops", sub="alice", shop_id=None, headers=None, **kwargs):
        h = self.headers(role, sub, shop_id)
        h.update(headers or {})
        return requests.put(self.url + path, headers=h, timeout=HTTP_TIMEOUT, **kwargs)


@dataclass
class Platform:
    """Services of one test, on their own schemas and bus namespace.

    with Platform(["catalog", "inventory", "orders"]) as p:
        p["catalog"].post("/api/v1/products", json=..., shop_id="S1")
    """

    services: list[str]
    broker_url: str = field(default_factory=amqp_url)
    base_db_url: str = field(default_factory=database_url)
    workers: bool = True
    retry_delays: tuple[float, ...] = (0.2, 0.5)
    clock: OffsetClock = field(default_factory=OffsetClock)
    settings: dict = field(default_factory=dict)
    prefix: str = field(default_factory=lambda: f"t{uuid.uuid4().hex[:10]}")
    # Database URL per service where it differs from base_db_url (e.g. one service's database
    # reached through a TcpProxy that the test cuts).
    db_urls: dict[str, str] = field(default_factory=dict)
    running: dict[str, RunningService] = field(default_factory=dict)

    def __getitem__(self, name: str) -> RunningService:
        return self.running[name]

    def db_url(self, name: str) -> str:
        """The database URL a service's schema is created on (without the schema's search path)."""
        return self.db_urls.get(name, self.base_db_url)

    def config(self, name: str, db_url: str, peers: dict) -> Config:
        return Config(
            service=name,
            database_url=db_url,
            broker_url=self.broker_url,
            jwt_secret=TEST_SECRET,
            bus_prefix=f"{self.prefix}.",
            peers=peers,
            retry_delays=self.retry_delays,
            prefetch=16,
            relay_poll_interval=0.1,
            job_interval=3600,  # tests run jobs explicitly with run_job()
            # Six services per test share one PostgreSQL server (max_connections 100 here) with
            # whatever else runs on it: small pools make a busy server a wait, never a failure.
            db_pool_size=3,
            db_max_overflow=5,
            clock=self.clock,
            settings=dict(self.settings),
            testing=True,
        )

    def start(self) -> Platform:
        from werkzeug.serving import make_server

        from ecom_common.service import load

        dispatchers, servers, peers = {}, {}, {}
        for name in self.services:
            dispatchers[name] = _Dispatch()
            servers[name] = make_server("127.0.0.1", 0, dispatchers[name], threaded=True)
            peers[name] = f"http://127.0.0.1:{servers[name].server_port}"
        # Peers not started in this test point at a closed port: calling them fails loudly.
        for name, _port in PORTS.items():
            peers.setdefault(name, "http://127.0.0.1:9")
        for name in self.services:
            schema = f"{self.prefix}_{name}"
            db_url = create_schema(self.db_url(name), schema)
            config = self.config(name, db_url, peers)
            service = load(name)
            service.migrate(config)
            db = Database(config)
            app = service.create_app(config, db)
            dispatchers[name].app = app
            rs = RunningService(name, config, db, app, peers[name], server=servers[name])
            rs.thread = threading.Thread(target=servers[name].serve_forever, name=f"http-{name}", daemon=True)
            rs.thread.start()
            if self.workers:
                rs.worker = service.create_worker(config, db).start()
            self.running[name] = rs
        return self

    def stop(self) -> None:
        # Ask every worker and server to stop at once, then wait: stopping them one by one costs a
        # poll interval each.
        for rs in self.running.values():
            if rs.worker:
                rs.worker.request_stop()
        stoppers = [threading.Thread(target=rs.server.shutdown) for rs in self.running.values() if rs.server]
        for t in stoppers:
            t.start()
        for rs in self.running.values():
            if rs.worker:
                rs.worker.stop(timeout=10)
        for t in stoppers:
            t.join(10)
        for rs in self.running.values():
            rs.db.dispose()
        for name in self.running:
            with contextlib.suppress(Exception):
                drop_schema(self.db_url(name), f"{self.prefix}_{name}")
        with contextlib.suppress(Exception):
            delete_bus_namespace(self.broker_url, f"{self.prefix}.")

    def __enter__(self) -> Platform:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc) -> None:
        self.stop()

    def run_job(self, service: str, job: str):
        from ecom_common.jobs import run_once
        from ecom_common.service import load

        return run_once(self.running[service].db, load(service).job(job))
