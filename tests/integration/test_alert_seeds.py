"""Event dedup on the real seed articles, through the real matcher, the real broker and a real SMTP server.

labels.yaml (section ``dedup``) says which seeds report the same event (one alert per watchlist) and
which report different ones; these tests hold the alerter to it, in every arrival order.
"""

from __future__ import annotations

import itertools
import random
import re
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from monitor.alerting.outbox import Outbox
from monitor.alerting.service import Alerter
from monitor.app.stages import build_alert_stage
from monitor.bus.connection import Bus
from monitor.bus.serde import encode
from monitor.matching.engine import MatchEngine
from monitor.matching.inputs import read_articles
from monitor.metrics import Metrics
from monitor.models import Match, article_id
from monitor.settings import AlertSettings, KafkaSettings, Settings, TopicSettings
from tests.fixtures.brokers import BrokerUnderTest
from tests.fixtures.smtp import Inbox

REPO = Path(__file__).resolve().parents[2]
SEEDS = REPO.parent / "shared" / "seeds"


def _labels() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((SEEDS / "labels.yaml").read_text(encoding="utf-8"))
    return data


@pytest.fixture(scope="module")
def seed_matches() -> dict[str, list[Match]]:
    """Run the real matcher (spaCy + the shipped watchlists) on every seed once."""
    engine = MatchEngine.load(REPO / "rules", {"fr": "fr_core_news_sm"}, "fr")
    found: dict[str, list[Match]] = {}
    for path in sorted(SEEDS.glob("*.txt")):
        (article,) = read_articles(path)
        found[path.name] = engine.match(article)
    return found


def _events(matches: list[tuple[str, Match]], outbox: Outbox, metrics: Metrics) -> dict[tuple[str, str], str]:
    """Feed ``matches`` (seed name, match) to a fresh alerter; return the final alert of each (rule, seed)."""
    alerter = Alerter(outbox, [], metrics)
    made: dict[tuple[str, str], str] = {}
    for seed, match in matches:
        alert = alerter.handle(match)
        assert alert is not None
        made[(match.rule, seed)] = alert.id
    final = {}
    for key, alert_id in made.items():
        alert = outbox.alert(alert_id)  # follows merges
        assert alert is not None
        final[key] = alert.id
    return final


def _partition(events: dict[tuple[str, str], str]) -> frozenset[frozenset[tuple[str, str]]]:
    groups: dict[str, set[tuple[str, str]]] = {}
    for key, alert_id in events.items():
        groups.setdefault(alert_id, set()).add(key)
    return frozenset(frozenset(g) for g in groups.values())


def test_labels_dedup_facts_hold_in_every_arrival_order(
    seed_matches: dict[str, list[Match]], tmp_path: Path
) -> None:
    facts = _labels()["dedup"]
    seeds = sorted(seed_matches)
    partitions = set()
    for n, order in enumerate(itertools.permutations(seeds)):
        matches = [(seed, m) for seed in order for m in seed_matches[seed]]
        with Outbox(tmp_path / f"o{n}.sqlite3") as outbox:
            events = _events(matches, outbox, Metrics(CollectorRegistry()))
        for rule, kinds in facts.items():
            for a, b in kinds.get("same_alert", []):
                assert events[(rule, a)] == events[(rule, b)], (
                    f"{rule}: {a} and {b} must share an alert ({order})"
                )
            for a, b in kinds.get("different_alert", []):
                assert events[(rule, a)] != events[(rule, b)], f"{rule}: {a} and {b} must not ({order})"
        partitions.add(_partition(events))
    assert len(partitions) == 1, "the events depend on the order the articles came in"


def _dated_as_labelled(match: Match) -> Match:
    """Return ``match`` with 004 published on 24 September, as labels.yaml dates it (no date line).

    The other undated seeds stay undated: a feed that gives no date leaves the article placed by content.
    """
    if not match.article.url.endswith("004_18748a455d146e90.txt"):
        return match
    article = match.article.model_copy(update={"published": datetime(2025, 9, 24, 9, 0, tzinfo=UTC)})
    return match.model_copy(update={"article": article})


