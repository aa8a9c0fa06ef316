"""``newsmon rules check``: validate a rules folder and run every rule's examples, as CI and the service do.

A rule author runs it before committing a change; the exit code makes it a CI step. Every problem is
printed as ``path:line: field: message``, so an editor can jump to it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TextIO

from monitor.errors import NewsmonError
from monitor.matching.engine import MatchEngine
from monitor.matching.examples import check_examples, example_count

__all__ = ["EXIT_BAD_EXAMPLES", "EXIT_BAD_SCHEMA", "EXIT_OK", "run_rules_check"]

EXIT_OK = 0
EXIT_BAD_EXAMPLES = 1
EXIT_BAD_SCHEMA = 2


def run_rules_check(
    rules_dir: Path,
    spacy_models: Mapping[str, str],
    out: TextIO,
    default_language: str = "fr",
    *,
    lookup_lemmas: bool = True,
) -> int:
    """Check ``rules_dir``, report to ``out``; return 0 (all good), 1 (examples fail), 2 (invalid files)."""
    try:
        engine = MatchEngine.load(rules_dir, spacy_models, default_language, lookup_lemmas=lookup_lemmas)
    except NewsmonError as e:
        out.write(f"{e}\n")
        return EXIT_BAD_SCHEMA
    failures = check_examples(engine)
    for failure in failures:
        out.write(f"{failure}\n")
    total = example_count(engine)
    verdict = f"{len(failures)} of {total} example(s) fail" if failures else f"all {total} example(s) hold"
    out.write(f"{rules_dir}: {engine.rule_count} watchlist(s), {verdict}\n")
    return EXIT_BAD_EXAMPLES if failures else EXIT_OK
