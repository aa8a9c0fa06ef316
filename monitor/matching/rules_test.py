"""``newsmon rules test``: run the watchlists on files and show what fires, and why.

Like ``elastalert-test-rule``, this lets a rule author check a rule against real articles before it
goes live, with the same engine the service uses. One unreadable file is reported and skipped, so a
folder of samples is never blocked by one bad file.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from monitor.errors import NewsmonError
from monitor.masking import redact
from monitor.matching.engine import Analysis, MatchEngine
from monitor.matching.inputs import INPUT_SUFFIXES, is_url, read_articles, read_url
from monitor.models import Article, EntityMention, Evidence, Match

if TYPE_CHECKING:
    from monitor.ingest.fetch import Fetcher

__all__ = ["EXIT_BAD_INPUT", "EXIT_BAD_RULES", "EXIT_OK", "run_rules_test"]

EXIT_OK = 0
EXIT_BAD_INPUT = 1
EXIT_BAD_RULES = 2


_ENTITY_STYLE = "\x1b[1;36m"  # bold cyan
_TERM_STYLE = "\x1b[1;33m"  # bold yellow
_FIRED_STYLE = "\x1b[1;32m"  # bold green
_RESET = "\x1b[0m"


def run_rules_test(
    paths: Sequence[Path | str],
    rules_dir: Path,
    spacy_models: Mapping[str, str],
    fmt: str = "text",
    out: TextIO | None = None,
    default_language: str = "fr",
    *,
    color: bool = False,
    fetcher: Callable[[], Fetcher] | None = None,
    lookup_lemmas: bool = True,
    explain: bool = False,
) -> int:
    """Match every article of ``paths`` (files, folders or http(s) URLs) and report to ``out``.

    ``explain`` adds, for each watchlist that did not fire, why not (``why_not`` in JSON).

    Returns the exit code: 0 every input was processed, 1 some input could not be read or parsed, 2
    the rule set is invalid (nothing is matched then). ``color`` highlights entities and evidence
    terms in the text report; ``fetcher`` makes the HTTP client used for URLs (default: the
    ingestor's, which refuses private addresses).
    """
    if out is None:
        import sys

        out = sys.stdout
    if fmt not in ("text", "json"):
        raise ValueError(f"unknown format {fmt!r}; valid formats are ['json', 'text']")
    try:
        engine = MatchEngine.load(rules_dir, spacy_models, default_language, lookup_lemmas=lookup_lemmas)
    except NewsmonError as e:
        _emit_error(out, fmt, str(rules_dir), f"invalid rule set:\n{e}" if fmt == "text" else str(e))
        return EXIT_BAD_RULES
    failed = 0
    articles = matched = 0
    opened: list[Fetcher] = []

    def client() -> Fetcher:
        if not opened:
            opened.append(fetcher() if fetcher is not None else _default_fetcher())
        return opened[0]

    try:
        for source, item in _sources(paths, client):
            if isinstance(item, str):
                failed += 1
                _emit_error(out, fmt, source, item)
                continue
            for article in item:
                analysis = engine.analyse(article)
                articles += 1
                matched += len(analysis.matches)
                why_not = engine.explain(article, {m.rule for m in analysis.matches}) if explain else {}
                if fmt == "json":
                    record = _record(source, article, analysis)
                    if explain:
                        record["why_not"] = {
                            r: {"kind": e.kind, "detail": e.detail} for r, e in why_not.items()
                        }
                    out.write(json.dumps(record, ensure_ascii=False) + "\n")
                else:
                    _write_text(out, source, article, analysis, color)
                    for rule_id, why in sorted(why_not.items()):
                        out.write(f"  why not {rule_id}: {why.kind}: {why.detail}\n")
                    if why_not:
                        out.write("\n")
    finally:
        for f in opened:
            f.close()
    if fmt == "text":
        out.write(
            f"{articles} article(s), {matched} match(es), {failed} input error(s); "
            f"{engine.rule_count} watchlist(s) from {rules_dir}\n"
        )
    return EXIT_BAD_INPUT if failed else EXIT_OK


def _default_fetcher() -> Fetcher:
    from monitor.ingest.fetch import Fetcher

    return Fetcher(timeout_s=20.0, max_bytes=5_000_000, user_agent="newsmon-rules-test/0.1")


def _sources(
    paths: Sequence[Path | str], fetcher: Callable[[], Fetcher]
) -> Iterator[tuple[str, list[Article] | str]]:
    """Yield each input with its articles, or with the reason it cannot be used."""
    for given in paths:
        if is_url(str(given)):
            # The URL may carry credentials: it is shown masked, as in every log and error of newsmon.
            try:
                yield redact(str(given)), read_url(str(given), fetcher())
            except ValueError as e:
                yield redact(str(given)), redact(str(e))
            continue
        path = Path(given)
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
                "owner": m.owner,
                "receivers": list(m.receivers),
                "dedup_window_s": m.dedup_window_s,
                "rule_tags": list(m.rule_tags),
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


def _paint(text: str, style: str, color: bool) -> str:
    return f"{style}{text}{_RESET}" if color else text


def _highlight(sentence: str, evidence: Sequence[Evidence], color: bool) -> str:
    """Return ``sentence`` with the entities and terms of ``evidence`` in colour (unchanged without)."""
    if not color:
        return sentence
    marks: list[tuple[str, str]] = [(m.text, _ENTITY_STYLE) for e in evidence for m in e.entities]
    marks += [(t, _TERM_STYLE) for e in evidence for t in e.terms]
    spans: list[tuple[int, int, str]] = []
    for needle, style in sorted(marks, key=lambda m: -len(m[0])):
        needle = " ".join(needle.split())
        start = sentence.find(needle)
        while needle and start >= 0:
            end = start + len(needle)
            if not any(start < e and s < end for s, e, _ in spans):
                spans.append((start, end, style))
            start = sentence.find(needle, end)
    out = sentence
    for start, end, style in sorted(spans, reverse=True):
        out = out[:start] + _paint(out[start:end], style, True) + out[end:]
    return out


def _why(e: Evidence, color: bool = False) -> str:
    if e.entities:
        listed = ", ".join(f"{_paint(m.text, _ENTITY_STYLE, color)} [{m.entity_id}]" for m in e.entities)
    else:
        listed = ", ".join(_paint(t, _TERM_STYLE, color) for t in e.terms)
    return f"{e.condition}: {listed}"


def _write_match(out: TextIO, m: Match, color: bool = False) -> None:
    head = _paint(f"MATCH {m.rule}", _FIRED_STYLE, color)
    out.write(f"  {head} ({m.rule_name}) severity={m.severity} score={m.score:g}\n")
    for sentence, evidence in _by_sentence(m.evidence):
        out.write(f"    - {_highlight(sentence, evidence, color)}\n")
        out.write(f"      {'; '.join(_why(e, color) for e in evidence)}\n")


def _write_text(out: TextIO, source: str, article: Article, analysis: Analysis, color: bool = False) -> None:
    date = f", {article.published.date().isoformat()}" if article.published else ""
    out.write(f"{source}\n  {article.title or '(no title)'} [{analysis.language}{date}]\n")
    counts: dict[tuple[str, str], int] = {}
    for m in analysis.entities:
        if m.entity_id:
            counts[(m.entity_id, m.text)] = counts.get((m.entity_id, m.text), 0) + 1
    if counts:
        listed = ", ".join(
            f"{_paint(text, _ENTITY_STYLE, color)} [{eid}] x{n}" for (eid, text), n in counts.items()
        )
        out.write(f"  watched entities: {listed}\n")
    for match in analysis.matches:
        _write_match(out, match, color)
    if not analysis.matches:
        out.write("  no watchlist fired\n")
    out.write("\n")