def _two_copies(seed_matches: dict[str, list[Match]], newest_first: bool) -> list[tuple[str, Match]]:
    """Return the seeds from outlet a, then the same from outlet b, each in feed order or reversed."""
    ordered = sorted(seed_matches, reverse=newest_first)
    return [
        (seed, _republished(_dated_as_labelled(m), outlet))
        for outlet in ("outlet-a", "outlet-b")
        for seed in ordered
        for m in seed_matches[seed]
    ]


@pytest.mark.parametrize("newest_first", [True, False], ids=["newest-first", "oldest-first"])
def test_two_copies_of_the_seeds_weeks_apart_give_one_new_alert_per_event(
    seed_matches: dict[str, list[Match]], tmp_path: Path, newest_first: bool
) -> None:
    """The second copy comes after 004 (three weeks newer): it must join the first copy's alerts."""
    matches = _two_copies(seed_matches, newest_first)
    with Outbox(tmp_path / "o.sqlite3") as outbox:
        events = _events(matches, outbox, Metrics(CollectorRegistry()))
        created = outbox.list_alerts()
    facts = _labels()["dedup"]
    for rule, kinds in facts.items():
        for a, b in kinds.get("same_alert", []):
            assert events[(rule, a)] == events[(rule, b)]
        for a, b in kinds.get("different_alert", []):
            assert events[(rule, a)] != events[(rule, b)]
    assert events[("leaders_meeting", "003_ef743cc3833b6adb.txt")] not in {
        alert_id for (rule, seed), alert_id in events.items() if not seed.startswith("003")
    }
    partition = _partition(events)
    # One new alert per event: none created then merged away (that alert would have been emailed as new).
    assert len(created) == len(partition) == 6, [(s.alert.rule, s.alert.title) for s in created]
    for stored in created:  # each alert has both copies of each of its seeds
        seeds = {ref.url.rsplit("/", 1)[-1] for ref in stored.alert.articles}
        assert len(stored.alert.articles) == 2 * len(seeds)


# -- through the broker, to a real SMTP server -----------------------------------------------------------


def _republished(match: Match, outlet: str) -> Match:
    """Return ``match`` as if another outlet had republished the article under its own URL."""
    url = match.article.url.replace("file://", f"https://{outlet}.example.org")
    article = match.article.model_copy(update={"id": article_id(None, url), "url": url, "feed_id": outlet})
    return match.model_copy(update={"id": Match.make_id(match.rule, article.id), "article": article})


def _run_alert_stage(
    broker: BrokerUnderTest,
    tmp_path: Path,
    port: int,
    unique: str,
    matches: list[Match],
    expected_events: int,
    inbox: Inbox,
) -> Outbox:
    topics = TopicSettings(**{t: f"{t}-{unique}" for t in ("articles", "matches", "alerts", "deadletter")})
    kafka = KafkaSettings(topics=topics, partitions=3, group_prefix=f"seeds-{unique}")
    settings = Settings(
        kafka=kafka,
        alert=AlertSettings(
            apprise_urls=[
                SecretStr(f"mailto://127.0.0.1:{port}/desk@example.org?from=newsmon@example.org&cto=5")
            ],
            apprise_min_interval_s=0,
            console=False,
            alert_log=tmp_path / "alerts.jsonl",
            outbox_db=tmp_path / "alerts.sqlite3",
            group_wait_s=3,
            group_interval_s=3600,
            tick_s=0.2,
        ),
    )
    bus = Bus(tuple(broker.bootstrap_servers), kafka, embedded=True)
    bus.ensure_topics()
    producer = bus.producer()
    for match in matches:
        producer.send(topics.matches, key=match.rule.encode(), value=encode(match))
    producer.flush()
    producer.close()
    stage = build_alert_stage(settings, bus, Metrics(CollectorRegistry()))
    stop = threading.Event()
    thread = threading.Thread(target=stage.run, args=(stop,))
    thread.start()
    try:
        deadline = time.monotonic() + 90
        while len(inbox.messages) < expected_events and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(4)  # longer than group_wait: a spurious second message would show up
    finally:
        stop.set()
        thread.join(timeout=60)
    return Outbox(tmp_path / "alerts.sqlite3")


