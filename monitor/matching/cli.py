"""``newsmon rules ...``: the analysts' commands for watchlists."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from monitor.commands import SubParsers
from monitor.settings import Settings

__all__ = ["register"]


def _color(choice: str) -> bool:
    return choice == "always" or (choice == "auto" and sys.stdout.isatty())


def _rules_test(args: argparse.Namespace, settings: Settings) -> int:
    from monitor.matching.rules_test import run_rules_test

    fetcher = None
    if not settings.ingest.block_private_addresses:
        from monitor.ingest.fetch import Fetcher

        def fetcher() -> Fetcher:
            return Fetcher(
                timeout_s=20.0,
                max_bytes=5_000_000,
                user_agent=settings.ingest.user_agent,
                block_private=False,
            )

    return run_rules_test(
        list(args.paths),
        args.rules or settings.match.rules_dir,
        settings.match.spacy_models,
        args.format,
        sys.stdout,
        settings.match.default_language,
        color=_color(args.color),
        fetcher=fetcher,
        lookup_lemmas=settings.match.lookup_lemmas,
        explain=args.explain,
    )


def _rules_evaluate(args: argparse.Namespace, settings: Settings) -> int:
    from monitor.matching.rules_evaluate import run_rules_evaluate

    return run_rules_evaluate(
        args.folder,
        args.labels,
        args.rules or settings.match.rules_dir,
        settings.match.spacy_models,
        args.format,
        sys.stdout,
        settings.match.default_language,
        declared=args.declared_language,
        lookup_lemmas=settings.match.lookup_lemmas,
    )


def _rules_check(args: argparse.Namespace, settings: Settings) -> int:
    from monitor.matching.check import run_rules_check

    return run_rules_check(
        args.dir or settings.match.rules_dir,
        settings.match.spacy_models,
        sys.stdout,
        settings.match.default_language,
        lookup_lemmas=settings.match.lookup_lemmas,
    )


def _rules_backtest(args: argparse.Namespace, settings: Settings) -> int:
    from monitor.bus.connection import Bus
    from monitor.matching.backtest import run_backtest

    if settings.embedded_broker:
        print(
            "error: backtest reads the articles topic of a running broker; set kafka.bootstrap_servers "
            "(NEWSMON_KAFKA__BOOTSTRAP_SERVERS)",
            file=sys.stderr,
        )
        return 3
    bus = Bus(tuple(settings.kafka.bootstrap_servers), settings.kafka, embedded=False)
    return run_backtest(
        bus,
        args.since,
        args.rules or settings.match.rules_dir,
        settings.match.spacy_models,
        sys.stdout,
        fmt=args.format,
        default_language=settings.match.default_language,
    )


def _duration(value: str) -> object:
    from datetime import timedelta

    from monitor.matching.durations import parse_duration

    try:
        result: timedelta = parse_duration(value)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from e
    return result


def register(sub: SubParsers) -> None:
    """Add ``newsmon rules test|evaluate|check|backtest`` to the command line."""
    rules = sub.add_parser("rules", help="work with watchlists")
    rules_sub = rules.add_subparsers(dest="rules_command", required=True, metavar="SUBCOMMAND")

    test = rules_sub.add_parser("test", help="run NER + watchlists on text, JSON, RSS/Atom files or URLs")
    test.add_argument("--rules", type=Path, default=None, help="rules folder (default: match.rules_dir)")
    test.add_argument("--format", choices=["text", "json"], default="text")
    test.add_argument(
        "--color", choices=["auto", "always", "never"], default="auto", help="highlight entities and terms"
    )
    test.add_argument("--explain", action="store_true", help="say, per watchlist that did not fire, why not")
    test.add_argument("paths", nargs="+", metavar="PATH|URL")
    test.set_defaults(handler=_rules_test)

    evaluate = rules_sub.add_parser(
        "evaluate", help="precision and recall of the watchlists on a labelled folder of articles"
    )
    evaluate.add_argument("folder", type=Path, help="folder of articles (text, JSON or feed files)")
    evaluate.add_argument(
        "--labels", type=Path, default=None, help="labels file (default: FOLDER/labels.yaml)"
    )
    evaluate.add_argument("--rules", type=Path, default=None, help="rules folder (default: match.rules_dir)")
    evaluate.add_argument("--format", choices=["text", "json"], default="text")
    evaluate.add_argument(
        "--declared-language",
        action="store_true",
        help="pass each label's language on as a feed would declare it (default: detect it)",
    )
    evaluate.set_defaults(handler=_rules_evaluate)

    check = rules_sub.add_parser("check", help="validate a rules folder and run every rule's examples")
    check.add_argument(
        "dir", nargs="?", type=Path, default=None, help="rules folder (default: match.rules_dir)"
    )
    check.set_defaults(handler=_rules_check)

    backtest = rules_sub.add_parser("backtest", help="re-run the rules over the retained articles topic")
    backtest.add_argument("--since", type=_duration, required=True, help="how far back: 90m, 12h, 7d")
    backtest.add_argument("--rules", type=Path, default=None, help="rules folder (default: match.rules_dir)")
    backtest.add_argument("--format", choices=["text", "json"], default="text")
    backtest.set_defaults(handler=_rules_backtest)
