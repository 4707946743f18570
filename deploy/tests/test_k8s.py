"""deploy/k8s: the overlays render with kustomize (kubectl's built-in), every object validates
against the Kubernetes OpenAPI schemas (kubernetes-validate, strict: unknown fields fail), and the
rendered platform keeps the contract: every service with its migration, web and worker, probes,
resources, ports, environment, autoscaling, disruption budgets and network policy."""

from __future__ import annotations

import base64
from urllib.parse import urlsplit

import kubernetes_validate
import pytest

from ecom_common.config import Config
from ecom_common.topology import Topology
from ecom_testkit.deploytools import (
    CALLS,
    DEPLOY,
    K8S,
    OVERLAYS,
    PORTS,
    SERVICES,
    contract_env,
    find,
    pod_spec,
    render_kustomize,
    workloads,
)

# The oldest Kubernetes minor we support, and the newest schemas the validator ships.
K8S_VERSIONS = ("1.30.0", kubernetes_validate.latest_version())
IMAGES = {"dev": "ecom:dev", "prod": "registry.example.com/ecom/ecom:0.1.0"}
COMPONENTS = ("web", "worker", "migrate")


# Rendering and schemas ---------------------------------------------------------------------------
def test_the_base_renders_on_its_own():
    docs = render_kustomize(K8S / "base")
    assert {d["kind"] for d in docs} >= {
        "ConfigMap",
        "Job",
        "Deployment",
        "Service",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
        "NetworkPolicy",
        "ServiceAccount",
    }


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_rendered_object_validates_against_the_kubernetes_schemas(rendered, overlay):
    errors = []
    for doc in rendered[overlay]:
        for version in K8S_VERSIONS:
            try:
                kubernetes_validate.validate(doc, version, strict=True)
            except kubernetes_validate.ValidationError as exc:
                errors.append(f"{doc['kind']}/{doc['metadata']['name']} @ {version}: {exc.message} at {list(exc.path)}")
    assert not errors, "\n".join(errors)


def test_the_schema_validation_catches_a_wrong_manifest(rendered):
    web = find(rendered["dev"], "Deployment", "orders-web")
    broken = {**web, "spec": {**web["spec"], "replicas": "two", "replica": 2}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, K8S_VERSIONS[0], strict=True)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_everything_lands_in_the_overlay_namespace(rendered, overlay):
    namespace = {"dev": "ecom-dev", "prod": "ecom"}[overlay]
    assert find(rendered[overlay], "Namespace", namespace)
    for doc in rendered[overlay]:
        if doc["kind"] != "Namespace":
            assert doc["metadata"].get("namespace") == namespace, doc["metadata"]["name"]


# Every service: migration, web, worker -------------------------------------------------------------
def _container(workload: dict) -> dict:
    containers = pod_spec(workload)["containers"]
    assert len(containers) == 1
    return containers[0]


