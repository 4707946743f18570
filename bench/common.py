"""What every benchmark shares: the machine description, scratch namespaces on the real servers,
statistics over repeated runs, the table, the JSON file, a progress bar, child processes.

Every benchmark runs on the machine's own RabbitMQ and PostgreSQL (AMQP_URL / DATABASE_URL, the same
defaults as the integration tests), in a PostgreSQL schema and a bus namespace (queue/exchange
prefix) of its own that are removed afterwards, and talks to loopback only.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

import sqlalchemy as sa
from tqdm import tqdm

from ecom_common.config import Config
from ecom_common.db import Database
from ecom_testkit import TEST_SECRET, amqp_url, create_schema, database_url, delete_bus_namespace, drop_schema

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
BIN = Path(sys.executable).parent

# The services' consumers take this many unacknowledged messages (Config.prefetch's default): the
# baseline uses the same, so that ratios compare like with like.
PREFETCH = Config.__dataclass_fields__["prefetch"].default

PACKAGES = ("kombu", "amqp", "SQLAlchemy", "psycopg", "Flask", "gunicorn", "tqdm", "pyinstrument")


# The machine ------------------------------------------------------------------------------------
def machine() -> dict:
    info = {
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "load_average_at_start": list(os.getloadavg()),
        "versions": {},
        "git_commit": _git("rev-parse", "HEAD"),
        "git_dirty": bool(_git("status", "--porcelain")),
    }
    for name in PACKAGES:
        try:
            info["versions"][name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            info["versions"][name] = None
    try:
        from kombu import Connection

        with Connection(amqp_url(), connect_timeout=5) as conn:
            conn.ensure_connection(max_retries=1)
            props = conn.connection.server_properties
            info["versions"]["rabbitmq"] = _text(props.get("version"))
    except Exception as exc:
        info["versions"]["rabbitmq"] = f"unreachable: {exc!r}"
    try:
        engine = sa.create_engine(database_url())
        with engine.connect() as conn:
            info["versions"]["postgresql"] = conn.execute(sa.text("SHOW server_version")).scalar_one()
        engine.dispose()
    except Exception as exc:
        info["versions"]["postgresql"] = f"unreachable: {exc!r}"
    return info


def _text(value) -> str | None:
    return value.decode() if isinstance(value, bytes) else value


def _git(*args) -> str:
    try:
        return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, timeout=10).stdout.strip()
    except Exception:
        return ""


# Scratch namespaces -----------------------------------------------------------------------------
@dataclass
class Scratch:
    """Services' databases (a PostgreSQL schema each, migrated) and one bus namespace."""

    prefix: str
    configs: dict[str, Config] = field(default_factory=dict)
    dbs: dict[str, Database] = field(default_factory=dict)

    def env(self, service: str, **extra) -> dict:
        """The environment of a child process (gunicorn, `ecom worker`) of `service` in this namespace."""
        config = self.configs[service]
        env = {k: v for k, v in os.environ.items() if not k.endswith("_DATABASE_URL")}
        env.update(
            {
                f"{service.upper()}_DATABASE_URL": config.database_url,
                "BROKER_URL": config.broker_url,
                "ECOM_BUS_PREFIX": config.bus_prefix,
                "ECOM_JWT_SECRET": config.jwt_secret,
                "ECOM_VAR_DIR": str(REPO / "var" / "bench"),
            }
        )
        env.update({k: str(v) for k, v in extra.items()})
        return env


def new_prefix() -> str:
    return f"b{uuid.uuid4().hex[:10]}"


