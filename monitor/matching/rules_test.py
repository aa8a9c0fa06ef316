"""``newsmon rules test``: run the watchlists on files and show what fires, and why.

Like ``elastalert-test-rule``, this lets a rule author check a rule against real articles before it
goes live, with the same engine the service uses. One unreadable file is reported and skipped, so a
folder of samples is never blocked by one bad file.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

from monitor.errors import NewsmonError
from monitor.matching.engine import Analysis, MatchEngine
from monitor.matching.inputs import INPUT_SUFFIXES, read_articles
from monitor.models import Article, EntityMention, Evidence, Match

__all__ = ["EXIT_BAD_INPUT", "EXIT_BAD_RULES", "EXIT_OK", "run_rules_test"]

EXIT_OK = 0
EXIT_BAD_INPUT = 1
EXIT_BAD_RULES = 2


def run_rules_test(
    paths: Sequence[Path],
    rules_dir: Path,
    spacy_models: Mapping[str, str],
    fmt: str = "text",
    out: TextIO | None = None,
    default_language: str = "fr",
) -> int:
    """Match every article of ``paths`` (files or folders) and report to ``out``; return the exit code.

    Exit codes: 0 every input was processed, 1 some input could not be read or parsed, 2 the rule set
    is invalid (nothing is matched then).
    """
    if out is None:
        import sys

        out = sys.stdout
    if fmt not in ("text", "json"):
        raise ValueError(f"unknown format {fmt!r}; valid formats are ['json', 'text']")
    try:
        engine = MatchEngine.load(rules_dir, spacy_models, default_language)
    except NewsmonError as e:
        _emit_error(out, fmt, str(rules_dir), f"invalid rule set:\n{e}" if fmt == "text" else str(e))
        return EXIT_BAD_RULES
    failed = 0
    articles = matched = 0
    for source, item in _sources(paths):
        if isinstance(item, str):
            failed += 1
            _emit_error(out, fmt, source, item)
            continue
        for article in item:
            analysis = engine.analyse(article)
            articles += 1
            matched += len(analysis.matches)
            if fmt == "json":
                out.write(json.dumps(_record(source, article, analysis), ensure_ascii=False) + "\n")
            else:
                _write_text(out, source, article, analysis)
    if fmt == "text":
        out.write(
            f"{articles} article(s), {matched} match(es), {failed} input error(s); "
            f"{engine.rule_count} watchlist(s) from {rules_dir}\n"
        )
    return EXIT_BAD_INPUT if failed else EXIT_OK


def _sources(paths: Sequence[Path]) -> Iterator[tuple[str, list[Article] | str]]:
    """Yield each input file with its articles, or with the reason it cannot be used."""
    for path in paths:
        if path.is_dir():
            files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix in INPUT_SUFFIXES)
            if not files:
                yield str(path), f"no input files ({', '.join(sorted(INPUT_SUFFIXES))}) in folder"
        else:
            files = [path]
        for file in files:
            try:
                yield str(file), read_articles(file)
            except (ValueError, NewsmonError) as e:
                yield str(file), str(e)


def _emit_error(out: TextIO, fmt: str, source: str, message: str) -> None:
    if fmt == "json":
        out.write(json.dumps({"source": source, "error": message}, ensure_ascii=False) + "\n")
    else:
        out.write(f"{source}: error: {message}\n\n")


def _mention(m: EntityMention) -> dict[str, Any]:
    return m.model_dump(mode="json")


def _record(source: str, article: Article, analysis: Analysis) -> dict[str, Any]:
    return {
        "source": source,
        "id": article.id,
        "title": article.title,
        "url": article.url,
        "language": analysis.language,
        "published": article.published.isoformat() if article.published else None,
        "matches": [
            {
                "rule": m.rule,
                "rule_name": m.rule_name,
                "severity": m.severity,
                "score": m.score,
                "entities": list(m.entities),
                "evidence": [e.model_dump(mode="json") for e in m.evidence],
            }
            for m in analysis.matches
        ],
        "entities": [_mention(m) for m in analysis.entities],
    }


def _by_sentence(evidence: Sequence[Evidence]) -> list[tuple[str, list[Evidence]]]:
    groups: dict[str, list[Evidence]] = {}
    for e in evidence:
        groups.setdefault(e.sentence, []).append(e)
    return list(groups.items())


def _why(e: Evidence) -> str:
    if e.entities:
        return f"{e.condition}: " + ", ".join(f"{m.text} [{m.entity_id}]" for m in e.entities)
    return f"{e.condition}: " + ", ".join(e.terms)


def _write_match(out: TextIO, m: Match) -> None:
    out.write(f"  MATCH {m.rule} ({m.rule_name}) severity={m.severity} score={m.score:g}\n")
    for sentence, evidence in _by_sentence(m.evidence):
        out.write(f"    - {sentence}\n")
        out.write(f"      {'; '.join(_why(e) for e in evidence)}\n")


def _write_text(out: TextIO, source: str, article: Article, analysis: Analysis) -> None:
    date = f", {article.published.date().isoformat()}" if article.published else ""
    out.write(f"{source}\n  {article.title or '(no title)'} [{analysis.language}{date}]\n")
    counts: dict[tuple[str, str], int] = {}
    for m in analysis.entities:
        if m.entity_id:
            counts[(m.entity_id, m.text)] = counts.get((m.entity_id, m.text), 0) + 1
    if counts:
        listed = ", ".join(f"{text} [{eid}] x{n}" for (eid, text), n in counts.items())
        out.write(f"  watched entities: {listed}\n")
    for match in analysis.matches:
        _write_match(out, match)
    if not analysis.matches:
        out.write("  no watchlist fired\n")
    out.write("\n")