def _has_resources(container: dict) -> bool:
    res = container.get("resources") or {}
    return all(k in res.get(part, {}) for part in ("requests", "limits") for k in ("cpu", "memory"))


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("service", SERVICES)
def test_each_service_has_a_migration_a_web_and_a_worker(rendered, overlay, service):
    docs = rendered[overlay]
    port = PORTS[service]

    job = find(docs, "Job", f"{service}-migrate")
    assert _container(job)["args"] == ["migrate", service]
    assert pod_spec(job)["restartPolicy"] in ("OnFailure", "Never")

    web = find(docs, "Deployment", f"{service}-web")
    container = _container(web)
    assert container["args"] == ["web", service]
    assert [(p["name"], p["containerPort"]) for p in container["ports"]] == [("http", port)]
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    # gunicorn's graceful timeout (20 s) plus the preStop pause fit in the grace period.
    assert pod_spec(web)["terminationGracePeriodSeconds"] > 20 + 5

    svc = find(docs, "Service", service)
    assert [(p["port"], p["targetPort"]) for p in svc["spec"]["ports"]] == [(port, "http")]
    assert svc["spec"]["selector"].items() <= web["spec"]["template"]["metadata"]["labels"].items()

    worker = find(docs, "Deployment", f"{service}-worker")
    container = _container(worker)
    assert container["args"] == ["worker", service]
    assert container["livenessProbe"]["httpGet"]["path"] == "/metrics"
    # The worker finishes the message in hand on SIGTERM: give it time.
    assert pod_spec(worker)["terminationGracePeriodSeconds"] >= 30
    # The Service never sends HTTP to worker pods.
    assert not svc["spec"]["selector"].items() <= worker["spec"]["template"]["metadata"]["labels"].items()

    for workload in (job, web, worker):
        container = _container(workload)
        assert container["image"] == IMAGES[overlay]
        assert _has_resources(container), workload["metadata"]["name"]
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert container["securityContext"]["allowPrivilegeEscalation"] is False
        assert pod_spec(workload)["securityContext"]["runAsNonRoot"] is True

    hpa = find(docs, "HorizontalPodAutoscaler", f"{service}-web")
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": f"{service}-web"}
    assert 1 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
    assert "replicas" not in web["spec"], "the HPA owns the web replica count"
    assert worker["spec"]["replicas"] >= 1

    for workload in (web, worker):
        pdbs = [
            d
            for d in docs
            if d["kind"] == "PodDisruptionBudget"
            and d["spec"]["selector"]["matchLabels"].items()
            <= workload["spec"]["template"]["metadata"]["labels"].items()
        ]
        assert len(pdbs) == 1, workload["metadata"]["name"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_container_has_requests_and_limits(rendered, overlay):
    for workload in workloads(rendered[overlay]):
        spec = pod_spec(workload)
        for container in spec["containers"] + spec.get("initContainers", []):
            assert _has_resources(container), f"{workload['metadata']['name']}/{container['name']}"


# Environment: CONTRACTS.md -------------------------------------------------------------------------
def _keys_of(docs: list[dict], kind: str, name: str) -> set[str]:
    return set(find(docs, kind, name).get("data") or {})


def _secret(docs: list[dict], name: str) -> dict[str, str]:
    return {k: base64.b64decode(v).decode() for k, v in find(docs, "Secret", name)["data"].items()}


def _refs(container: dict) -> tuple[list[str], list[str]]:
    maps = [r["configMapRef"]["name"] for r in container.get("envFrom", []) if "configMapRef" in r]
    secrets = [r["secretRef"]["name"] for r in container.get("envFrom", []) if "secretRef" in r]
    return maps, secrets


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_peers_are_found_at_the_contract_ports(rendered, overlay):
    data = find(rendered[overlay], "ConfigMap", "ecom-platform")["data"]
    for service, port in PORTS.items():
        url = urlsplit(data[f"{service.upper()}_URL"])
        assert (url.scheme, url.hostname, url.port) == ("http", service, port)
        # ...and that name and port are a Service of the web pods.
        assert find(rendered[overlay], "Service", url.hostname)["spec"]["ports"][0]["port"] == port
    for service in SERVICES:
        assert find(rendered[overlay], "ConfigMap", f"{service}-config")["data"]["PORT"] == str(PORTS[service])


@pytest.mark.parametrize("service", SERVICES)
def test_dev_gives_every_process_the_contract_environment(rendered, service):
    docs = rendered["dev"]
    for component in COMPONENTS:
        kind, name = (
            ("Job", f"{service}-migrate") if component == "migrate" else ("Deployment", f"{service}-{component}")
        )
        container = _container(find(docs, kind, name))
        maps, secrets = _refs(container)
        keys = set().union(
            *(_keys_of(docs, "ConfigMap", m) for m in maps), *(_keys_of(docs, "Secret", s) for s in secrets)
        )
        assert contract_env(service) <= keys, f"{name} lacks {contract_env(service) - keys}"
        assert not any(k.endswith("_DATABASE_URL") and k != f"{service.upper()}_DATABASE_URL" for k in keys), (
            f"{name} can see another service's database"
        )

    # The generated secrets agree with each other: the login of <service>-db is the one the
    # PostgreSQL init script creates, and the broker credentials are RabbitMQ's.
    db_secret = next(s for s in _refs(container)[1] if s.startswith(f"{service}-db"))
    url = urlsplit(_secret(docs, db_secret)[f"{service.upper()}_DATABASE_URL"])
    assert url.scheme == "postgresql+psycopg"
    assert (url.hostname, url.port, url.path, url.username) == ("postgres", 5432, f"/{service}", service)
    postgres = _secret(docs, _statefulset_secret(docs, "postgres"))
    assert url.password == postgres[f"{service.upper()}_DB_PASSWORD"]
    platform_secret = next(s for s in _refs(container)[1] if s.startswith("ecom-platform"))
    broker = urlsplit(_secret(docs, platform_secret)["BROKER_URL"])
    rabbit = _secret(docs, _statefulset_secret(docs, "rabbitmq"))
    assert (broker.scheme, broker.hostname, broker.port) == ("amqp", "rabbitmq", 5672)
    assert (broker.username, broker.password) == (rabbit["RABBITMQ_DEFAULT_USER"], rabbit["RABBITMQ_DEFAULT_PASS"])


def _statefulset_secret(docs: list[dict], name: str) -> str:
    container = pod_spec(find(docs, "StatefulSet", name))["containers"][0]
    return next(r["secretRef"]["name"] for r in container["envFrom"] if "secretRef" in r)


@pytest.mark.parametrize("service", SERVICES)
def test_prod_references_secrets_that_the_operator_creates(rendered, service):
    docs = rendered["prod"]
    assert not [d for d in docs if d["kind"] == "Secret"], "prod must not carry secrets"
    readme = (DEPLOY / "README.md").read_text()
    for component in COMPONENTS:
        kind, name = (
            ("Job", f"{service}-migrate") if component == "migrate" else ("Deployment", f"{service}-{component}")
        )
        maps, secrets = _refs(_container(find(docs, kind, name)))
        assert secrets == ["ecom-platform", f"{service}-db"]
        keys = set().union(*(_keys_of(docs, "ConfigMap", m) for m in maps))
        # What the Secrets must hold is documented for the operator.
        secret_keys = {"ECOM_JWT_SECRET", "BROKER_URL", f"{service.upper()}_DATABASE_URL"}
        assert contract_env(service) <= keys | secret_keys
    assert "ecom-platform" in readme and "<service>-db" in readme and "<SERVICE>_DATABASE_URL" in readme


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_carrier_webhook_secret_is_set_by_the_deployment_never_generated(rendered, overlay, tmp_path):
    # `make run` generates LOGISTICS_CARRIER_WEBHOOK_SECRET into var/; pods share no var/, so here the
    # webhook stays off (503) until the operator puts the secret in the logistics pods' environment.
    docs = rendered[overlay]
    for component in ("web", "worker"):
        maps, secrets = _refs(_container(find(docs, "Deployment", f"logistics-{component}")))
        env = {k: v for m in maps for k, v in (find(docs, "ConfigMap", m).get("data") or {}).items()}
        for name in secrets:
            # prod: the Secrets the operator creates, with the keys deploy/README.md lists
            env.update(
                _secret(docs, name)
                if overlay == "dev"
                else {
                    "ECOM_JWT_SECRET": "k" * 40,
                    "BROKER_URL": "amqps://broker//",
                    "LOGISTICS_DATABASE_URL": "postgresql+psycopg://db/logistics",
                }
            )
        env["ECOM_VAR_DIR"] = str(tmp_path)
        setting = Config.from_env("logistics", env=env).setting("LOGISTICS_CARRIER_WEBHOOK_SECRET", None)
        assert setting == (env.get("LOGISTICS_CARRIER_WEBHOOK_SECRET") or None), component
    assert not list(tmp_path.iterdir()), "nothing may be generated into a pod's var/"


# Broker and databases ----------------------------------------------------------------------------
def test_prod_declares_quorum_queues_with_a_delivery_limit(rendered):
    prod = find(rendered["prod"], "ConfigMap", "ecom-platform")["data"]
    assert prod["ECOM_QUEUE_TYPE"] == "quorum"
    topology = Topology(queue_type=prod["ECOM_QUEUE_TYPE"], delivery_limit=int(prod["ECOM_QUEUE_DELIVERY_LIMIT"]))
    work = topology.entities("orders.events")[0].queue_arguments
    assert work["x-queue-type"] == "quorum" and work["x-delivery-limit"] >= 1
    assert find(rendered["dev"], "ConfigMap", "ecom-platform")["data"]["ECOM_QUEUE_TYPE"] == "classic"


def test_dev_runs_rabbitmq_and_postgres_as_statefulsets(rendered):
    docs = rendered["dev"]
    rabbit = pod_spec(find(docs, "StatefulSet", "rabbitmq"))["containers"][0]
    assert "management" in rabbit["image"]
    postgres = find(docs, "StatefulSet", "postgres")
    init_volume = next(v for v in pod_spec(postgres)["volumes"] if v["name"] == "init")
    init = find(docs, "ConfigMap", init_volume["configMap"]["name"])
    assert init["data"]["init-databases.sh"] == (DEPLOY / "postgres" / "init-databases.sh").read_text()
    for sts in (find(docs, "StatefulSet", "rabbitmq"), postgres):
        assert sts["spec"]["volumeClaimTemplates"], "data must survive a restart"
        assert find(docs, "Service", sts["spec"]["serviceName"])["spec"]["clusterIP"] == "None"
    assert find(docs, "Service", "rabbitmq") and find(docs, "Service", "postgres")


def test_the_dev_init_script_is_the_compose_one():
    assert (K8S / "overlays" / "dev" / "postgres" / "init-databases.sh").read_bytes() == (
        DEPLOY / "postgres" / "init-databases.sh"
    ).read_bytes()


def test_prod_runs_no_broker_or_database(rendered):
    docs = rendered["prod"]
    assert not [d for d in docs if d["kind"] == "StatefulSet"]
    policy = find(docs, "NetworkPolicy", "ecom-infra-egress")
    ports = {p["port"] for rule in policy["spec"]["egress"] for p in rule["ports"]}
    assert {5432, 5671} <= ports
    assert all("ipBlock" in peer for rule in policy["spec"]["egress"] for peer in rule["to"])


# Network policies ----------------------------------------------------------------------------------
def _matches(selector: dict | None, labels: dict) -> bool:
    if selector is None:
        return False
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], expr.get("values", [])
        if (
            (op == "In" and labels.get(key) not in values)
            or (op == "NotIn" and labels.get(key) in values)
            or (op == "Exists" and key not in labels)
            or (op == "DoesNotExist" and key in labels)
        ):
            return False
    return True


