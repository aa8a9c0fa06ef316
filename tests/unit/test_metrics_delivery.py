"""The alerter's delivery metrics: time per channel, end-to-end latency, outbox depth, early series."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from prometheus_client import CollectorRegistry

from monitor.alerting.deliver import JsonlLogChannel
from monitor.alerting.outbox import Outbox
from monitor.alerting.service import Alerter
from monitor.errors import DeliveryError
from monitor.metrics import Metrics
from monitor.models import Alert, Article, Match, utcnow


class _DownChannel:
    """A receiver that refuses everything, as a dead SMTP server would."""

    name = "mail"

    def send(self, alert: Alert) -> None:
        raise DeliveryError("mail: connection refused")


def _match(
    published_ago_s: float,
    fetched_ago_s: float,
    url: str = "https://news.example.org/a",
    rule: str = "leaders",
) -> Match:
    now = utcnow()
    article = Article(
        id=url.rsplit("/", 1)[1],
        feed_id="example",
        url=url,
        title="Two leaders meet",
        published=now - timedelta(seconds=published_ago_s),
        fetched_at=now - timedelta(seconds=fetched_ago_s),
    )
    return Match(
        id=Match.make_id(rule, article.id),
        rule=rule,
        rule_name=rule.capitalize(),
        score=1.0,
        article=article,
    )


def _bucket(metrics: Metrics, since: str, channel: str, le: str) -> float | None:
    return metrics.registry.get_sample_value(
        "newsmon_end_to_end_latency_seconds_bucket", {"since": since, "channel": channel, "le": le}
    )


def test_latency_from_publication_and_fetch_is_observed_per_delivered_channel(
    tmp_path: Path, metrics: Metrics
) -> None:
    alerter = Alerter(
        Outbox(tmp_path / "o.sqlite3"), [JsonlLogChannel(tmp_path / "a.jsonl"), _DownChannel()], metrics
    )
    assert alerter.handle(_match(published_ago_s=600, fetched_ago_s=20)) is not None

    # Published 10 min ago: above the 5-min bucket, within 15 min. Fetched 20 s ago: within 30 s.
    assert _bucket(metrics, "published", "log", "300.0") == 0
    assert _bucket(metrics, "published", "log", "900.0") == 1
    assert _bucket(metrics, "fetched", "log", "15.0") == 0
    assert _bucket(metrics, "fetched", "log", "30.0") == 1
    # A failed delivery is no delivery: no latency for it, but its time and its failure are counted.
    assert _bucket(metrics, "fetched", "mail", "+Inf") == 0
    get = metrics.registry.get_sample_value
    assert get("newsmon_deliveries_total", {"channel": "mail", "outcome": "error"}) == 1
    assert get("newsmon_delivery_duration_seconds_count", {"channel": "mail"}) == 1
    assert get("newsmon_delivery_duration_seconds_count", {"channel": "log"}) == 1


def test_a_publication_date_in_the_future_is_not_a_latency(tmp_path: Path, metrics: Metrics) -> None:
    alerter = Alerter(Outbox(tmp_path / "o.sqlite3"), [JsonlLogChannel(tmp_path / "a.jsonl")], metrics)
    alerter.handle(_match(published_ago_s=-3600, fetched_ago_s=1))
    assert _bucket(metrics, "published", "log", "+Inf") == 0
    assert _bucket(metrics, "fetched", "log", "+Inf") == 1


def test_outbox_depth_is_read_from_the_outbox_at_scrape_time(tmp_path: Path, metrics: Metrics) -> None:
    outbox = Outbox(tmp_path / "o.sqlite3")
    alerter = Alerter(outbox, [JsonlLogChannel(tmp_path / "a.jsonl"), _DownChannel()], metrics)
    assert metrics.registry.get_sample_value("newsmon_outbox_pending_alerts") == 0
    # Two watchlists: two alerts whatever the event deduplication makes of one story.
    alerter.handle(_match(60, 1, "https://news.example.org/a", rule="leaders"))
    alerter.handle(_match(60, 1, "https://news.example.org/b", rule="parade"))
    assert metrics.registry.get_sample_value("newsmon_outbox_pending_alerts") == 2  # mail delivered neither

    # A restarted alerter (fresh metrics, same file) reports the same depth: the outbox is the truth.
    restarted = Metrics(CollectorRegistry())
    Alerter(Outbox(tmp_path / "o.sqlite3"), [JsonlLogChannel(tmp_path / "a.jsonl")], restarted)
    assert restarted.registry.get_sample_value("newsmon_outbox_pending_alerts") == 2


def test_delivery_series_exist_at_zero_before_the_first_alert(tmp_path: Path, metrics: Metrics) -> None:
    Alerter(Outbox(tmp_path / "o.sqlite3"), [JsonlLogChannel(tmp_path / "a.jsonl"), _DownChannel()], metrics)
    get = metrics.registry.get_sample_value
    for channel in ("log", "mail"):
        for outcome in ("ok", "error"):
            assert get("newsmon_deliveries_total", {"channel": channel, "outcome": outcome}) == 0
