"""Check the ``examples`` of every rule: the texts under ``match`` must fire it, those under ``no_match`` not.

Examples are the rule's specification in its author's words; running them in the test suite (and from
the CLI) keeps a rule and its documentation from drifting apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from monitor.matching.engine import MatchEngine
from monitor.matching.yamlfile import format_loc
from monitor.models import Article

__all__ = ["ExampleFailure", "check_examples", "example_article", "example_count"]

_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class ExampleFailure:
    """An example the rule gets wrong."""

    rule: str
    kind: Literal["match", "no_match"]
    text: str
    language: str
    fired: tuple[str, ...]
    where: str = ""
    """``path:line: examples.match[3]`` when the rule's file is known."""

    def __str__(self) -> str:
        expected = "should fire" if self.kind == "match" else "should not fire"
        prefix = f"{self.where}: " if self.where else ""
        return (
            f"{prefix}{self.rule}: {expected} on [{self.language}] {self.text!r} (fired: {list(self.fired)})"
        )


def example_article(rule_id: str, kind: str, n: int, text: str, language: str) -> Article:
    """Return an article whose body is ``text``, with a fixed time so runs are identical."""
    return Article(
        id=f"example-{rule_id}-{kind}-{n}",
        feed_id="examples",
        url=f"example:{rule_id}/{kind}/{n}",
        title="",
        text=text,
        language=language,
        fetched_at=_EPOCH,
    )


def check_examples(engine: MatchEngine) -> list[ExampleFailure]:
    """Return the examples of ``engine``'s rules that do not behave as written (empty: all hold)."""
    failures: list[ExampleFailure] = []
    for rule in engine.rules:
        for kind in ("match", "no_match"):
            for n, example in enumerate(getattr(rule.examples, kind)):
                language = example.language or rule.languages[0]
                article = example_article(rule.id, kind, n, example.text, language)
                fired = tuple(m.rule for m in engine.match(article))
                if (rule.id in fired) != (kind == "match"):
                    loc = ("examples", kind, n)
                    where = ""
                    if engine.rule_set is not None and rule.id in engine.rule_set.sources:
                        where = f"{engine.rule_set.where(rule.id, loc)}: {format_loc(loc)}"
                    failures.append(ExampleFailure(rule.id, kind, example.text, language, fired, where))
    return failures


def example_count(engine: MatchEngine) -> int:
    """Return how many examples the engine's rules carry."""
    return sum(len(r.examples.match) + len(r.examples.no_match) for r in engine.rules)
