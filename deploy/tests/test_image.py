"""deploy/Dockerfile and what goes into the image: hadolint finds nothing (at every level), the
final stage has no build tools and runs as a non-root user, the build context admits exactly what
the image needs, the wheels the builder stage makes carry every file of each service (migrations,
templates), and the entrypoint starts the right process for each role."""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shutil
import zipfile
from pathlib import Path

import pytest

from ecom_testkit.deploytools import DEPLOY, PORTS, ROOT, SERVICES, run, tool

DOCKERFILE = DEPLOY / "Dockerfile"


def _stages(text: str) -> list[list[str]]:
    """Instructions per stage, continuation lines joined, comments dropped."""
    joined = re.sub(r"\\\n", " ", text)
    stages: list[list[str]] = []
    for line in joined.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.upper().startswith("FROM "):
            stages.append([])
        if stages:
            stages[-1].append(line)
    return stages


def test_hadolint_finds_nothing():
    result = run([tool("hadolint"), "--no-color", "--failure-threshold", "style", "--format", "json", str(DOCKERFILE)])
    findings = json.loads(result.stdout or "[]")
    assert findings == [] and result.returncode == 0, json.dumps(findings, indent=1)


def test_hadolint_is_live(tmp_path):
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python\nRUN apt-get install gcc\n")
    result = run([tool("hadolint"), "--no-color", "--format", "json", str(bad)])
    assert {f["code"] for f in json.loads(result.stdout)} >= {"DL3006", "DL3008"}


@pytest.mark.parametrize("script", ["deploy/entrypoint.sh", "deploy/postgres/init-databases.sh"])
def test_shell_scripts_pass_shellcheck(script):
    result = run([tool("shellcheck"), "--severity=style", str(ROOT / script)])
    assert result.returncode == 0, result.stdout


def test_multi_stage_slim_non_root_without_build_tools():
    stages = _stages(DOCKERFILE.read_text())
    assert len(stages) >= 2
    assert re.search(r"^ARG PYTHON_IMAGE=python:3\.11[\w.-]*-slim", DOCKERFILE.read_text(), flags=re.M)
    final = stages[-1]
    final_text = "\n".join(final)
    assert final[0].split()[1] == "${PYTHON_IMAGE}"
    users = [line.split()[1] for line in final if line.upper().startswith("USER ")]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert not re.search(r"apt-get|apk add|gcc|build-essential|pip install|pip wheel", final_text)
    assert "COPY --from=builder /opt/venv /opt/venv" in final_text
    assert any(line.startswith("HEALTHCHECK ") for line in final)
    assert 'ENTRYPOINT ["/app/entrypoint.sh"]' in final
    builder = "\n".join(stages[0])
    assert "pip wheel --wheel-dir /wheels -r requirements.txt" in builder
    assert "--no-index" in builder  # installs exactly the wheels built from the pins


def test_runtime_dependencies_are_pinned():
    lines = [ln.split("#")[0].strip() for ln in (ROOT / "requirements.txt").read_text().splitlines()]
    requirements = [ln for ln in lines if ln]
    assert requirements and all(re.fullmatch(r"[A-Za-z0-9_.\-]+(\[[\w,]+\])?==[\w.]+", r) for r in requirements), (
        requirements
    )


