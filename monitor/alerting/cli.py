"""``newsmon alerts|silence|receivers ...``: the desk's commands over the outbox and the receivers.

They work on the outbox file (``alert.outbox_db``) beside a running alerter: SQLite (WAL) lets both
read and write, and every send is leased, so ``alerts resend`` never races the alerter into a double.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from datetime import datetime
from typing import Any, TextIO

from monitor.commands import SubParsers, demo_outbox
from monitor.errors import DeliveryError, NewsmonError
from monitor.settings import RESERVED_RECEIVERS, Settings

__all__ = ["register"]

_DEFAULT_SILENCE = "2h"


def _open_outbox(settings: Settings) -> Any:
    from monitor.alerting.outbox import Outbox

    path = settings.alert.outbox_db
    if not path.is_file():
        raise NewsmonError(
            f"{path}: no outbox yet (alert.outbox_db); the alerter creates it at its first alert"
            + _demo_hint(settings, "; ")
        )
    return Outbox(path)


def _demo_hint(settings: Settings, sep: str) -> str:
    """Say where ``newsmon demo``'s alerts are, when they are not in the configured outbox."""
    demo = demo_outbox()
    if not demo.is_file() or demo.resolve() == settings.alert.outbox_db.resolve():
        return ""
    return f"{sep}the demo's alerts are in {demo}: NEWSMON_ALERT__OUTBOX_DB={demo} newsmon alerts list"


