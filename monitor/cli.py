"""The ``newsmon`` command: parse arguments, load settings once, configure logging, wire, run."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from monitor import __version__
from monitor.alerting.cli import register as register_alerting
from monitor.commands import DEMO_WORKDIR, CommandHandler
from monitor.errors import NewsmonError
from monitor.ingest.cli import register as register_ingest
from monitor.logs import configure_logging, get_logger
from monitor.masking import Masker, model_secrets
from monitor.matching.cli import register as register_matching
from monitor.settings import Settings, load_settings

__all__ = ["main"]

_log = get_logger(__name__)

_AREA_COMMANDS = (register_matching, register_ingest, register_alerting)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="newsmon", description="Streaming news-monitoring alerts.")
    p.add_argument("--version", action="version", version=f"newsmon {__version__}")
    p.add_argument(
        "--config", type=Path, help="YAML config file (default: $NEWSMON_CONFIG; env vars override it)"
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sub.add_parser(
        "run", help="run the whole pipeline (embedded broker unless kafka.bootstrap_servers is set)"
    )
    demo = sub.add_parser("demo", help="run the pipeline once over a bundled sample feed, offline")
    demo.add_argument(
        "--workdir",
        type=Path,
        default=DEMO_WORKDIR,
        help=f"where the demo writes (emptied; default {DEMO_WORKDIR})",
    )
    demo.add_argument("--verbose", action="store_true", help="show every log line, not only warnings")
    broker = sub.add_parser("broker", help="run only the embedded Kafka-protocol broker")
    broker.add_argument("--port", type=int, default=9092, help="loopback port (default 9092)")
    ingest = sub.add_parser("ingest", help="run only the feed ingestor (needs kafka.bootstrap_servers)")
    ingest.add_argument("--once", action="store_true", help="poll every feed once, then exit")
    sub.add_parser("match", help="run only the rules-and-NER matcher (needs kafka.bootstrap_servers)")
    sub.add_parser("alert", help="run only the alerter (needs kafka.bootstrap_servers)")

    # Each area adds its own commands (`newsmon rules ...`, ...): they set `handler` on the namespace.
    for register in _AREA_COMMANDS:
        register(sub)
    return p


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()

    def handler(signum: int, frame: FrameType | None) -> None:
        _log.info("signal.received", signal=signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
    return stop


def _run_broker(settings: Settings, port: int) -> int:
    from monitor.bus.broker import EmbeddedBroker
    from monitor.bus.connection import Bus

    stop = _stop_on_signals()
    with EmbeddedBroker(port=port, binary=settings.kafka.tansu_bin) as broker:
        Bus(tuple(broker.bootstrap_servers), settings.kafka, embedded=True).ensure_topics()
        address = broker.bootstrap_servers[0]
        print(
            f"embedded broker on {address} (memory only: a restart loses every message)\n"
            "  point the stages at it (the short group timeouts make a consumer join in ~1 s, not ~23 s):\n"
            f"  export NEWSMON_KAFKA__BOOTSTRAP_SERVERS='[\"{address}\"]' "
            "NEWSMON_KAFKA__SESSION_TIMEOUT_MS=2000 NEWSMON_KAFKA__HEARTBEAT_INTERVAL_MS=500",
            flush=True,
        )
        while not stop.wait(0.5):
            if not broker.alive():
                _log.error("broker.died", port=broker.port)
                return 1
    return 0


def _dispatch(args: argparse.Namespace, settings: Settings) -> int:
    from monitor.app.runner import run_stages

    if args.command == "run":
        return run_stages(settings, stop=_stop_on_signals())
    if args.command == "demo":
        from monitor.demo import run_demo

        return run_demo(settings, args.workdir).exit_code
    if args.command == "broker":
        return _run_broker(settings, args.port)
    if args.command in ("ingest", "match", "alert"):
        if settings.embedded_broker:
            raise NewsmonError(
                f"`newsmon {args.command}` runs one stage against a shared broker: "
                "set kafka.bootstrap_servers "
                "(e.g. NEWSMON_KAFKA__BOOTSTRAP_SERVERS='[\"127.0.0.1:9092\"]' after `newsmon broker`), "
                "or use `newsmon run` for the whole pipeline on an embedded broker"
            )
        return run_stages(
            settings, [args.command], stop=_stop_on_signals(), once=getattr(args, "once", False)
        )
    handler: CommandHandler | None = getattr(args, "handler", None)
    if handler is not None:
        return handler(args, settings)
    raise AssertionError(f"unhandled command {args.command}")  # argparse only lets known commands through


def main(argv: list[str] | None = None) -> int:
    """Run the ``newsmon`` command line; return the process exit code."""
    args = _parser().parse_args(argv)
    try:
        settings = load_settings(args.config)
    except NewsmonError as e:
        print(f"newsmon: {e}", file=sys.stderr)
        return 2
    level = settings.log_level
    if args.command == "demo" and not args.verbose and level in ("DEBUG", "INFO"):
        level = "WARNING"  # the demo's output is its alerts and summary, not the pipeline's chatter
    masker = Masker(model_secrets(settings))
    configure_logging(level, settings.log_format, model_secrets(settings))
    try:
        return _dispatch(args, settings)
    except NewsmonError as e:
        print(f"newsmon: {masker.mask(str(e))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