@contextmanager
def scratch(services: list[str], **config_overrides):
    """Fresh schemas migrated for `services`, one bus namespace; all removed afterwards."""
    from ecom_common.service import load

    prefix = new_prefix()
    base = database_url()
    made: list[str] = []
    sc = Scratch(prefix)
    try:
        for name in services:
            schema = f"{prefix}_{name}"
            url = create_schema(base, schema)
            made.append(schema)
            config = Config(
                service=name,
                database_url=url,
                broker_url=amqp_url(),
                jwt_secret=TEST_SECRET,
                bus_prefix=f"{prefix}.",
                **config_overrides,
            )
            load(name).migrate(config)
            sc.configs[name] = config
            sc.dbs[name] = Database(config)
        yield sc
    finally:
        for db in sc.dbs.values():
            db.dispose()
        for schema in made:
            try:
                drop_schema(base, schema)
            except Exception as exc:
                print(f"warning: could not drop schema {schema}: {exc!r}", file=sys.stderr)
        try:
            delete_bus_namespace(amqp_url(), f"{prefix}.")
        except Exception as exc:
            print(f"warning: could not delete bus namespace {prefix}.: {exc!r}", file=sys.stderr)


def quiet_service_logs() -> None:
    """Keep the services' JSON logging (its cost is part of what is measured) but send it nowhere."""
    from ecom_common.observability import configure_logging

    configure_logging("bench")
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(open(os.devnull, "w"))  # noqa: SIM115 - lives as long as the process


# Child processes --------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of processes and their children (gunicorn workers), from /proc."""
    ticks = os.sysconf("SC_CLK_TCK")
    seen: set[int] = set()
    total = 0.0
    todo = list(pids)
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        try:
            fields_ = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields_[11]) + int(fields_[12])) / ticks  # utime, stime
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
            todo.extend(int(c) for c in children)
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
    return total


def stop_process(proc: subprocess.Popen, timeout: float = 15) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


# Statistics -------------------------------------------------------------------------------------
def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    k = (len(ordered) - 1) * q / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def spread(values: list) -> dict:
    """Median and spread of one figure over the runs (None-valued runs left out)."""
    vals = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
    if not vals:
        return {"median": None, "min": None, "max": None, "iqr": None, "n": 0}
    return {
        "median": statistics.median(vals),
        "min": min(vals),
        "max": max(vals),
        "iqr": (percentile(vals, 75) - percentile(vals, 25)) if len(vals) > 1 else 0.0,
        "n": len(vals),
    }


def summarize(runs: list[dict]) -> dict:
    keys: list[str] = []
    for run in runs:
        for k, v in run.items():
            if k not in keys and isinstance(v, (int, float)) and not isinstance(v, bool):
                keys.append(k)
    return {k: spread([r.get(k) for r in runs]) for k in keys}


# Output -----------------------------------------------------------------------------------------
def fmt(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "NO"
    if isinstance(value, float):
        if abs(value) >= 100:
            return f"{value:,.0f}"
        if abs(value) >= 1:
            return f"{value:.2f}"
        return f"{value:.3f}"
    return str(value)


class NotBuilt(Exception):
    """A benchmark whose subject is not on this branch yet: said plainly, no result written."""


class Text(str):
    """A row value shown as it is (a verdict, a status), not a figure with a spread."""


def table(title: str, rows: list[tuple[str, dict | str]], note: str = "") -> str:
    """rows: (figure name, spread dict) -> one line each: median [min .. max] (n runs)."""
    width = max([len(name) for name, _ in rows] + [20])
    out = [f"\n== {title}", f"{'figure'.ljust(width)}  {'median':>12}  {'min':>12}  {'max':>12}  runs"]
    for name, s in rows:
        if isinstance(s, dict):
            out.append(
                f"{name.ljust(width)}  {fmt(s['median']):>12}  {fmt(s['min']):>12}  {fmt(s['max']):>12}  {s['n']}"
            )
        else:
            out.append(f"{name.ljust(width)}  {s}")
    if note:
        out.append(note)
    return "\n".join(out)


def write_result(name: str, payload: dict) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    payload = {"benchmark": name, "finished_at": datetime.now(UTC).isoformat(), **payload}
    path.write_text(json.dumps(payload, indent=2, ensure_ascii=False, default=str) + "\n")
    return path


def progress(total: int, desc: str) -> tqdm:
    return tqdm(total=total, desc=desc, unit="step", leave=False, dynamic_ncols=True, file=sys.stderr, mininterval=0.5)


class Timer:
    def __enter__(self):
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.elapsed = time.perf_counter() - self.start
