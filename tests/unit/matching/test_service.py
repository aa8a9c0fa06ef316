"""The match service: hot reload of the rules folder; a bad edit keeps the last good set running."""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from structlog.testing import capture_logs

from monitor.errors import RuleError
from monitor.matching.service import MatchService, RulesWatcher
from monitor.metrics import Metrics
from monitor.settings import MatchSettings
from tests.fixtures.articles import MakeArticle
from tests.fixtures.rules import ENTITIES, RULE, rewrite


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def setup(tmp_path: Path) -> tuple[MatchService, Metrics, _Clock, Path]:
    (tmp_path / "entities.yaml").write_text(ENTITIES, encoding="utf-8")
    (tmp_path / "summit.yaml").write_text(RULE, encoding="utf-8")
    metrics = Metrics(CollectorRegistry())
    clock = _Clock()
    settings = MatchSettings(rules_dir=tmp_path, spacy_models={}, reload_check_s=5)
    return MatchService(settings, metrics, clock=clock), metrics, clock, tmp_path


def _value(metrics: Metrics, name: str, **labels: str) -> float:
    value = metrics.registry.get_sample_value(name, labels or None)
    assert value is not None
    return value


def test_an_edit_is_picked_up_after_the_check_interval(
    setup: tuple[MatchService, Metrics, _Clock, Path], article: MakeArticle
) -> None:
    service, metrics, clock, rules_dir = setup
    text = "Ada Verin et Boris Kalm: un sommet."
    assert [m.rule for m in service.handle(article(text))] == ["summit"]
    rewrite(rules_dir / "summit.yaml", RULE.replace("id: summit", "id: summit_v2"))
    assert service.maybe_reload() is None  # interval not over: the folder is not even looked at
    clock.now = 6
    assert service.maybe_reload() is True
    assert [m.rule for m in service.handle(article(text))] == ["summit_v2"]
    assert _value(metrics, "newsmon_rules_reloads_total", outcome="ok") == 1
    assert _value(metrics, "newsmon_rules_last_reload_successful") == 1
    clock.now = 12
    assert service.maybe_reload() is None  # nothing changed since


@pytest.mark.parametrize(
    ("file", "content", "expected"),
    [
        (
            "summit.yaml",
            RULE.replace("[rencontre, sommet]", "[rencontre, sommet"),
            "summit.yaml:10: invalid YAML",
        ),
        (
            "summit.yaml",
            RULE.replace("at_least: 2", "at_least: 5"),
            "summit.yaml:6: conditions[0].entities: ",
        ),
        (
            "entities.yaml",
            ENTITIES.replace("id: boris_kalm", "id: Boris"),
            "entities.yaml:6: entities[1].id: ",
        ),
        (
            "summit.yaml",
            RULE + "examples:\n  no_match: [Ada Verin et Boris Kalm au sommet.]\n",
            "summit.yaml:11: examples.no_match[0]: summit: should not fire",
        ),
    ],
)
def test_a_bad_edit_is_rejected_and_the_last_good_set_keeps_running(
    setup: tuple[MatchService, Metrics, _Clock, Path],
    article: MakeArticle,
    file: str,
    content: str,
    expected: str,
) -> None:
    service, metrics, clock, rules_dir = setup
    rewrite(rules_dir / file, content)
    clock.now = 6
    with capture_logs() as logs:
        assert service.maybe_reload() is False
    [event] = [e for e in logs if e["event"] == "rules.reload_rejected"]
    assert f"{rules_dir / expected}" in event["error"]
    assert [m.rule for m in service.handle(article("Ada Verin et Boris Kalm: un sommet."))] == ["summit"]
    assert _value(metrics, "newsmon_rules_reloads_total", outcome="error") == 1
    assert _value(metrics, "newsmon_rules_last_reload_successful") == 0
    assert _value(metrics, "newsmon_rules_loaded") == 1
    rewrite(rules_dir / file, ENTITIES if file == "entities.yaml" else RULE)  # fixed: back to green
    clock.now = 12
    assert service.maybe_reload() is True
    assert _value(metrics, "newsmon_rules_last_reload_successful") == 1


def test_a_bad_rule_set_stops_the_start(tmp_path: Path) -> None:
    (tmp_path / "entities.yaml").write_text(ENTITIES, encoding="utf-8")
    (tmp_path / "summit.yaml").write_text(RULE.replace("name: Summit", "name: ''"), encoding="utf-8")
    with pytest.raises(RuleError, match=r"summit\.yaml:2: name: "):
        MatchService(MatchSettings(rules_dir=tmp_path, spacy_models={}), Metrics(CollectorRegistry()))


def test_the_watcher_sees_new_and_removed_files(tmp_path: Path) -> None:
    (tmp_path / "entities.yaml").write_text(ENTITIES, encoding="utf-8")
    watcher = RulesWatcher(tmp_path)
    assert not watcher.changed()
    (tmp_path / "other.yml").write_text(RULE, encoding="utf-8")
    assert watcher.changed()
    assert not watcher.changed()
    (tmp_path / "other.yml").unlink()
    assert watcher.changed()
    (tmp_path / "notes.txt").write_text("not a rule", encoding="utf-8")
    assert not watcher.changed()


def test_nlp_work_is_counted(setup: tuple[MatchService, Metrics, _Clock, Path], article: MakeArticle) -> None:
    service, metrics, _, _ = setup
    service.handle(article("Rien à voir."))
    service.handle(article("Ada Verin et Boris Kalm: un sommet."))
    assert _value(metrics, "newsmon_articles_analysed_total") == 2
    assert _value(metrics, "newsmon_match_nlp_articles_total") == 1
    assert _value(metrics, "newsmon_matches_total", rule="summit") == 1
