"""docker-compose.yml: the whole stack, each newsmon stage scalable, checked without a Docker engine."""

from __future__ import annotations

from typing import Any

import yaml

from tests.fixtures.settings_names import setting_env_names
from tests.unit.deploy.promtools import REPO

_COMPOSE: dict[str, Any] = yaml.safe_load((REPO / "docker-compose.yml").read_text(encoding="utf-8"))
_SERVICES: dict[str, Any] = _COMPOSE["services"]
_STAGES = ("ingest", "match", "alert")


def test_the_stack_has_kafka_the_stages_prometheus_grafana_and_a_mail_catcher() -> None:
    assert set(_SERVICES) == {"kafka", *_STAGES, "prometheus", "grafana", "mailpit"}
    roles = _SERVICES["kafka"]["environment"]["KAFKA_PROCESS_ROLES"]
    assert set(roles.split(",")) == {"broker", "controller"}, "single-node KRaft: no ZooKeeper"


def test_each_stage_runs_its_own_command_and_can_be_scaled() -> None:
    for stage in _STAGES:
        service = _SERVICES[stage]
        assert service["command"] == [stage]
        # A fixed container name or a published host port makes `docker compose up --scale` fail.
        assert "container_name" not in service, stage
        assert "ports" not in service, stage
        assert service["depends_on"]["kafka"]["condition"] == "service_healthy"
        assert "/healthz" in " ".join(service["healthcheck"]["test"])


def test_stages_only_set_settings_newsmon_knows() -> None:
    known = setting_env_names()
    for stage in _STAGES:
        env = _SERVICES[stage]["environment"]
        assert sorted(set(env) - known) == [], stage
        assert env["NEWSMON_METRICS__HOST"] == "0.0.0.0", "Prometheus scrapes from another container"
        assert env["NEWSMON_KAFKA__BOOTSTRAP_SERVERS"] == '["kafka:9092"]'


def test_alerts_go_to_the_mail_catcher_by_default() -> None:
    urls = _SERVICES["alert"]["environment"]["NEWSMON_ALERT__APPRISE_URLS"]
    assert "mailto://mailpit:1025/" in urls
    assert urls.startswith("${NEWSMON_ALERT__APPRISE_URLS:-"), "the operator's own URLs must override it"


def test_prometheus_and_grafana_mount_the_provisioned_files() -> None:
    mounts = {
        m.split(":")[0]: m.split(":")[1] for m in _SERVICES["prometheus"]["volumes"] if m.startswith("./")
    }
    assert mounts == {"./deploy/prometheus": "/etc/prometheus"}
    assert "--config.file=/etc/prometheus/prometheus.yml" in _SERVICES["prometheus"]["command"]
    grafana = {
        m.split(":")[0]: m.split(":")[1] for m in _SERVICES["grafana"]["volumes"] if m.startswith("./")
    }
    assert grafana == {
        "./deploy/grafana/provisioning": "/etc/grafana/provisioning",
        "./deploy/grafana/dashboards": "/var/lib/grafana/dashboards",
    }
    for source in [*mounts, *grafana]:
        assert (REPO / source).is_dir(), source
    home = _SERVICES["grafana"]["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert (REPO / "deploy/grafana/dashboards" / home.rsplit("/", 1)[1]).is_file()


def test_every_named_volume_is_declared() -> None:
    used = {
        v.split(":")[0]
        for service in _SERVICES.values()
        for v in service.get("volumes", [])
        if not v.startswith((".", "/"))
    }
    assert used == set(_COMPOSE["volumes"])
