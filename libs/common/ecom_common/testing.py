"""Test support shared by every service's tests and the integration suite.

Unit tests: `unit_config` gives a service a SQLite file of its own and kombu's in-memory transport
(events stay in the outbox table, where tests read them).

Integration tests: `Platform` runs real services in this process, each with its own PostgreSQL
schema, real HTTP on an ephemeral port (werkzeug, threaded) and a real worker against RabbitMQ, on a
bus namespace of its own (every queue and the exchange carry a unique prefix), so that no test sees
another's leftovers.
"""
from __future__ import annotations

import asyncio
import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import requests
import sqlalchemy as sa

from .auth import issue_token
from .clock import OffsetClock
from .config import PORTS, Config
from .db import Database
from .outbox import outbox

TEST_SECRET = "test-secret-not-for-production-0123456789"
DEFAULT_AMQP_URL = "amqp://guest:guest@127.0.0.1:5672//"
DEFAULT_DATABASE_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
# How long a test's HTTP client waits for an answer: a guard against a hang, not a deadline. With
# both cores busy, a payment among 16 concurrent buyers (the in-process services share the test's
# interpreter) took over 10 s.
HTTP_TIMEOUT = 60


# Unit tests ------------------------------------------------------------------------------------
def unit_config(service: str, tmp_path: Path, **overrides) -> Config:
    kwargs = dict(
        service=service,
        database_url=f"sqlite:///{tmp_path / (service + '.sqlite')}",
        broker_url="memory://",
        jwt_secret=TEST_SECRET,
        peers={name: f"http://127.0.0.1:{port}" for name, port in PORTS.items()},
        retry_delays=(0.05, 0.1),
        clock=OffsetClock(),
        testing=True,
    )
    kwargs.update(overrides)
    return Config(**kwargs)


def token(secret: str = TEST_SECRET, role: str | list[str] = "ops", sub: str = "alice", shop_id: str | None = None,
          **kwargs) -> str:
    roles = [role] if isinstance(role, str) else list(role)
    return issue_token(secret, sub, roles, shop_id=shop_id, **kwargs)


def auth(role: str | list[str] = "ops", sub: str = "alice", shop_id: str | None = None,
         secret: str = TEST_SECRET) -> dict:
    return {"Authorization": f"Bearer {token(secret, role, sub, shop_id)}"}


# Cursors a client can craft for a list keyed by one column: valid base64 JSON lists of one value
# that no column holds (an object, a list, a bool, an integer past 64 bits, a string with a NUL).
CRAFTED_CURSORS = [base64.urlsafe_b64encode(json.dumps([value]).encode()).decode().rstrip("=")
                   for value in ({"a": 1}, [1], True, 2**70, "\x00")]


def recorded_events(db: Database, routing_key: str | None = None) -> list[dict]:
    """Envelopes written to the outbox, oldest first (unit tests assert on what would be published)."""
    stmt = sa.select(outbox.c.body).order_by(outbox.c.id)
    if routing_key:
        stmt = stmt.where(outbox.c.routing_key == routing_key)
    with db.engine.connect() as conn:
        return [json.loads(row.body) for row in conn.execute(stmt)]


# Integration: real servers -----------------------------------------------------------------------
def amqp_url() -> str:
    return os.environ.get("AMQP_URL", DEFAULT_AMQP_URL)


def database_url() -> str:
    return os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL)


def with_search_path(url: str, schema: str) -> str:
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}options={quote('-csearch_path=' + schema)}"