def _emails(inbox: Inbox, urls: dict[str, str]) -> list[tuple[str, frozenset[str]]]:
    """Return each email as (watchlist, seeds it links to)."""
    found = []
    for message in inbox.messages:
        body = message.get_body(preferencelist=("html",))
        assert body is not None
        html = body.get_content()
        named = re.search(r" \((\w+)\)</p>", html)  # "rule name (rule id)" under the first line
        assert named is not None
        rule = named.group(1)
        found.append((rule, frozenset(seed for url, seed in urls.items() if f'href="{url}"' in html)))
    return found


def _order(email: tuple[str, frozenset[str]]) -> tuple[str, list[str]]:
    return email[0], sorted(email[1])


def test_seed_feed_gives_one_email_per_watchlist_and_event(
    broker: BrokerUnderTest,
    smtp: tuple[Inbox, int],
    tmp_path: Path,
    unique: str,
    seed_matches: dict[str, list[Match]],
) -> None:
    inbox, port = smtp
    matches = [m for seed in sorted(seed_matches) for m in seed_matches[seed]]
    with Outbox(tmp_path / "reference.sqlite3") as reference:
        expected = _partition(
            _events(
                [(s, m) for s in sorted(seed_matches) for m in seed_matches[s]],
                reference,
                Metrics(CollectorRegistry()),
            )
        )
    outbox = _run_alert_stage(broker, tmp_path, port, unique, matches, len(expected), inbox)
    urls = {m.article.url: seed for seed, ms in seed_matches.items() for m in ms}
    got = _emails(inbox, urls)
    want = [(next(iter(g))[0], frozenset(s for _, s in g)) for g in expected]
    assert sorted(got, key=_order) == sorted(want, key=_order)
    with outbox:
        assert outbox.pending() == []
        assert len({s.alert.id for s in outbox.list_alerts() if s.merged_into is None}) == len(expected)


def test_the_same_seeds_through_two_feeds_in_shuffled_order_give_the_same_alerts(
    broker: BrokerUnderTest,
    smtp: tuple[Inbox, int],
    tmp_path: Path,
    unique: str,
    seed_matches: dict[str, list[Match]],
) -> None:
    inbox, port = smtp
    ordered = [(s, m) for s in sorted(seed_matches) for m in seed_matches[s]]
    with Outbox(tmp_path / "reference.sqlite3") as reference:
        expected = _partition(_events(ordered, reference, Metrics(CollectorRegistry())))
    twice = [(s, _republished(m, "outlet-a")) for s, m in ordered] + [
        (s, _republished(m, "outlet-b")) for s, m in ordered
    ]
    random.Random(7).shuffle(twice)
    outbox = _run_alert_stage(broker, tmp_path, port, unique, [m for _, m in twice], len(expected), inbox)
    seed_of = {m.article.id: s for s, m in twice}
    with outbox:
        alerts = [s.alert for s in outbox.list_alerts() if s.merged_into is None]
    got = frozenset(frozenset((a.rule, seed_of[ref.id]) for ref in a.articles) for a in alerts)
    assert got == expected
    for alert in alerts:  # each alert has both copies of each of its seeds
        assert len(alert.articles) == 2 * len({seed_of[ref.id] for ref in alert.articles})
    assert len(inbox.messages) == len(expected)


def test_two_copies_newest_first_email_each_event_once(
    broker: BrokerUnderTest,
    smtp: tuple[Inbox, int],
    tmp_path: Path,
    unique: str,
    seed_matches: dict[str, list[Match]],
) -> None:
    """Seeds a + b, each newest first, default dedup settings: one email per event, none twice as new."""
    inbox, port = smtp
    matches = _two_copies(seed_matches, newest_first=True)
    with Outbox(tmp_path / "reference.sqlite3") as reference:
        expected = _partition(_events(matches, reference, Metrics(CollectorRegistry())))
    outbox = _run_alert_stage(broker, tmp_path, port, unique, [m for _, m in matches], len(expected), inbox)
    with outbox:
        created = outbox.list_alerts()
    assert len(created) == len(expected) == 6
    subjects = [str(m["subject"]) for m in inbox.messages]
    assert len(subjects) == len(expected), subjects
