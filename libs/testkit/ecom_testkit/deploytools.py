"""Shared facts and helpers of the deploy/ tests (deploy/tests imports them from here).

The contract is written here once (ports of CONTRACTS.md, peer calls of docs/interfaces.md) and
cross-checked against those documents and ecom_common's own table, so that the compose file and
the manifests are compared with the contract, not with themselves.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

# ecom_testkit is installed editable from the repository (make install): the root is three folders up.
ROOT = Path(__file__).resolve().parents[3]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
OVERLAYS = ("dev", "prod")

# CONTRACTS.md "Services, ports, databases".
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
SERVICES = tuple(PORTS)

# Who calls whom over HTTP: docs/interfaces.md "Service-to-service HTTP", plus billing -> billing
# (its payment sandbox delivers the provider's signed webhook to billing's own URL).
CALLS = {
    "catalog": set(),
    "orders": {"catalog", "logistics", "marketing"},
    "inventory": set(),
    "aftersales": {"orders", "catalog"},
    "logistics": {"orders"},
    "billing": {"orders", "billing"},
    "marketing": set(),
    "analytics": set(),
    # the console calls with the signed-in person's token (services/console/README.md)
    "console": {"catalog", "orders", "inventory", "logistics", "aftersales", "billing", "analytics", "marketing"},
}


# What every ecom process must be given (CONTRACTS.md).
def contract_env(service: str) -> set[str]:
    return {f"{service.upper()}_DATABASE_URL", "BROKER_URL", "ECOM_JWT_SECRET"} | {
        f"{peer.upper()}_URL" for peer in SERVICES
    }


def tool(name: str) -> str:
    """A validator installed by requirements-dev.txt (next to this interpreter), else on PATH."""
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if not found:
        pytest.fail(f"{name} is not installed: run `make install` (requirements-dev.txt pins it)")
    return found


def run(args: list[str], **kwargs) -> subprocess.CompletedProcess:
    kwargs.setdefault("capture_output", True)
    kwargs.setdefault("text", True)
    kwargs.setdefault("timeout", 120)
    return subprocess.run(args, **kwargs)


def render_kustomize(path: Path) -> list[dict]:
    result = run([tool("kubectl"), "kustomize", str(path)])
    assert result.returncode == 0, f"kustomize {path} failed:\n{result.stderr}"
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def find(docs: list[dict], kind: str, name: str) -> dict:
    matches = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(matches) == 1, f"expected one {kind} {name}, found {len(matches)}"
    return matches[0]


def workloads(docs: list[dict]) -> list[dict]:
    return [d for d in docs if d["kind"] in ("Deployment", "StatefulSet", "Job", "DaemonSet", "CronJob")]


def pod_spec(workload: dict) -> dict:
    return workload["spec"]["template"]["spec"]


# Cross-checks of the contract table with the documents it comes from --------------------------
def _contracts_md() -> Path | None:
    for candidate in (ROOT.parent / "shared" / "CONTRACTS.md", ROOT.parent.parent / "shared" / "CONTRACTS.md"):
        if candidate.exists():
            return candidate
    return None


def contract_ports_from_docs() -> dict[str, int] | None:
    path = _contracts_md()
    if path is None:
        return None
    rows = re.findall(r"^\|\s*(\w+)\s*\|[^|]*\|\s*(\d{4})\s*\|", path.read_text(), flags=re.M)
    return {name: int(port) for name, port in rows}


def http_calls_from_interfaces() -> dict[str, set[str]]:
    text = (ROOT / "docs" / "interfaces.md").read_text()
    section = text.split("## Service-to-service HTTP", 1)[1].split("\n## ", 1)[0]
    calls: dict[str, set[str]] = {s: set() for s in SERVICES}
    for callers, call in re.findall(r"^\|\s*([a-z, ]+?)\s*\|\s*`[A-Z]+ (\w+) ", section, flags=re.M):
        for caller in callers.split(","):
            calls[caller.strip()].add(call)
    return calls


def start_inventory_web(tmp_path: Path, threads: int, graceful_timeout: int):
    """A real gunicorn with deploy/gunicorn.conf.py serving inventory (SQLite, the embedded bus in
    `tmp_path`) on a free port, booted: (process, port, stdout Lines, stderr Lines). The caller
    stops it (SIGTERM) and reads what it wrote."""
    import os

    from .waiting import Lines

    env = {
        **os.environ,
        "ECOM_VAR_DIR": str(tmp_path),
        "ECOM_JWT_SECRET": "x" * 40,
        "INVENTORY_DATABASE_URL": f"sqlite:///{tmp_path / 'inventory.sqlite'}",
        "BROKER_URL": f"sqla+sqlite:///{tmp_path / 'bus.sqlite'}",
        "WEB_CONCURRENCY": "1",
        "GUNICORN_THREADS": str(threads),
        "GUNICORN_GRACEFUL_TIMEOUT": str(graceful_timeout),
    }
    proc = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "gunicorn"),
            "-c",
            str(DEPLOY / "gunicorn.conf.py"),
            "--bind",
            "127.0.0.1:0",
            "inventory.app:create_app()",
        ],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    out, err = Lines(proc.stdout), Lines(proc.stderr)
    try:
        port = int(err.wait_for(r"Listening at: http://127\.0\.0\.1:(\d+)").group(1))
        err.wait_for(r"Booting worker")
    except BaseException:
        proc.kill()
        raise
    return proc, port, out, err
