"""deploy/k8s: the three stages as Deployments with probes and resources, and an HPA bounded by partitions."""

from __future__ import annotations

from typing import Any

import yaml

from tests.fixtures.settings_names import setting_env_names
from tests.unit.deploy.promtools import REPO

_K8S = REPO / "deploy" / "k8s"


def _documents() -> list[dict[str, Any]]:
    return [d for f in sorted(_K8S.glob("*.yaml")) for d in yaml.safe_load_all(f.read_text()) if d]


def _by_kind(kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in _documents() if d["kind"] == kind}


def test_kustomization_lists_every_manifest() -> None:
    kustomization = yaml.safe_load((_K8S / "kustomization.yaml").read_text())
    manifests = {p.name for p in _K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(kustomization["resources"]) == manifests


def test_each_stage_has_probes_on_healthz_and_resources() -> None:
    deployments = _by_kind("Deployment")
    assert set(deployments) == {"newsmon-ingest", "newsmon-match", "newsmon-alert"}
    for name, deployment in deployments.items():
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        assert container["args"] == [name.removeprefix("newsmon-")]
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        assert ports == {"metrics": 9464}
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            assert container[probe]["httpGet"] == {"path": "/healthz", "port": "metrics"}, (name, probe)
        resources = container["resources"]
        assert {"cpu", "memory"} <= set(resources["requests"]), name
        assert "memory" in resources["limits"], name
        annotations = deployment["spec"]["template"]["metadata"]["annotations"]
        assert annotations["prometheus.io/port"] == "9464"


def test_stateful_stages_do_not_run_two_pods_on_one_volume() -> None:
    for name in ("newsmon-ingest", "newsmon-alert"):
        spec = _by_kind("Deployment")[name]["spec"]
        assert spec["replicas"] == 1, name
        assert spec["strategy"]["type"] == "Recreate", name


def test_the_autoscaler_never_exceeds_the_partitions() -> None:
    config = _by_kind("ConfigMap")["newsmon"]["data"]
    (hpa,) = _by_kind("HorizontalPodAutoscaler").values()
    assert hpa["spec"]["scaleTargetRef"]["name"] == "newsmon-match"
    assert hpa["spec"]["maxReplicas"] <= int(config["NEWSMON_KAFKA__PARTITIONS"])
    assert "replicas" not in _by_kind("Deployment")["newsmon-match"]["spec"], "the HPA owns the count"
    assert "partition" in (_K8S / "match-hpa.yaml").read_text().lower()


def test_config_and_secret_only_set_settings_newsmon_knows() -> None:
    known = setting_env_names()
    config = _by_kind("ConfigMap")["newsmon"]["data"]
    secret = _by_kind("Secret")["newsmon-alert"]["stringData"]
    env = [
        e["name"]
        for d in _by_kind("Deployment").values()
        for e in d["spec"]["template"]["spec"]["containers"][0].get("env", [])
    ]
    assert sorted({*config, *secret, *env} - known) == []
    assert config["NEWSMON_METRICS__HOST"] == "0.0.0.0"


def test_the_readme_explains_scaling() -> None:
    text = (_K8S / "README.md").read_text(encoding="utf-8")
    assert "partitions" in text
    assert "kubectl apply -k deploy/k8s" in text


def test_the_alerters_variant_runs_a_statefulset_with_a_volume_per_replica() -> None:
    folder = _K8S / "alerters"
    kustomization = yaml.safe_load((folder / "kustomization.yaml").read_text())
    assert "../" in kustomization["resources"]
    deleted = {
        (p["kind"], p["metadata"]["name"])
        for p in (yaml.safe_load(x["patch"]) for x in kustomization["patches"])
        if p.pop("$patch", None) == "delete"
    }
    assert deleted == {("Deployment", "newsmon-alert"), ("PersistentVolumeClaim", "newsmon-alert")}
    docs = {
        d["kind"]: d
        for f in kustomization["resources"]
        if f != "../"
        for d in yaml.safe_load_all((folder / f).read_text())
        if d
    }
    stateful, service = docs["StatefulSet"], docs["Service"]
    assert service["spec"]["clusterIP"] == "None"
    assert stateful["spec"]["serviceName"] == service["metadata"]["name"]
    config = _by_kind("ConfigMap")["newsmon"]["data"]
    assert 2 <= stateful["spec"]["replicas"] <= int(config["NEWSMON_KAFKA__PARTITIONS"])
    (claim,) = stateful["spec"]["volumeClaimTemplates"]
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
    # The same pod as the one-replica Deployment, apart from where its volume comes from.
    deployment = _by_kind("Deployment")["newsmon-alert"]["spec"]["template"]
    assert {k: v for k, v in deployment["spec"].items() if k != "volumes"} == stateful["spec"]["template"][
        "spec"
    ]
    assert deployment["metadata"] == stateful["spec"]["template"]["metadata"]
    assert claim["metadata"]["name"] == deployment["spec"]["volumes"][0]["name"]
