"""Every newsmon metric, defined once on a registry passed in (a fresh one per test)."""

from __future__ import annotations

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, Info

from monitor import __version__

__all__ = ["Metrics"]

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Metrics:
    """The metrics of all three stages; a process registers them once and passes this object down."""

    def __init__(self, registry: CollectorRegistry = REGISTRY) -> None:
        self.registry = registry
        self.build_info = Info("newsmon_build", "Version of newsmon running.", registry=registry)
        self.build_info.info({"version": __version__})

        # ingest
        self.feed_fetches = Counter(
            "newsmon_feed_fetches_total", "Feed fetches by feed and outcome (ok, not_modified, error).",
            ["feed", "outcome"], registry=registry,
        )
        self.feed_errors = Counter(
            "newsmon_feed_errors_total", "Feed fetch or parse errors by feed and kind.", ["feed", "kind"],
            registry=registry,
        )
        self.feed_fetch_duration = Histogram(
            "newsmon_feed_fetch_duration_seconds", "Time to fetch and parse one feed.", registry=registry,
            buckets=_LATENCY_BUCKETS,
        )
        self.feed_last_success = Gauge(
            "newsmon_feed_last_success_timestamp_seconds", "Unix time of the last successful fetch of a feed.",
            ["feed"], registry=registry,
        )
        self.articles_published = Counter(
            "newsmon_articles_published_total", "Articles published on the articles topic, by feed.", ["feed"],
            registry=registry,
        )
        self.articles_duplicate = Counter(
            "newsmon_articles_duplicate_total", "Feed items skipped because already published, by feed.", ["feed"],
            registry=registry,
        )

        # bus
        self.messages_consumed = Counter(
            "newsmon_messages_consumed_total", "Messages consumed and handled, by topic.", ["topic"], registry=registry
        )
        self.messages_deadlettered = Counter(
            "newsmon_messages_deadlettered_total", "Messages sent to the dead-letter topic, by source topic and reason.",
            ["topic", "reason"], registry=registry,
        )

        # match
        self.articles_matched = Counter(
            "newsmon_articles_analysed_total", "Articles run through the watchlists.", registry=registry
        )
        self.matches = Counter("newsmon_matches_total", "Watchlist matches, by rule.", ["rule"], registry=registry)
        self.match_duration = Histogram(
            "newsmon_match_duration_seconds", "Time to analyse one article (NER + rules).", registry=registry,
            buckets=_LATENCY_BUCKETS,
        )
        self.rules_loaded = Gauge("newsmon_rules_loaded", "Watchlists currently loaded.", registry=registry)

        # alert
        self.alerts = Counter("newsmon_alerts_total", "Alerts created, by rule.", ["rule"], registry=registry)
        self.alerts_duplicate = Counter(
            "newsmon_alerts_duplicate_total", "Matches that repeated an alert already stored.", ["rule"],
            registry=registry,
        )
        self.deliveries = Counter(
            "newsmon_deliveries_total", "Alert deliveries by channel (console, log, apprise) and outcome.",
            ["channel", "outcome"], registry=registry,
        )