def _dockerignore_admits(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last matching pattern wins; a pattern matching a directory covers its files."""
    admitted = True
    candidates = [path] + [str(p) for p in Path(path).parents if str(p) != "."]
    for pattern in patterns:
        negate = pattern.startswith("!")
        pat = pattern[1:] if negate else pattern
        pat = pat.rstrip("/")
        if any(fnmatch.fnmatchcase(c, pat) for c in candidates):
            admitted = negate
    return admitted


def test_the_build_context_holds_what_the_image_needs_and_nothing_else():
    patterns = [
        ln.strip() for ln in (ROOT / ".dockerignore").read_text().splitlines() if ln.strip() and not ln.startswith("#")
    ]
    copied = re.findall(r"^COPY (?!--from)(?:--\S+ )*(.+) \S+$", DOCKERFILE.read_text(), flags=re.M)
    sources = [s for line in copied for s in line.split()]
    for source in sources:
        assert (ROOT / source).exists(), source
        assert _dockerignore_admits(source.rstrip("/"), patterns), f"{source} is excluded from the build context"
    needed = [
        "requirements.txt",
        "libs/common/pyproject.toml",
        "libs/common/ecom_common/cli.py",
        "deploy/entrypoint.sh",
        "deploy/gunicorn.conf.py",
        "deploy/run_worker.py",
    ]
    for service in SERVICES:
        needed += [f"services/{service}/pyproject.toml", f"services/{service}/{service}/app.py"]
        needed += [
            str(p.relative_to(ROOT))
            for p in (ROOT / "services" / service / service).rglob("*")
            if p.is_file() and "__pycache__" not in p.parts
        ]
    for path in needed:
        assert _dockerignore_admits(path, patterns), f"{path} is excluded from the build context"
    for path in [
        ".venv/bin/python",
        "var/orders.sqlite",
        "deploy/env/platform.env",
        "services/orders/tests/test_x.py",
        "libs/common/ecom_common/__pycache__/cli.cpython-311.pyc",
        ".git/config",
        "services/orders/ecom_orders.egg-info/PKG-INFO",
        "deploy/k8s/base/orders.yaml",
    ]:
        assert not _dockerignore_admits(path, patterns), f"{path} would be sent to the builder"


def _wheel_sources() -> list[str]:
    """What the builder stage makes wheels of (`pip wheel --no-deps --wheel-dir /wheels <paths>`)."""
    joined = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    return re.search(r"pip wheel --no-deps --wheel-dir \S+ ([^&\n]+)", joined).group(1).split()


@pytest.fixture(scope="module")
def wheels(tmp_path_factory) -> Path:
    """What the builder stage does (pip wheel of the paths it names), offline, from the files the build
    context admits (no tests, no egg-info)."""
    tmp_path = tmp_path_factory.mktemp("image")
    src = tmp_path / "src"
    for source in _wheel_sources():
        shutil.copytree(
            ROOT / source, src / source, ignore=shutil.ignore_patterns("*.egg-info", "build", "__pycache__", "tests")
        )
    wheels = tmp_path / "wheels"
    result = run(
        [
            os.sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--wheel-dir",
            str(wheels),
            *(str(src / s) for s in _wheel_sources()),
        ],
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    return wheels


def test_the_wheels_carry_every_file_of_each_service_and_the_ecom_command(wheels):
    built = {w.name.split("-")[0]: w for w in wheels.glob("*.whl")}
    assert set(built) == {"ecom_common", *(f"ecom_{s}" for s in SERVICES)}
    with zipfile.ZipFile(built["ecom_common"]) as whl:
        entry_points = next(n for n in whl.namelist() if n.endswith("entry_points.txt"))
        assert "ecom = ecom_common.cli:main" in whl.read(entry_points).decode()
    for service in SERVICES:
        # Every file of the package: its migrations and any data beside the code (logistics' page templates).
        tree = ROOT / "services" / service / service
        expected = {
            f"{service}/{p.relative_to(tree)}" for p in tree.rglob("*") if p.is_file() and "__pycache__" not in p.parts
        }
        with zipfile.ZipFile(built[f"ecom_{service}"]) as whl:
            assert expected <= set(whl.namelist()), expected - set(whl.namelist())
            assert f"{service}/app.py" in whl.namelist()


def test_the_image_holds_no_test_code(wheels):
    """Test support (ecom_testkit: a RabbitMQ node manager, a TCP proxy, the test JWT secret) is
    dev-only: neither built into the image's wheels nor copied into its build context."""
    assert not [source for source in _wheel_sources() if source.startswith("libs/testkit")]
    patterns = [
        ln.strip() for ln in (ROOT / ".dockerignore").read_text().splitlines() if ln.strip() and not ln.startswith("#")
    ]
    assert not _dockerignore_admits("libs/testkit/ecom_testkit/tokens.py", patterns)
    built, test_code = sorted(wheels.glob("*.whl")), []
    for wheel in built:
        with zipfile.ZipFile(wheel) as whl:
            test_code += [
                f"{wheel.name}: {name}"
                for name in whl.namelist()
                if name.startswith("ecom_testkit/") or name == "ecom_common/testing.py"
            ]
    assert built and test_code == []


# The entrypoint --------------------------------------------------------------------------------------
@pytest.fixture
def entry(tmp_path):
    """Runs deploy/entrypoint.sh with the programs it execs replaced by recorders of their argv."""
    stubs = tmp_path / "bin"
    stubs.mkdir()
    for program in ("gunicorn", "ecom", "python"):
        (stubs / program).write_text(f'#!/bin/sh\nprintf "%s\\n" {program} "$@"\n')
        (stubs / program).chmod(0o755)

    def call(*args, **env):
        full_env = {
            "PATH": f"{stubs}:/usr/bin:/bin",
            "ECOM_APP_DIR": "/app",
            "ECOM_VAR_DIR": str(tmp_path / "var"),
            **env,
        }
        return run(["sh", str(DEPLOY / "entrypoint.sh"), *args], env=full_env)

    return call


@pytest.mark.parametrize("service", SERVICES)
def test_web_runs_gunicorn_on_the_service_port(entry, service):
    result = entry("web", service)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[:-1] == [
        "gunicorn",
        "--config",
        "/app/gunicorn.conf.py",
        "--bind",
        f"0.0.0.0:{PORTS[service]}",
        "--name",
        f"ecom-{service}-web",
        f"{service}.app:create_app()",
    ]
    check = entry("healthcheck")
    assert check.stdout.split("\n")[-2] == f"http://127.0.0.1:{PORTS[service]}/healthz"


def test_web_port_can_be_overridden(entry):
    assert "0.0.0.0:9000" in entry("web", "orders", PORT="9000").stdout


def test_worker_and_migrate(entry):
    assert entry("worker", "billing", WORKER_METRICS_PORT="9100").stdout.split() == [
        "python",
        "/app/run_worker.py",
        "billing",
    ]
    assert entry("healthcheck").stdout.split()[-1] == "http://127.0.0.1:9100/metrics"
    assert entry("worker", "billing", WORKER_METRICS_PORT="0").returncode == 0
    assert entry("healthcheck").stdout == ""  # no exporter: nothing to ask
    assert entry("migrate", "orders").stdout.split() == ["ecom", "migrate", "orders"]
    assert entry("healthcheck").stdout == ""
    assert entry("ecom", "dlq", "list", "orders.events").stdout.split() == ["ecom", "dlq", "list", "orders.events"]


@pytest.mark.parametrize("args", [("web",), ("web", "payments"), ("worker", "ORDERS"), ("serve", "orders")])
def test_bad_arguments_are_refused(entry, args):
    result = entry(*args)
    assert result.returncode == 2 and "usage" in result.stderr and result.stdout == ""


def test_the_healthcheck_asks_the_process_and_fails_when_it_does_not_answer(tmp_path):
    import http.server
    import threading

    class Ok(http.server.BaseHTTPRequestHandler):
        paths: list[str] = []

        def do_GET(self):
            Ok.paths.append(self.path)
            self.send_response(200 if self.path == "/healthz" else 503)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Ok)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    var = tmp_path / "var"
    var.mkdir()
    env = {"PATH": f"{Path(os.sys.executable).parent}:/usr/bin:/bin", "ECOM_VAR_DIR": str(var)}
    check = ["sh", str(DEPLOY / "entrypoint.sh"), "healthcheck"]
    try:
        (var / "role").write_text(f"web {server.server_port}\n")
        assert run(check, env=env).returncode == 0 and Ok.paths == ["/healthz"]
        (var / "role").write_text(f"worker {server.server_port}\n")  # answers 503 on /metrics
        result = run(check, env=env)
        assert result.returncode == 1 and "unhealthy" in result.stderr
    finally:
        server.shutdown()
    result = run(check, env=env)  # nothing listens any more
    assert result.returncode == 1 and "unhealthy" in result.stderr
