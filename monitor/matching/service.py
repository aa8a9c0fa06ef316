"""The match service: the engine behind the articles topic, with the rules folder reloaded when it changes.

An analyst edits a watchlist while the service runs; a restart for that would stall matching and
reload spaCy for seconds. The folder is polled (mtime, size and inode of every YAML file: works on
network and container mounts where inotify misses changes), a changed folder is loaded and checked
(schema, then the rules' own examples), and only a set that passes replaces the running one. A bad
edit is logged with its ``file:line: field`` and counted; the last good set keeps matching.

Reload runs in the consumer's own thread, between two polls: spaCy pipelines are shared between the
old and the new engine and are not safe to use from two threads at once.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from kafka import KafkaConsumer, KafkaProducer
from kafka.errors import KafkaError

from monitor.bus.consumer import ConsumerLoop
from monitor.errors import NewsmonError, RuleError
from monitor.logs import get_logger
from monitor.matching.engine import MatchEngine
from monitor.matching.examples import check_examples
from monitor.matching.nlp import Pipelines
from monitor.matching.rules import load_rule_set
from monitor.metrics import Metrics
from monitor.models import Article, Match
from monitor.settings import MatchSettings

__all__ = ["MatchService", "MatchStage", "RulesWatcher"]

_log = get_logger(__name__)

Signature = tuple[tuple[str, int, int, int], ...]


class RulesWatcher:
    """Tell whether any YAML file of a rules folder was added, removed or changed since the last look."""

    def __init__(self, rules_dir: Path) -> None:
        self.rules_dir = rules_dir
        self._signature = self._stat()

    def _stat(self) -> Signature:
        try:
            entries = sorted(p for p in self.rules_dir.iterdir() if p.suffix in (".yaml", ".yml"))
        except OSError:
            return ()
        out: list[tuple[str, int, int, int]] = []
        for path in entries:
            try:
                st = os.stat(path)
            except OSError:
                continue
            out.append((path.name, st.st_mtime_ns, st.st_size, st.st_ino))
        return tuple(out)

    def changed(self) -> bool:
        """Return True once per change of the folder (the next call is False until it changes again)."""
        signature = self._stat()
        if signature == self._signature:
            return False
        self._signature = signature
        return True


def check_rule_set(engine: MatchEngine) -> None:
    """Raise RuleError naming every example of ``engine``'s rules that does not hold.

    Raises:
        RuleError: one ``path:line: examples.match[n]: ...`` line per failing example.
    """
    failures = check_examples(engine)
    if failures:
        raise RuleError("\n".join(str(f) for f in failures))


class MatchService:
    """Match articles with the current rule set; reload it when the rules folder changes."""

    def __init__(
        self,
        settings: MatchSettings,
        metrics: Metrics,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Load and check the rules folder.

        Raises:
            RuleError: the rules folder is invalid or its examples fail (the service does not start).
            ConfigError: a configured spaCy model is not installed.
        """
        self.settings = settings
        self.metrics = metrics
        self._clock = clock
        self._watcher = RulesWatcher(settings.rules_dir)  # before the load: an edit in between is noticed
        self._pipelines = Pipelines(settings.spacy_models, lookup_lemmas=settings.lookup_lemmas)
        self.engine = self._build()
        self._next_check = clock() + settings.reload_check_s
        metrics.rules_loaded.set(self.engine.rule_count)
        metrics.rules_last_reload_successful.set(1)

    def _build(self) -> MatchEngine:
        rule_set = load_rule_set(self.settings.rules_dir)
        engine = MatchEngine.from_rule_set(rule_set, self._pipelines, self.settings.default_language)
        if self.settings.check_examples:
            check_rule_set(engine)
        return engine

    def maybe_reload(self) -> bool | None:
        """Reload if the check interval has passed and the folder changed; see :meth:`reload`."""
        if self.settings.reload_check_s <= 0 or self._clock() < self._next_check:
            return None
        self._next_check = self._clock() + self.settings.reload_check_s
        if not self._watcher.changed():
            return None
        return self.reload()

    def reload(self) -> bool:
        """Load the rules folder again; swap it in if valid and return True, else keep the last good set."""
        try:
            engine = self._build()
        except NewsmonError as e:
            self.metrics.rules_reloads.labels(outcome="error").inc()
            self.metrics.rules_last_reload_successful.set(0)
            _log.error(
                "rules.reload_rejected",
                rules_dir=str(self.settings.rules_dir),
                error=str(e),
                running_rules=self.engine.rule_count,
            )
            return False
        self.engine = engine
        self.metrics.rules_reloads.labels(outcome="ok").inc()
        self.metrics.rules_last_reload_successful.set(1)
        self.metrics.rules_loaded.set(engine.rule_count)
        _log.info("rules.reloaded", rules_dir=str(self.settings.rules_dir), rules=engine.rule_count)
        return True

    def handle(self, article: Article) -> list[Match]:
        """Return the matches of ``article`` under the current rule set, and count the work done."""
        engine = self.engine
        with self.metrics.match_duration.time():
            analysis = engine.analyse(article)
        self.metrics.articles_matched.inc()
        if analysis.segments:
            self.metrics.match_nlp_articles.inc()
        for match in analysis.matches:
            self.metrics.matches.labels(rule=match.rule).inc()
        return analysis.matches


@dataclass
class MatchStage:
    """The match stage: the consumer loop, with a look at the rules folder between two polls."""

    name: str
    loop: ConsumerLoop[Article]
    service: MatchService
    consumer: KafkaConsumer = field(repr=False)
    producer: KafkaProducer = field(repr=False)

    def run(self, stop: threading.Event) -> None:
        """Poll and match until ``stop`` is set; reload the rules when they change."""
        try:
            while not stop.is_set():
                self.service.maybe_reload()
                self.loop.poll_once()
        except KafkaError:
            _log.exception("consumer.failed", stage=self.name)
            raise
        finally:
            self.consumer.close()
            self.producer.close(timeout=10)