def _alerts_list(args: argparse.Namespace, settings: Settings, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    with _open_outbox(settings) as outbox:
        stored = outbox.list_alerts(limit=args.limit)
    rows = [
        {
            "id": s.alert.id,
            "rule": s.alert.rule,
            "title": s.alert.title,
            "state": s.state,
            "severity": s.alert.severity,
            "stored_at": s.stored_at.isoformat(),
            "revision": s.alert.revision,
            "merged_into": s.merged_into,
            "receivers": {name: d.state for name, d in s.deliveries.items()},
            "errors": {name: d.detail for name, d in s.deliveries.items() if d.detail},
            "articles": [
                {"title": a.title, "url": a.url, "feed": a.feed_id, "why": s.reasons.get(a.id, "")}
                for a in s.alert.articles
            ],
        }
        for s in stored
        if args.state is None or s.state == args.state
    ]
    if args.format == "json":
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
        return 0
    for row in rows:
        receivers = ", ".join(f"{k}={v}" for k, v in row["receivers"].items()) or "none"
        out.write(f"{row['id']}  {row['state']:<8} {row['stored_at'][:16]}  {row['title']}\n")
        out.write(f"    receivers: {receivers}\n")
        for name, detail in row["errors"].items():
            out.write(f"    {name}: {detail}\n")
        for article in row["articles"]:
            why = f"  ({article['why']})" if article["why"] else ""
            out.write(f"    - {article['feed']}: {article['title']} {article['url']}{why}\n")
    if not rows:
        out.write(f"no alerts in {settings.alert.outbox_db}{_demo_hint(settings, chr(10))}\n")
    return 0


def _alerts_resend(args: argparse.Namespace, settings: Settings, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    from prometheus_client import CollectorRegistry

    from monitor.alerting.service import build_alerter
    from monitor.metrics import Metrics

    alerter = build_alerter(settings.alert, Metrics(CollectorRegistry()), console=out)
    try:
        sent = alerter.resend(args.id, args.receiver)
        stored = alerter.outbox.get(args.id)
    finally:
        alerter.outbox.close()
    out.write(f"resent {args.id}: {sent} message(s) delivered\n")
    if stored is not None:
        for name, d in stored.deliveries.items():
            out.write(f"  {name}: {d.state}{' ' + d.detail if d.detail else ''}\n")
    return 0 if sent else 1


def _silence_add(args: argparse.Namespace, settings: Settings, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    from monitor.alerting.outbox import Outbox
    from monitor.alerting.silences import new_silence, parse_duration
    from monitor.models import utcnow

    now = utcnow()
    try:
        if args.until is not None and args.duration is not None:
            raise ValueError("give --duration or --until, not both")
        if args.until is None:
            duration = parse_duration(args.duration or _DEFAULT_SILENCE)
        else:
            until = _until(args.until)
            if until <= now:
                raise ValueError(
                    f"--until {args.until} is in the past (it is {now.isoformat(timespec='minutes')} UTC); "
                    "give a later time, or --duration"
                )
            duration = until - now
        _check_matchers(args, settings)
        silence = new_silence(
            now,
            duration,
            rule=args.rule,
            entity=args.entity,
            receiver=args.receiver,
            comment=args.comment,
            created_by=args.author or getpass.getuser(),
        )
    except ValueError as e:
        raise NewsmonError(f"silence add: {e}") from e
    with Outbox(settings.alert.outbox_db) as outbox:
        outbox.add_silence(silence)
    out.write(f"{silence.id}  {silence.describe()} until {silence.ends_at.isoformat(timespec='minutes')}\n")
    return 0


def _check_matchers(args: argparse.Namespace, settings: Settings) -> None:
    """Refuse a watchlist, entity or receiver that does not exist: such a silence would mute nothing."""
    from fnmatch import fnmatchcase

    if args.receiver is not None:
        valid = sorted({*RESERVED_RECEIVERS, *settings.alert.receivers})
        if args.receiver not in valid:
            raise ValueError(f"unknown receiver {args.receiver!r}; valid receivers are {valid}")
    if args.rule is None and args.entity is None:
        return
    from monitor.matching.rules import load_rules

    rules_dir = settings.match.rules_dir
    try:
        gazetteer, rules = load_rules(rules_dir)
    except NewsmonError as e:
        raise ValueError(f"cannot check --rule/--entity against {rules_dir} (match.rules_dir): {e}") from e
    if args.rule is not None:
        ids = sorted(r.id for r in rules)
        if not any(fnmatchcase(i, args.rule) for i in ids):
            raise ValueError(
                f"--rule {args.rule!r} matches no watchlist in {rules_dir}; valid watchlists are {ids}"
            )
    if args.entity is not None and args.entity not in gazetteer.ids:
        valid = sorted(gazetteer.ids)
        raise ValueError(f"unknown entity {args.entity!r} in {rules_dir}; valid entities are {valid}")


def _silence_list(args: argparse.Namespace, settings: Settings, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    from monitor.models import utcnow

    now = utcnow()
    with _open_outbox(settings) as outbox:
        silences = [s for s in outbox.silences() if args.all or s.active(now)]
    for s in silences:
        state = "active" if s.active(now) else "expired"
        if args.format == "json":
            row = {
                "id": s.id,
                "state": state,
                "rule": s.rule,
                "entity": s.entity,
                "receiver": s.receiver,
                "starts_at": s.starts_at.isoformat(),
                "ends_at": s.ends_at.isoformat(),
                "expired_at": s.expired_at.isoformat() if s.expired_at else None,
                "comment": s.comment,
                "created_by": s.created_by,
            }
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
        else:
            until = s.ends_at.isoformat(timespec="minutes")
            out.write(f"{s.id}  {state:<7} {s.describe()}  until {until}  {s.comment}\n")
    if not silences and args.format == "text":
        out.write("no silences\n")
    return 0


def _silence_expire(args: argparse.Namespace, settings: Settings, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    from monitor.models import utcnow

    with _open_outbox(settings) as outbox:
        if not outbox.expire_silence(args.id, utcnow()):
            raise NewsmonError(f"silence expire: no silence {args.id!r} (see newsmon silence list --all)")
    out.write(f"expired {args.id}\n")
    return 0


def _receivers_test(args: argparse.Namespace, settings: Settings, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    from monitor.alerting.deliver import build_channels
    from monitor.alerting.notification import Notification
    from monitor.alerting.render import Renderer
    from monitor.models import Alert, ArticleRef, utcnow

    receivers = build_channels(settings.alert, Renderer.of(settings.alert), out)
    channels = receivers.of(args.name)
    if not channels:
        raise NewsmonError(
            f"receivers test: unknown receiver {args.name!r}; valid receivers are {receivers.names}"
        )
    now = utcnow()
    sample = Alert(
        id="test",
        rule="newsmon_test",
        rule_name="newsmon receiver test",
        title=f"[newsmon_test] Test notification to {args.name}",
        summary="A test notification: if you read this, the receiver works.",
        articles=(
            ArticleRef(id="test", feed_id="newsmon", title="Test notification", url="https://example.org/"),
        ),
        created_at=now,
    )
    failed = 0
    for channel in channels:
        try:
            channel.send(Notification("test", (sample,), args.name))
        except DeliveryError as e:
            failed += 1
            out.write(f"{channel.name}: FAILED {e}\n")
        else:
            out.write(f"{channel.name}: ok\n")
    return 1 if failed else 0


def _until(text: str) -> datetime:
    from datetime import UTC

    try:
        moment = datetime.fromisoformat(text)
    except ValueError as e:
        raise ValueError(f"--until {text!r} is not an ISO time (2026-03-04T18:00)") from e
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def register(sub: SubParsers) -> None:
    """Add ``newsmon alerts list|resend``, ``silence add|list|expire`` and ``receivers test``."""
    alerts = sub.add_parser("alerts", help="alerts in the outbox: list them, send one again")
    alerts_sub = alerts.add_subparsers(dest="alerts_command", required=True, metavar="SUBCOMMAND")
    listing = alerts_sub.add_parser("list", help="alerts, newest first, with state, receivers and articles")
    listing.add_argument("--format", choices=["text", "json"], default="text")
    listing.add_argument("--limit", type=int, default=50, help="newest N alerts (default 50)")
    listing.add_argument(
        "--state",
        choices=["pending", "sent", "failed", "silenced", "merged"],
        default=None,
        help="only these",
    )
    listing.set_defaults(handler=_alerts_list)
    resend = alerts_sub.add_parser("resend", help="send an alert again to its receivers, silences ignored")
    resend.add_argument("id", help="alert id (see newsmon alerts list)")
    resend.add_argument("--receiver", default=None, help="only this receiver")
    resend.set_defaults(handler=_alerts_resend)

    silence = sub.add_parser("silence", help="mute alerts by watchlist, entity or receiver for a while")
    silence_sub = silence.add_subparsers(dest="silence_command", required=True, metavar="SUBCOMMAND")
    add = silence_sub.add_parser(
        "add", help="add a silence; give at least one of --rule, --entity, --receiver"
    )
    add.add_argument("--rule", default=None, help="watchlist id or shell pattern (leaders_*)")
    add.add_argument("--entity", default=None, help="watched entity id (xi_jinping)")
    add.add_argument("--receiver", default=None, help="receiver name")
    add.add_argument(
        "--duration", default=None, help=f"how long: 90s, 30m, 2h, 1d, 1w (default {_DEFAULT_SILENCE})"
    )
    add.add_argument(
        "--until", default=None, help="end time, ISO (2026-03-04T18:00; UTC unless a zone is given)"
    )
    add.add_argument("--comment", default="", help="why")
    add.add_argument("--author", default=None, help="who (default: the user name)")
    add.set_defaults(handler=_silence_add)
    slist = silence_sub.add_parser("list", help="active silences")
    slist.add_argument("--all", action="store_true", help="expired ones too")
    slist.add_argument("--format", choices=["text", "json"], default="text")
    slist.set_defaults(handler=_silence_list)
    expire = silence_sub.add_parser("expire", help="end a silence now")
    expire.add_argument("id")
    expire.set_defaults(handler=_silence_expire)

    receivers = sub.add_parser("receivers", help="alert receivers")
    receivers_sub = receivers.add_subparsers(dest="receivers_command", required=True, metavar="SUBCOMMAND")
    test = receivers_sub.add_parser("test", help="send a real test notification through a receiver")
    test.add_argument("name", help="receiver name (a key of alert.receivers, or apprise)")
    test.set_defaults(handler=_receivers_test)