def create_schema(base_url: str, schema: str) -> str:
    engine = sa.create_engine(base_url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    engine.dispose()
    return with_search_path(base_url, schema)


def drop_schema(base_url: str, schema: str) -> None:
    engine = sa.create_engine(base_url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    engine.dispose()


def delete_bus_namespace(broker_url: str, prefix: str, retry_tiers: int = 8) -> None:
    """Delete a test's exchange and queues. `retry_tiers` is an upper bound: deleting a retry queue
    that was never declared is harmless, forgetting one that was leaks it on the broker."""
    from kombu import Connection

    from .topology import EXCHANGE, Topology

    topology = Topology(prefix, retry_tiers=retry_tiers)
    with Connection(broker_url) as conn:
        channel = conn.channel()
        for name in topology.all_queue_names():
            try:
                channel.queue_delete(name)
            except Exception:
                channel = conn.channel()
        try:
            channel.exchange_delete(topology.name(EXCHANGE))
        except Exception:
            pass


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

    def start(self) -> "Platform":
        from werkzeug.serving import make_server

        from .service import load

        dispatchers, servers, peers = {}, {}, {}
        for name in self.services:
            dispatchers[name] = _Dispatch()
            servers[name] = make_server("127.0.0.1", 0, dispatchers[name], threaded=True)
            peers[name] = f"http://127.0.0.1:{servers[name].server_port}"
        # Peers not started in this test point at a closed port: calling them fails loudly.
        for name, port in PORTS.items():
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
            try:
                drop_schema(self.db_url(name), f"{self.prefix}_{name}")
            except Exception:
                pass
        try:
            delete_bus_namespace(self.broker_url, f"{self.prefix}.")
        except Exception:
            pass

    def __enter__(self) -> "Platform":
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc) -> None:
        self.stop()

    def run_job(self, service: str, job: str):
        from .jobs import run_once
        from .service import load

        return run_once(self.running[service].db, load(service).job(job))


def eventually(check, timeout: float = 15.0, interval: float = 0.05, message: str = "condition"):
    """Poll `check()` until it returns a truthy value; fail with the last value after `timeout`."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"{message} not reached within {timeout}s; last value: {last!r}")


@contextmanager
def scratch_database(prefix: str = "t"):
    """A PostgreSQL schema of its own for one test, dropped afterwards; yields its URL."""
    base = database_url()
    schema = f"{prefix}{uuid.uuid4().hex[:10]}"
    url = create_schema(base, schema)
    try:
        yield url
    finally:
        drop_schema(base, schema)


# Fault injection ------------------------------------------------------------------------------
def close_broker_connections(name_prefix: str) -> int:
    """Cut every RabbitMQ connection whose connection_name starts with `name_prefix` (a test's bus
    prefix), as a broker restart or a network cut would, leaving other tests' connections alone.
    Uses rabbitmqctl (the management plugin is not assumed). Returns how many were closed."""
    import subprocess

    out = subprocess.run(
        ["rabbitmqctl", "list_connections", "pid", "client_properties", "--formatter", "json", "-q"],
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout
    closed = 0
    for conn in json.loads(out or "[]"):
        props = conn.get("client_properties") or []
        # rabbitmqctl renders client properties as [name, type, value] triples
        name = next((p[2] for p in props if isinstance(p, list) and p and p[0] == "connection_name"), "")
        if isinstance(name, str) and name.startswith(name_prefix):
            subprocess.run(["rabbitmqctl", "close_connection", conn["pid"], "test: connection cut"],
                           capture_output=True, text=True, timeout=60)
            closed += 1
    return closed


class PrivateRabbitMQ:
    """A RabbitMQ node of one test's own on this machine, which the test may stop and start at will
    (the machine's broker is shared and is never stopped).

    The node has its own name (`ecomtest-<pid>-<random>@localhost`), AMQP port and distribution port (both
    free ports on 127.0.0.1), Erlang cookie, and its own data, logs, config file, env file and
    enabled-plugins file (none) in a directory of its own, so it reads nothing of the machine's node
    (e.g. /etc/rabbitmq's listener on 5672 or its NODENAME). epmd is shared, as it is between any two
    Erlang nodes on a host. The server runs in the foreground as a child of this process, and every
    process of the node carries its name in the environment variable `ECOM_PRIVATE_RABBITMQ`
    (`processes()`), so that it can always be ended by id without touching any other node.

        with PrivateRabbitMQ() as rabbit:   # started; stopped and its directory removed on exit
            rabbit.url                      # amqp://guest:guest@127.0.0.1:<port>//
            rabbit.stop(); rabbit.start()   # a full node stop and start: durable queues and
                                            # persistent messages survive it
            rabbit.kill(); rabbit.start()   # a hard crash (SIGKILL) and a start on the same data:
                                            # confirmed persistent messages in durable queues survive
                                            # it; a queue or binding declared since the last clean
                                            # start may not (RabbitMQ does not promise a declaration
                                            # is on disk at declare-ok): stop() and start() once
                                            # after declaring what a test asserts on after a kill
    """

    MARKER = "ECOM_PRIVATE_RABBITMQ"  # in the environment of the node's processes: its node name

    def __init__(self, workdir: str | Path | None = None, name: str | None = None):
        scripts = self.scripts_dir()
        if scripts is None:
            raise FileNotFoundError("rabbitmq-server is not installed")
        self.scripts = scripts
        self.owns_dir = workdir is None
        self.dir = Path(workdir or tempfile.mkdtemp(prefix="ecom-rabbit-"))
        self.node = name or f"ecomtest-{os.getpid()}-{uuid.uuid4().hex[:6]}@localhost"
        self.port = _free_port()
        self._known: dict[int, str] = {}  # processes() found by marker: pid -> start time
        self.dist_port = _free_port()
        self.url = f"amqp://guest:guest@127.0.0.1:{self.port}//"
        self.process = None
        self.pid_file = self.dir / "node.pid"
        self.log_file = self.dir / "server.out"
        self._write_files()

    # Where the real scripts are: Debian's /usr/sbin/rabbitmqctl is a wrapper that su's to the
    # rabbitmq user (who could not read this test's directory); the scripts it wraps are usable as is.
    @staticmethod
    def scripts_dir() -> Path | None:
        for candidate in (os.environ.get("ECOM_RABBITMQ_SCRIPTS"), "/usr/lib/rabbitmq/bin"):
            if candidate and (Path(candidate) / "rabbitmq-server").is_file():
                return Path(candidate)
        found = shutil.which("rabbitmq-server")
        return Path(found).resolve().parent if found else None

    def _write_files(self) -> None:
        (self.dir / "rabbitmq.conf").write_text(
            f"listeners.tcp.1 = 127.0.0.1:{self.port}\n"
            "log.file.level = info\n")
        (self.dir / "enabled_plugins").write_text("[].\n")
        (self.dir / "rabbitmq-env.conf").write_text("")  # not /etc/rabbitmq/rabbitmq-env.conf
        cookie = self.dir / ".erlang.cookie"
        cookie.write_text(uuid.uuid4().hex.upper())
        cookie.chmod(0o400)

    @property
    def env(self) -> dict:
        d = self.dir
        env = {k: v for k, v in os.environ.items() if not k.startswith(("RABBITMQ_", "ERL_"))}
        env.update({
            "HOME": str(d),  # the Erlang cookie of this node (server and CLI)
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_CONF_ENV_FILE": str(d / "rabbitmq-env.conf"),
            "RABBITMQ_CONFIG_FILE": str(d / "rabbitmq.conf"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": str(d / "advanced.config"),  # absent: none
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(d / "enabled_plugins"),
            "RABBITMQ_MNESIA_BASE": str(d / "mnesia"),
            "RABBITMQ_LOG_BASE": str(d / "log"),
            "RABBITMQ_PID_FILE": str(self.pid_file),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-kernel inet_dist_use_interface {127,0,0,1}",
        })
        return env

    @property
    def server_env(self) -> dict:
        """The server's environment: `env` and the marker its every process inherits (beam.smp forks
        erl_child_setup, which starts the port programs: inet_gethost, the disk monitor's shell)."""
        return {**self.env, self.MARKER: self.node}

    def processes(self) -> list[tuple[int, str]]:
        """(pid, command) of every live process of this node, found by its marker in
        /proc/<pid>/environ: the rabbitmq-server script, beam.smp, and the processes beam.smp starts.
        These are not all in the script's process group: erl_child_setup calls setsid(), and so do
        the port programs it starts, so that once beam.smp is gone they are no one's children. epmd is
        left out: it is the host's, shared by every Erlang node (the machine's broker registers with
        it too); were it started by this node, it would serve the next ones as well. Processes of
        other users whose environment cannot be read are not this node's (it runs as this user).
        A process is live while any of its threads is: beam.smp's main thread can be a zombie while
        its other threads still exit, and until the last one has, its listening socket accepts
        connections (seen after a SIGKILL with both cores busy). Such a process's environ reads
        empty (its main thread has no memory left to read), so a process once found by its marker
        is remembered by pid and start time and recognised without it."""
        found = []
        marker = f"{self.MARKER}={self.node}".encode() + b"\0"
        known = self._known
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            pid = int(entry.name)
            try:
                stat = (entry / "stat").read_text()
                started = stat[stat.rindex(")") + 2:].split()[19]
                if known.get(pid) != started:
                    if marker not in (entry / "environ").read_bytes():
                        continue
                    known[pid] = started
                command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
                states = [_state((task / "stat").read_text()) for task in (entry / "task").iterdir()]
            except OSError:  # gone meanwhile, or not ours to read
                continue
            name = stat[stat.index("(") + 1:stat.rindex(")")]
            if any(state not in ("Z", "X") for state in states) and name != "epmd":
                found.append((int(entry.name), command))
        return sorted(found)

    def ctl(self, *args: str, timeout: float = 90, check: bool = True):
        """`rabbitmqctl -n <this node> ...`"""
        result = subprocess.run([str(self.scripts / "rabbitmqctl"), "-n", self.node, *args], env=self.env,
                                cwd=self.dir, capture_output=True, text=True, timeout=timeout)
        if check and result.returncode != 0:
            raise RuntimeError(f"rabbitmqctl {' '.join(args)} on {self.node}: exit {result.returncode}: "
                               f"{(result.stderr or result.stdout)[-2000:]}")
        return result

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    # Deadlines, not expectations: a start takes 5-10 s on a quiet machine and took 57 s, a stop over
    # 60 s, with both cores busy (each CLI call boots an Erlang VM; a crashed node's recovery reads
    # its queues back). Past them the node is taken for hung.
    START_TIMEOUT = 300
    STOP_TIMEOUT = 240

    def start(self, timeout: float = START_TIMEOUT) -> float:
        """Start the node (on the data it has) and wait until it is booted and its AMQP port answers;
        returns the seconds it took."""
        if self.running:
            raise RuntimeError(f"{self.node} is running already")
        started = time.monotonic()
        # `rabbitmqctl wait` must not read a dead node's pid: a killed node leaves its pid file behind
        # (a clean stop removes it). Nothing else is left stale by SIGKILL (checked on this machine:
        # RabbitMQ 3.10, Erlang 25): epmd drops the node's name when its socket closes, the node
        # listens on the same ports again, and it recovers its queues from the data directory as
        # the crash left it.
        self.pid_file.unlink(missing_ok=True)
        with open(self.log_file, "ab") as out:
            self.process = subprocess.Popen([str(self.scripts / "rabbitmq-server")], env=self.server_env, cwd=self.dir,
                                            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                            start_new_session=True)
        try:
            # One CLI call (each costs a second of CPU to boot): waits for the pid file, then the
            # Erlang distribution, then the rabbit application (what `await_startup` waits for, but
            # `await_startup` fails at once while the node is not yet registered with epmd).
            self.ctl("wait", "--timeout", str(int(timeout)), str(self.pid_file), timeout=timeout + 30)
            _wait_for_port(self.port, deadline=started + timeout)
        except BaseException as exc:
            tail = self.log_file.read_text(errors="replace")[-3000:] if self.log_file.exists() else ""
            self.kill()
            raise RuntimeError(f"private RabbitMQ node {self.node} did not start: {exc}\n{tail}") from exc
        return time.monotonic() - started

    def stop(self, timeout: float = STOP_TIMEOUT) -> float:
        """A full stop of the node (`rabbitmqctl stop`: clients get connection.close, then the Erlang VM
        exits); returns the seconds it took."""
        started = time.monotonic()
        if not self.running:
            return 0.0
        try:
            self.ctl("stop", str(self.pid_file), timeout=timeout)  # returns once the VM has exited
            self.process.wait(timeout)  # and the script that ran it
        finally:
            # After a clean stop nothing of the node is left (erl_child_setup and the port programs
            # end with beam.smp); this makes sure of it. After a failed stop: the node, killed.
            self.kill()
        return time.monotonic() - started

    def kill(self, timeout: float = 15) -> float:
        """A hard crash: SIGKILL to every process of the node at once (`processes()`: the script,
        beam.smp, erl_child_setup and its port programs; not epmd, not any other node), nothing
        flushed, no connection.close to the clients (their sockets are closed by the kernel). Waits
        until none of them is left running; returns the seconds it took. Also the last resort of
        `stop()` and `close()`. The data directory stays as the crash left it, for `start()`: what
        RabbitMQ promises to keep is the durable queues that were on disk (those of the last clean
        start) and the confirmed persistent messages in them."""
        started = time.monotonic()
        deadline = started + timeout
        while True:
            # Again until none is found: a process started between the look and the signal (a port
            # program) would otherwise be left behind, reparented to init.
            pids = {pid for pid, _ in self.processes()}
            if self.process is not None and self.process.poll() is None:
                pids.add(self.process.pid)
            if not pids:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"private RabbitMQ node {self.node}: still running after SIGKILL: "
                                   f"{self.processes()}")
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            if self.process is not None:
                try:
                    self.process.wait(1)  # the script: reaped here, not left a zombie
                except subprocess.TimeoutExpired:
                    pass
            time.sleep(0.05)
        self.process = None
        # The kernel closes the listening socket when the last thread of beam.smp has exited:
        # until then a connection may still be accepted.
        while not _port_refused(self.port):
            if time.monotonic() > deadline:
                raise RuntimeError(f"private RabbitMQ node {self.node}: port {self.port} still accepts after SIGKILL")
            time.sleep(0.05)
        return time.monotonic() - started

    def close(self) -> None:
        """Stop the node whatever state it is in and remove its directory."""
        try:
            if self.running:
                try:
                    self.stop(timeout=30)
                except Exception:
                    pass  # stop() has killed it
        finally:
            self.kill()  # whatever is left of it (none after a clean stop)
            if self.owns_dir:
                shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> "PrivateRabbitMQ":
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _port_refused(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return False
    except OSError:
        return True


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _state(stat: str) -> str:
    """The state letter of a /proc/<pid>/stat or /proc/<pid>/task/<tid>/stat line (R, S, D, Z, X...)."""
    return stat[stat.rindex(")") + 2:].split()[0]


def _wait_for_port(port: int, deadline: float) -> None:
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"nothing listens on 127.0.0.1:{port}")
            time.sleep(0.1)


class TcpProxy:
    """Loopback TCP proxy to (host, port) in a thread of its own, to take a server away from the
    processes that use it without touching the (shared) server: `cut()` aborts every connection
    (RST: the peer sees it die, as when the server restarts) and stops listening, so that new
    connections are refused; `restore()` listens again on the same port. `hold_replies()` stops
    passing the server's bytes to the clients (the server still gets theirs) until the next cut or
    restore: a request the server has carried out whose answer never arrives.

        proxy = TcpProxy("127.0.0.1", 5432).start()
        url = make_url(database_url()).set(host="127.0.0.1", port=proxy.port)
    """

    def __init__(self, host: str, port: int):
        self.target = (host, port)
        self.port = 0
        self.loop = asyncio.new_event_loop()
        self.server = None
        self.writers: set = set()
        self.connections = 0
        self.replies = asyncio.Event()  # set: the server's bytes flow to the clients
        self.loop.call_soon_threadsafe(self.replies.set)
        threading.Thread(target=self.loop.run_forever, daemon=True).start()

    def _call(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(10)

    async def _pipe(self, reader, writer, replies: bool = False):
        try:
            while data := await reader.read(65536):
                if replies:
                    await self.replies.wait()
                writer.write(data)
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def _handle(self, client_reader, client_writer):
        try:
            server_reader, server_writer = await asyncio.open_connection(*self.target)
        except OSError:
            client_writer.close()
            return
        if not self.server.is_serving():  # cut while this connection was being set up
            client_writer.transport.abort()
            server_writer.transport.abort()
            return
        self.connections += 1
        self.writers |= {client_writer, server_writer}
        await asyncio.gather(self._pipe(client_reader, server_writer),
                             self._pipe(server_reader, client_writer, replies=True))
        self.writers -= {client_writer, server_writer}

    async def _start(self):
        self.replies.set()
        if self.server is not None and self.server.is_serving():
            return
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", self.port, reuse_address=True)
        self.port = self.server.sockets[0].getsockname()[1]

    async def _cut(self):
        self.server.close()
        for writer in list(self.writers):
            transport = writer.transport
            if transport is not None:
                transport.abort()  # RST: the peer sees the connection die, not a polite close
        self.writers.clear()
        self.replies.set()  # the held pipes see their writers gone and end
        await self.server.wait_closed()

    def start(self) -> "TcpProxy":
        self._call(self._start())
        return self

    def cut(self) -> None:
        self._call(self._cut())

    def hold_replies(self) -> None:
        self.loop.call_soon_threadsafe(self.replies.clear)

    def restore(self) -> None:
        """Listen again on the same port (nothing if it is listening)."""
        self.start()

    def close(self) -> None:
        try:
            self._call(self._cut())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
