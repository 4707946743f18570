"""Fault injection on RabbitMQ: cutting a test's connections on the shared broker, and a node of a
test's own that it may stop, kill and start (`PrivateRabbitMQ`)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path


def close_broker_connections(name_prefix: str) -> int:
    """Cut every RabbitMQ connection whose connection_name starts with `name_prefix` (a test's bus
    prefix), as a broker restart or a network cut would, leaving other tests' connections alone.
    Uses rabbitmqctl (the management plugin is not assumed). Returns how many were closed."""
    out = subprocess.run(
        ["rabbitmqctl", "list_connections", "pid", "client_properties", "--formatter", "json", "-q"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    closed = 0
    for conn in json.loads(out or "[]"):
        props = conn.get("client_properties") or []
        # rabbitmqctl renders client properties as [name, type, value] triples
        name = next((p[2] for p in props if isinstance(p, list) and p and p[0] == "connection_name"), "")
        if isinstance(name, str) and name.startswith(name_prefix):
            subprocess.run(
                ["rabbitmqctl", "close_connection", conn["pid"], "test: connection cut"],
                capture_output=True,
                text=True,
                timeout=60,
            )
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
        (self.dir / "rabbitmq.conf").write_text(f"listeners.tcp.1 = 127.0.0.1:{self.port}\nlog.file.level = info\n")
        (self.dir / "enabled_plugins").write_text("[].\n")
        (self.dir / "rabbitmq-env.conf").write_text("")  # not /etc/rabbitmq/rabbitmq-env.conf
        cookie = self.dir / ".erlang.cookie"
        cookie.write_text(uuid.uuid4().hex.upper())
        cookie.chmod(0o400)

    @property
    def env(self) -> dict:
        d = self.dir
        env = {k: v for k, v in os.environ.items() if not k.startswith(("RABBITMQ_", "ERL_"))}
        env.update(
            {
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
            }
        )
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
                started = stat[stat.rindex(")") + 2 :].split()[19]
                if known.get(pid) != started:
                    if marker not in (entry / "environ").read_bytes():
                        continue
                    known[pid] = started
                command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
                states = [_state((task / "stat").read_text()) for task in (entry / "task").iterdir()]
            except OSError:  # gone meanwhile, or not ours to read
                continue
            name = stat[stat.index("(") + 1 : stat.rindex(")")]
            if any(state not in ("Z", "X") for state in states) and name != "epmd":
                found.append((int(entry.name), command))
        return sorted(found)

    def ctl(self, *args: str, timeout: float = 90, check: bool = True):
        """`rabbitmqctl -n <this node> ...`"""
        result = subprocess.run(
            [str(self.scripts / "rabbitmqctl"), "-n", self.node, *args],
            env=self.env,
            cwd=self.dir,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and result.returncode != 0:
            raise RuntimeError(
                f"rabbitmqctl {' '.join(args)} on {self.node}: exit {result.returncode}: "
                f"{(result.stderr or result.stdout)[-2000:]}"
            )
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
            self.process = subprocess.Popen(
                [str(self.scripts / "rabbitmq-server")],
                env=self.server_env,
                cwd=self.dir,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
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
                raise RuntimeError(
                    f"private RabbitMQ node {self.node}: still running after SIGKILL: {self.processes()}"
                )
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            if self.process is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.process.wait(1)  # the script: reaped here, not left a zombie
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
                with contextlib.suppress(Exception):  # stop() has killed it
                    self.stop(timeout=30)
        finally:
            self.kill()  # whatever is left of it (none after a clean stop)
            if self.owns_dir:
                shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> PrivateRabbitMQ:
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
    return stat[stat.rindex(")") + 2 :].split()[0]


def _wait_for_port(port: int, deadline: float) -> None:
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"nothing listens on 127.0.0.1:{port}") from None
            time.sleep(0.1)
