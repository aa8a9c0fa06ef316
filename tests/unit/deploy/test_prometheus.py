"""The Prometheus config and alerting rules: what `promtool` says about them, run as tests in CI."""

from __future__ import annotations

import subprocess

import yaml

from tests.unit.deploy.promtools import PROMETHEUS_DIR, REPO, find_tool


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(find_tool("promtool")), *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_promtool_check_config_accepts_the_scrape_config() -> None:
    result = _promtool("check", "config", str(PROMETHEUS_DIR / "prometheus.yml"))
    assert result.returncode == 0, result.stdout + result.stderr
    # The rule files are found through the config's glob: a moved rules folder would load nothing.
    assert "1 rule files found" in result.stdout + result.stderr


def test_promtool_check_rules_accepts_every_rule_file() -> None:
    files = sorted((PROMETHEUS_DIR / "rules").glob("*.yml"))
    assert files
    result = _promtool("check", "rules", *map(str, files))
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_test_rules_passes_the_alert_unit_tests() -> None:
    files = sorted((PROMETHEUS_DIR / "tests").glob("*.yml"))
    result = _promtool("test", "rules", *map(str, files))
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_has_a_unit_test_and_a_severity() -> None:
    rules = yaml.safe_load((PROMETHEUS_DIR / "rules" / "newsmon.yml").read_text(encoding="utf-8"))
    alerts = {r["alert"]: r for g in rules["groups"] for r in g["rules"] if "alert" in r}
    tested = {
        t["alertname"]
        for f in (PROMETHEUS_DIR / "tests").glob("*.yml")
        for case in yaml.safe_load(f.read_text(encoding="utf-8"))["tests"]
        for t in case.get("alert_rule_test", [])
        if t.get("exp_alerts")  # shown firing, not only silent
    }
    assert sorted(set(alerts) - tested) == [], "alerts never shown firing by promtool test rules"
    for name, rule in alerts.items():
        assert rule["labels"]["severity"] in {"critical", "warning", "info"}, name
        assert rule["annotations"]["summary"], name


def test_scrape_jobs_name_the_compose_services() -> None:
    config = yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text(encoding="utf-8"))
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text(encoding="utf-8"))
    jobs = {j["job_name"]: j for j in config["scrape_configs"] if j["job_name"].startswith("newsmon-")}
    assert set(jobs) == {"newsmon-ingest", "newsmon-match", "newsmon-alert"}
    for name, job in jobs.items():
        (sd,) = job["dns_sd_configs"]
        assert sd["names"] == [name.removeprefix("newsmon-")]
        assert sd["names"][0] in compose["services"]
        assert sd["port"] == int(compose["services"][sd["names"][0]]["environment"]["NEWSMON_METRICS__PORT"])
