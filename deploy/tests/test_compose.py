"""deploy/docker-compose.yml: valid against the Compose Specification's JSON schema (the copy
vendored in check-jsonschema, `vendor.compose-spec`), accepted by Docker Compose itself
(`docker compose config`, which needs no engine), and true to the contract: every service's
migrate, web and worker, gated by health checks, with the environment of CONTRACTS.md."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from ecom_common.config import Config
from ecom_testkit.deploytools import DEPLOY, PORTS, ROOT, SERVICES, contract_env, run, tool

COMPOSE = DEPLOY / "docker-compose.yml"


def _dotenv(path: Path) -> dict[str, str]:
    out = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            out[key.strip()] = value.strip()
    return out


def _stage(tmp: Path) -> Path:
    """The compose file with its env examples turned into env files, as `make compose-env` does."""
    deploy = tmp / "deploy"
    (deploy / "env").mkdir(parents=True)
    shutil.copy(COMPOSE, deploy / "docker-compose.yml")
    shutil.copytree(DEPLOY / "postgres", deploy / "postgres")
    for example in (DEPLOY / "env").glob("*.env.example"):
        shutil.copy(example, deploy / "env" / example.name)
    result = run(["python3", str(DEPLOY / "env" / "make_env.py"), "--dir", str(deploy / "env")])
    assert result.returncode == 0, result.stderr
    return deploy


def _compose_config(deploy: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COMPOSE_", "DOCKER_", "ECOM_"))}
    return run(
        [tool("docker-compose"), "-f", str(deploy / "docker-compose.yml"), "config", "--format", "json"],
        env=env,
        cwd=deploy,
    )


@pytest.fixture(scope="module")
def staged(tmp_path_factory) -> Path:
    return _stage(tmp_path_factory.mktemp("compose"))


@pytest.fixture(scope="module")
def config(staged) -> dict:
    result = _compose_config(staged)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


# Schemas -------------------------------------------------------------------------------------------
def test_the_compose_file_matches_the_compose_specification_schema():
    result = run([tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(COMPOSE)])
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_schema_check_catches_a_wrong_compose_file(tmp_path):
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(
        COMPOSE.read_text().replace("    stop_grace_period: 30s\n", "    stop_grace_period: 30s\n    replica: 2\n", 1)
    )
    result = run([tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(broken)])
    assert result.returncode != 0


def test_docker_compose_accepts_the_file(config):
    assert config["name"] == "ecom"


def test_docker_compose_refuses_to_start_without_the_env_files(tmp_path):
    deploy = _stage(tmp_path)
    (deploy / "env" / "orders.env").unlink()
    result = _compose_config(deploy)
    assert result.returncode != 0 and "orders.env" in result.stderr


# Every service -------------------------------------------------------------------------------------
def _depends(service: dict) -> dict[str, str]:
    return {name: dep["condition"] for name, dep in (service.get("depends_on") or {}).items()}


@pytest.mark.parametrize("name", SERVICES)
def test_each_service_has_a_migration_a_web_and_a_worker(config, name):
    services = config["services"]
    migrate, web, worker = services[f"{name}-migrate"], services[f"{name}-web"], services[f"{name}-worker"]

    assert migrate["command"] == ["migrate", name]
    assert migrate["restart"] == "no"
    assert _depends(migrate) == {"postgres": "service_healthy"}

    assert web["command"] == ["web", name]
    assert worker["command"] == ["worker", name]
    for process in (web, worker):
        assert _depends(process) == {
            "postgres": "service_healthy",
            "rabbitmq": "service_healthy",
            f"{name}-migrate": "service_completed_successfully",
        }
        assert process["healthcheck"]["test"] == ["CMD", "/app/entrypoint.sh", "healthcheck"]
        assert process["restart"] == "unless-stopped"
        assert process["image"] == migrate["image"]
        assert process["read_only"] is True
    assert [(p["host_ip"], p["target"], int(p["published"])) for p in web["ports"]] == [
        ("127.0.0.1", PORTS[name], PORTS[name])
    ]
    assert web["environment"]["PORT"] == str(PORTS[name])
    # The grace periods cover gunicorn's graceful timeout and the worker's message in hand.
    assert web["stop_grace_period"] == "30s" and worker["stop_grace_period"] == "45s"
    assert "build" in migrate and migrate["build"]["dockerfile"] == "deploy/Dockerfile"


@pytest.mark.parametrize("name", SERVICES)
def test_each_process_gets_the_contract_environment(config, staged, name):
    postgres = _dotenv(staged / "env" / "postgres.env")
    rabbit = _dotenv(staged / "env" / "rabbitmq.env")
    for role in ("migrate", "web", "worker"):
        env = config["services"][f"{name}-{role}"]["environment"]
        assert contract_env(name) - {f"{p.upper()}_URL" for p in SERVICES} <= set(env), role
        assert not any(k.endswith("_DATABASE_URL") and k != f"{name.upper()}_DATABASE_URL" for k in env)
        assert len(env["ECOM_JWT_SECRET"]) >= 32
        db = urlsplit(env[f"{name.upper()}_DATABASE_URL"])
        assert (db.scheme, db.hostname, db.port, db.path, db.username) == (
            "postgresql+psycopg",
            "postgres",
            5432,
            f"/{name}",
            name,
        )
        assert db.password == postgres[f"{name.upper()}_DB_PASSWORD"]
        broker = urlsplit(env["BROKER_URL"])
        assert (broker.scheme, broker.hostname, broker.port) == ("amqp", "rabbitmq", 5672)
        assert (broker.username, broker.password) == (rabbit["RABBITMQ_DEFAULT_USER"], rabbit["RABBITMQ_DEFAULT_PASS"])
        if role != "migrate":
            for peer, port in PORTS.items():
                url = urlsplit(env[f"{peer.upper()}_URL"])
                assert (url.hostname, url.port) == (f"{peer}-web", port)


def test_rabbitmq_and_postgres(config):
    services = config["services"]
    rabbit, postgres = services["rabbitmq"], services["postgres"]
    assert "management" in rabbit["image"]
    assert rabbit["healthcheck"]["test"][:2] == ["CMD", "rabbitmq-diagnostics"]
    assert "pg_isready -h 127.0.0.1" in " ".join(postgres["healthcheck"]["test"])
    mounts = {v["target"]: v for v in postgres["volumes"]}
    assert mounts["/var/lib/postgresql/data"]["type"] == "volume"
    init = mounts["/docker-entrypoint-initdb.d/10-init-databases.sh"]
    assert init["read_only"] and Path(init["source"]).name == "init-databases.sh"
    assert {v["target"]: v["type"] for v in rabbit["volumes"]} == {"/var/lib/rabbitmq": "volume"}
    assert set(config["volumes"]) == {"postgres-data", "rabbitmq-data"}


def test_the_carrier_webhook_secret_is_set_by_the_deployment_never_generated(config, tmp_path):
    # `make run` generates LOGISTICS_CARRIER_WEBHOOK_SECRET into var/; containers share no var/, so
    # here the webhook stays off (503) until the operator sets the secret in logistics.env.
    for role in ("web", "worker"):
        env = {**config["services"][f"logistics-{role}"]["environment"], "ECOM_VAR_DIR": str(tmp_path)}
        setting = Config.from_env("logistics", env=env).setting("LOGISTICS_CARRIER_WEBHOOK_SECRET", None)
        assert setting == (env.get("LOGISTICS_CARRIER_WEBHOOK_SECRET") or None), role
    assert not list(tmp_path.iterdir()), "nothing may be generated into a container's var/"


# Secrets -------------------------------------------------------------------------------------------
def test_real_env_files_are_ignored_by_git():
    for name in ("platform.env", "postgres.env", "orders.env"):
        result = run(["git", "check-ignore", "-q", f"deploy/env/{name}"], cwd=ROOT)
        assert result.returncode == 0, f"deploy/env/{name} is not gitignored"
    assert run(["git", "check-ignore", "-q", "deploy/env/orders.env.example"], cwd=ROOT).returncode == 1


def test_env_files_are_made_all_together_or_not_at_all(tmp_path):
    env = tmp_path / "env"
    env.mkdir()
    for example in (DEPLOY / "env").glob("*.env.example"):
        shutil.copy(example, env / example.name)
    make = ["python3", str(DEPLOY / "env" / "make_env.py"), "--dir", str(env)]
    assert run(make).returncode == 0
    made = {p.name: p.read_text() for p in env.glob("*.env")}
    assert len(made) == len(list(env.glob("*.env.example"))) and not any("__" in t for t in made.values())
    assert oct((env / "platform.env").stat().st_mode)[-3:] == "600"
    assert run(make).returncode == 0  # present: kept as they are
    assert {p.name: p.read_text() for p in env.glob("*.env")} == made
    (env / "postgres.env").unlink()
    result = run(make)
    assert result.returncode == 1 and not (env / "postgres.env").exists()