class Pod:
    def __init__(self, workload: dict):
        self.name = workload["metadata"]["name"]
        self.labels = workload["spec"]["template"]["metadata"]["labels"]
        self.ports = {
            p["name"]: p["containerPort"]
            for c in pod_spec(workload)["containers"]
            for p in c.get("ports", [])
            if "name" in p
        }


def _rule_allows(rule: dict, peers_key: str, other: Pod, port_owner: Pod, port: int) -> bool:
    peers = rule.get(peers_key)
    # Absent or empty peers: every peer. Pods of this namespace match a podSelector-only peer;
    # namespaceSelector and ipBlock peers stand for other namespaces and addresses outside the cluster.
    if peers and not any(
        "podSelector" in p and "namespaceSelector" not in p and _matches(p["podSelector"], other.labels) for p in peers
    ):
        return False
    ports = rule.get("ports")
    if not ports:
        return True
    return any(p.get("port") in (port, *(n for n, v in port_owner.ports.items() if v == port)) for p in ports)


def _allowed(policies: list[dict], src: Pod, dst: Pod, port: int) -> bool:
    def direction(pod: Pod, kind: str, rules_key: str, peers_key: str, other: Pod) -> bool:
        selecting = [
            p
            for p in policies
            if kind in p["spec"].get("policyTypes", []) and _matches(p["spec"]["podSelector"], pod.labels)
        ]
        if not selecting:
            return True
        return any(
            _rule_allows(rule, peers_key, other, dst, port)
            for p in selecting
            for rule in p["spec"].get(rules_key) or []
        )

    return direction(src, "Egress", "egress", "to", dst) and direction(dst, "Ingress", "ingress", "from", src)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_service_reaches_only_the_peers_it_calls(rendered, overlay):
    docs = rendered[overlay]
    policies = [d for d in docs if d["kind"] == "NetworkPolicy"]
    pods = {w["metadata"]["name"]: Pod(w) for w in workloads(docs)}
    wrong = []
    for src_service in SERVICES:
        for component in COMPONENTS:
            src = pods[f"{src_service}-{component}"]
            for dst_service in SERVICES:
                may = _allowed(policies, src, pods[f"{dst_service}-web"], PORTS[dst_service])
                if may != (dst_service in CALLS[src_service]):
                    wrong.append(f"{src.name} -> {dst_service}: {'allowed' if may else 'denied'}")
            # Nothing reaches a worker's or a migration's pod from another service.
            for other in SERVICES:
                for target in (f"{other}-worker", f"{other}-migrate"):
                    if _allowed(policies, src, pods[target], 9100):
                        wrong.append(f"{src.name} -> {target}: allowed")
    assert not wrong, "\n".join(wrong)


def test_dev_processes_reach_the_broker_and_database_and_nothing_else_does(rendered):
    docs = rendered["dev"]
    policies = [d for d in docs if d["kind"] == "NetworkPolicy"]
    pods = {w["metadata"]["name"]: Pod(w) for w in workloads(docs)}
    for service in SERVICES:
        for component in COMPONENTS:
            src = pods[f"{service}-{component}"]
            assert _allowed(policies, src, pods["rabbitmq"], 5672)
            assert _allowed(policies, src, pods["postgres"], 5432)
            assert not _allowed(policies, src, pods["rabbitmq"], 15672)
    assert not _allowed(policies, pods["rabbitmq"], pods["postgres"], 5432)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_ecom_pod_is_isolated_by_default(rendered, overlay):
    docs = rendered[overlay]
    deny = find(docs, "NetworkPolicy", "ecom-default-deny")["spec"]
    assert set(deny["policyTypes"]) == {"Ingress", "Egress"} and not deny.get("ingress") and not deny.get("egress")
    for workload in workloads(docs):
        assert _matches(deny["podSelector"], workload["spec"]["template"]["metadata"]["labels"]), workload["metadata"][
            "name"
        ]
