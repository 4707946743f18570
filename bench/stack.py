"""The services as real processes, as deploy/Procfile runs them: per service a gunicorn web
(`-c deploy/gunicorn.conf.py`, on a free loopback port) and an `ecom worker`, on the schemas and the
bus namespace of a `common.scratch`. Used by the saga benchmark and by http_rps's `POST /orders`.

    with scratch(SERVICES) as sc, Stack(sc, SERVICES, settings={...}) as stack:
        stack.url("orders"), stack.port("orders"), stack.pids()

Every process gets, besides its own `<SERVICE>_DATABASE_URL`, `BROKER_URL`, `ECOM_BUS_PREFIX` and
`ECOM_JWT_SECRET` (common.Scratch.env), every peer's `<SERVICE>_URL` and `settings`.
"""

from __future__ import annotations

import subprocess
import time

import requests
from kombu import Connection

from ecom_common import bus

from .common import BIN, REPO, free_port, stop_process


class Stack:
    def __init__(
        self,
        sc,
        services: list[str],
        settings: dict | None = None,
        web: bool = True,
        workers: bool | list[str] = True,
        timeout: float = 90,
    ):
        """workers: True (every service's), False, or the services whose worker runs."""
        self.sc = sc
        self.services = list(services)
        self.settings = {k: str(v) for k, v in (settings or {}).items()}
        self.web = web
        self.worker_services = list(services) if workers is True else list(workers or [])
        self.timeout = timeout
        self.ports = {name: free_port() for name in self.services}
        self.webs: dict[str, subprocess.Popen] = {}
        self.procs: dict[str, subprocess.Popen] = {}

    # Addresses ---------------------------------------------------------------------------------
    def port(self, name: str) -> int:
        return self.ports[name]

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    def env(self, name: str, **extra) -> dict:
        peers = {f"{peer.upper()}_URL": self.url(peer) for peer in self.services}
        return self.sc.env(name, **peers, **self.settings, **extra)

    def pids(self, kinds: tuple[str, ...] = ("web", "worker")) -> list[int]:
        """The processes' pids (gunicorn masters: common.cpu_seconds adds their worker children)."""
        out = []
        if "web" in kinds:
            out += [p.pid for p in self.webs.values()]
        if "worker" in kinds:
            out += [p.pid for p in self.procs.values()]
        return out

    def named_pids(self) -> dict[str, int]:
        """'<service> web' / '<service> worker' -> pid."""
        out = {f"{name} web": proc.pid for name, proc in self.webs.items()}
        out.update({f"{name} worker": proc.pid for name, proc in self.procs.items()})
        return out

    def cpu_by_process(self) -> dict[str, float]:
        """CPU seconds so far of each web (with its gunicorn workers) and worker."""
        from .common import cpu_seconds

        return {label: cpu_seconds([pid]) for label, pid in self.named_pids().items()}

    # Life --------------------------------------------------------------------------------------
    def start(self) -> Stack:
        for name in self.services:
            if self.web:
                self.webs[name] = subprocess.Popen(
                    [
                        str(BIN / "gunicorn"),
                        "-c",
                        str(REPO / "deploy" / "gunicorn.conf.py"),
                        "-b",
                        f"127.0.0.1:{self.ports[name]}",
                        f"{name}.app:create_app()",
                    ],
                    cwd=REPO,
                    env=self.env(name),
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            if name in self.worker_services:
                self.procs[name] = subprocess.Popen(
                    [str(BIN / "ecom"), "worker", name],
                    cwd=REPO,
                    env=self.env(name),
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
        deadline = time.monotonic() + self.timeout
        for name in self.services:
            if self.web:
                self._wait_web(name, deadline)
            if name in self.worker_services:
                self._wait_consuming(name, deadline)
        return self

    def _check_alive(self) -> None:
        for kind, procs in (("web", self.webs), ("worker", self.procs)):
            for name, proc in procs.items():
                if proc.poll() is not None:
                    raise RuntimeError(f"{name} {kind} exited with {proc.returncode}")

    def _wait_web(self, name: str, deadline: float) -> None:
        while time.monotonic() < deadline:
            self._check_alive()
            try:
                if requests.get(self.url(name) + "/healthz", timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"gunicorn for {name} did not answer within {self.timeout}s")

    def _wait_consuming(self, name: str, deadline: float) -> None:
        """Until each queue of the service has its consumer (the worker is up and subscribed)."""
        from ecom_common.service import load

        config = self.sc.configs[name]
        topology = bus.topology_for(config)
        queues = [topology.name(sub.queue) for sub in load(name).subscriptions]
        while time.monotonic() < deadline:
            self._check_alive()
            try:
                with Connection(config.broker_url, heartbeat=0) as conn:
                    channel = conn.channel()
                    if all(channel.queue_declare(q, passive=True)[2] >= 1 for q in queues):
                        return
            except Exception:
                pass
            time.sleep(0.3)
        raise RuntimeError(f"the {name} worker did not start consuming within {self.timeout}s")

    def stop(self) -> None:
        for proc in [*self.webs.values(), *self.procs.values()]:
            if proc.poll() is None:
                proc.terminate()
        for proc in [*self.webs.values(), *self.procs.values()]:
            stop_process(proc)

    def __enter__(self) -> Stack:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc) -> None:
        self.stop()
