"""``newsmon rules ...``: the analysts' commands for watchlists."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from monitor.commands import SubParsers
from monitor.settings import Settings

__all__ = ["register"]


def _rules_test(args: argparse.Namespace, settings: Settings) -> int:
    from monitor.matching.rules_test import run_rules_test

    return run_rules_test(
        list(args.paths),
        args.rules or settings.match.rules_dir,
        settings.match.spacy_models,
        args.format,
        sys.stdout,
    )


def register(sub: SubParsers) -> None:
    """Add ``newsmon rules test`` to the command line."""
    rules = sub.add_parser("rules", help="work with watchlists")
    rules_sub = rules.add_subparsers(dest="rules_command", required=True, metavar="SUBCOMMAND")
    test = rules_sub.add_parser("test", help="run NER + watchlists on text, JSON or RSS/Atom files")
    test.add_argument("--rules", type=Path, default=None, help="rules folder (default: match.rules_dir)")
    test.add_argument("--format", choices=["text", "json"], default="text")
    test.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    test.set_defaults(handler=_rules_test)
