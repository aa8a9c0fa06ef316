"""``newsmon feeds ...``: the desk's commands for the feeds file."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from monitor.commands import SubParsers
from monitor.settings import Settings

__all__ = ["register"]


def _feeds_check(args: argparse.Namespace, settings: Settings) -> int:
    from monitor.ingest.check import check_feeds, render_table
    from monitor.ingest.feeds import load_feeds
    from monitor.ingest.fetch import Fetcher

    cfg = settings.ingest
    path: Path = args.file or cfg.feeds_file
    feeds = load_feeds(path)  # a ConfigError (file:line: field: problem) ends the command with exit code 2
    print(f"{path}: {len(feeds)} feeds, valid")
    if not args.fetch:
        return 0
    with Fetcher(
        cfg.timeout_s, cfg.max_bytes, cfg.user_agent, block_private=cfg.block_private_addresses
    ) as fetcher:
        rows = check_feeds(feeds, fetcher, cfg.workers, cfg.max_per_host)
    render_table(rows, sys.stdout)
    failed = [r.feed_id for r in rows if not r.ok]
    print(f"{len(rows) - len(failed)} of {len(rows)} feeds fetched and parsed")
    return 1 if failed else 0


def register(sub: SubParsers) -> None:
    """Add ``newsmon feeds check`` to the command line."""
    feeds = sub.add_parser("feeds", help="work with the feeds file")
    feeds_sub = feeds.add_subparsers(dest="feeds_command", required=True, metavar="SUBCOMMAND")
    check = feeds_sub.add_parser(
        "check",
        help="validate a feeds file; with --fetch, fetch each feed once and print a table",
        description="Exit code: 0 all good, 1 some feed failed to fetch or parse, 2 the file is invalid.",
    )
    check.add_argument(
        "file", nargs="?", type=Path, default=None, help="feeds file (default: ingest.feeds_file)"
    )
    check.add_argument(
        "--fetch", action="store_true", help="fetch and parse each feed once (nothing is published)"
    )
    check.set_defaults(handler=_feeds_check)
