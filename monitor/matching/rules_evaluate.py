"""``newsmon rules evaluate``: the watchlists over a labelled sample, with precision and recall.

Our own example sentences pass because they were written with the rules; only real articles that
somebody labelled tell whether a watchlist catches the news. The sample is a folder of articles (any
input ``rules test`` reads) and a labels file in the format of the seeds' ``labels.yaml``::

    articles:
      en_001.txt: {labels: [leaders_meeting], language: en}
      fr_002.txt: {labels: []}

Articles are read exactly as ``rules test`` reads them (language detected as the ingest stage does,
unless ``--declared-language`` passes the labels' ``language`` on as the feed would).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import yaml

from monitor.errors import NewsmonError
from monitor.matching.engine import MatchEngine, analysed_text
from monitor.matching.inputs import read_articles

__all__ = ["Score", "evaluate_sample", "run_rules_evaluate"]

EXIT_OK = 0
EXIT_BAD_INPUT = 1
EXIT_BAD_RULES = 2


@dataclass
class Score:
    """Counts of one watchlist (overall or in one language)."""

    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0

    @property
    def precision(self) -> float:
        """Return TP / (TP + FP), 1.0 when nothing fired."""
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        """Return TP / (TP + FN), 1.0 when nothing was expected."""
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        """Return the harmonic mean of precision and recall."""
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def add(self, expected: bool, fired: bool) -> None:
        """Count one article."""
        if expected and fired:
            self.tp += 1
        elif fired:
            self.fp += 1
        elif expected:
            self.fn += 1
        else:
            self.tn += 1

    def as_dict(self) -> dict[str, float | int]:
        """Return the counts and the three ratios, rounded for reports."""
        return {
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
            "tn": self.tn,
            "precision": round(self.precision, 3),
            "recall": round(self.recall, 3),
            "f1": round(self.f1, 3),
        }


@dataclass
class Error:
    """A miss or a false alarm, with its reason."""

    article: str
    watchlist: str
    kind: str  # "miss" or "false_alarm"
    language: str
    reason: str
    why: str


@dataclass
class Report:
    """The result of an evaluation."""

    overall: dict[str, Score] = field(default_factory=dict)
    by_language: dict[str, dict[str, Score]] = field(default_factory=dict)
    errors: list[Error] = field(default_factory=list)
    articles: int = 0
    problems: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """Return the report as JSON-ready data."""
        return {
            "articles": self.articles,
            "watchlists": {w: s.as_dict() for w, s in sorted(self.overall.items())},
            "languages": {
                lang: {w: s.as_dict() for w, s in sorted(scores.items())}
                for lang, scores in sorted(self.by_language.items())
            },
            "errors": [e.__dict__ for e in self.errors],
            "problems": self.problems,
        }


def _load_labels(path: Path) -> dict[str, dict[str, Any]]:
    """Return the ``articles`` mapping of a labels file, or raise ValueError naming the problem."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as e:
        raise ValueError(f"{path}: cannot read the labels file: {e}") from e
    articles = data.get("articles") if isinstance(data, dict) else None
    if not isinstance(articles, dict):
        raise ValueError(f"{path}: expected a mapping 'articles: {{file: {{labels: [...]}}}}'")
    for name, entry in articles.items():
        labels = entry.get("labels") if isinstance(entry, dict) else None
        if not isinstance(labels, list):
            raise ValueError(f"{path}: articles.{name}: expected '{{labels: [watchlist, ...]}}'")
    return articles


