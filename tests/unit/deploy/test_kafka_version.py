"""One Apache Kafka version: the one `make kafka` fetches is the one docker-compose.yml and deploy/k8s run."""

from __future__ import annotations

import re

import yaml

from tests.kafka_cluster import kafka_version
from tests.unit.deploy.promtools import REPO


def test_the_version_is_a_4x_release() -> None:
    assert re.fullmatch(r"4\.\d+\.\d+", kafka_version())


def test_docker_compose_runs_the_version_the_tests_run() -> None:
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text(encoding="utf-8"))
    assert compose["services"]["kafka"]["image"] == f"apache/kafka:{kafka_version()}"


def test_deploy_k8s_names_the_version_the_tests_run() -> None:
    for name in ("config.yaml", "README.md"):
        text = (REPO / "deploy" / "k8s" / name).read_text(encoding="utf-8")
        assert f"Apache Kafka {kafka_version()}" in text, name