def evaluate_sample(
    engine: MatchEngine, folder: Path, labels: Mapping[str, Mapping[str, Any]], *, declared: bool = False
) -> Report:
    """Run every watchlist of ``engine`` on the labelled articles of ``folder`` and score them."""
    report = Report()
    watchlists = sorted(r.id for r in engine.rules)
    for w in watchlists:
        report.overall[w] = Score()
    for name, entry in sorted(labels.items()):
        try:
            articles = read_articles(folder / name)
        except ValueError as e:
            report.problems.append(f"{folder / name}: {e}")
            continue
        if len(articles) != 1:
            report.problems.append(f"{folder / name}: holds {len(articles)} articles; label files of one")
            continue
        article = articles[0]
        if declared and entry.get("language"):
            article = article.model_copy(update={"language": str(entry["language"])})
        language = str(entry.get("language") or engine.language_of(article))
        expected = set(entry["labels"])
        analysis = engine.analyse(article)
        fired = {m.rule for m in analysis.matches}
        report.articles += 1
        per_language = report.by_language.setdefault(language, {w: Score() for w in watchlists})
        why_not = engine.explain(article, fired) if expected - fired else {}
        for w in watchlists:
            report.overall[w].add(w in expected, w in fired)
            per_language[w].add(w in expected, w in fired)
            if w in expected and w not in fired:
                explanation = why_not[w]
                report.errors.append(Error(name, w, "miss", language, explanation.kind, explanation.detail))
            elif w in fired and w not in expected:
                match = next(m for m in analysis.matches if m.rule == w)
                words = sorted({t for e in match.evidence for t in e.terms})
                sentence = match.evidence[0].sentence if match.evidence else analysed_text(article)[:100]
                report.errors.append(
                    Error(name, w, "false_alarm", language, "fired", f"{words} in: “{sentence[:160]}”")
                )
    return report


def _write_text(out: TextIO, report: Report) -> None:
    out.write(f"{report.articles} labelled article(s)\n\n")
    out.write(f"{'watchlist':<20} {'P':>6} {'R':>6} {'F1':>6}  tp  fp  fn\n")
    for w, s in sorted(report.overall.items()):
        out.write(f"{w:<20} {s.precision:6.2f} {s.recall:6.2f} {s.f1:6.2f} {s.tp:3} {s.fp:3} {s.fn:3}\n")
    out.write("\nper language (errors = misses + false alarms)\n")
    for lang, scores in sorted(report.by_language.items()):
        cells = "  ".join(
            f"{w}: P {s.precision:.2f} R {s.recall:.2f} F1 {s.f1:.2f} ({s.fn + s.fp} err)"
            for w, s in sorted(scores.items())
        )
        out.write(f"  {lang:<5} {cells}\n")
    if report.errors:
        out.write("\nerrors\n")
        for e in report.errors:
            out.write(f"  {e.kind:<11} {e.watchlist:<16} {e.article} [{e.language}] {e.reason}: {e.why}\n")
    for problem in report.problems:
        out.write(f"error: {problem}\n")


def run_rules_evaluate(
    folder: Path,
    labels_path: Path | None,
    rules_dir: Path,
    spacy_models: Mapping[str, str],
    fmt: str,
    out: TextIO,
    default_language: str = "fr",
    *,
    declared: bool = False,
    lookup_lemmas: bool = True,
) -> int:
    """Evaluate the rules of ``rules_dir`` on ``folder`` labelled by ``labels_path``; return the exit code.

    0: every labelled article was read; 1: some could not be (each named), or the labels file is bad;
    2: the rule set is invalid.
    """
    labels_file = labels_path or folder / "labels.yaml"
    try:
        labels = _load_labels(labels_file)
    except ValueError as e:
        out.write(json.dumps({"error": str(e)}) + "\n" if fmt == "json" else f"error: {e}\n")
        return EXIT_BAD_INPUT
    try:
        engine = MatchEngine.load(rules_dir, spacy_models, default_language, lookup_lemmas=lookup_lemmas)
    except NewsmonError as e:
        out.write(
            json.dumps({"error": str(e)}) + "\n" if fmt == "json" else f"error: invalid rule set:\n{e}\n"
        )
        return EXIT_BAD_RULES
    report = evaluate_sample(engine, folder, labels, declared=declared)
    if fmt == "json":
        out.write(json.dumps(report.as_dict(), ensure_ascii=False, indent=2) + "\n")
    else:
        _write_text(out, report)
    return EXIT_BAD_INPUT if report.problems else EXIT_OK
