"""Every newsmon metric, defined once on a registry passed in (a fresh one per test)."""

from __future__ import annotations

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    disable_created_metrics,
)

from monitor import __version__

__all__ = ["Metrics"]

# A `<name>_created` series beside every counter and histogram doubles what each scrape renders (with a
# thousand feeds, ten thousand lines more); neither rate() nor the dashboard reads them. Process-wide.
disable_created_metrics()  # type: ignore[no-untyped-call]

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
# From a feed item's publication (or fetch) to delivery spans seconds (a live feed) to days (a feed that
# publishes late, or a replay): the buckets climb to a week so a heatmap shows both ends.
_END_TO_END_BUCKETS = (1.0, 2.5, 5.0, 15.0, 30.0, 60.0, 300.0, 900.0, 3600.0, 14400.0, 86400.0, 604800.0)


class Metrics:
    """The metrics of all three stages; a process registers them once and passes this object down."""

    def __init__(self, registry: CollectorRegistry = REGISTRY) -> None:
        self.registry = registry
        self.build_info = Info("newsmon_build", "Version of newsmon running.", registry=registry)
        self.build_info.info({"version": __version__})

        # ingest
        self.feed_fetches = Counter(
            "newsmon_feed_fetches_total",
            "Feed fetches by feed and outcome (ok, not_modified, unchanged, error).",
            ["feed", "outcome"],
            registry=registry,
        )
        self.feed_errors = Counter(
            "newsmon_feed_errors_total",
            "Feed fetch or parse errors by feed and kind.",
            ["feed", "kind"],
            registry=registry,
        )
        self.feed_fetch_duration = Histogram(
            "newsmon_feed_fetch_duration_seconds",
            "Time to fetch and parse one feed.",
            registry=registry,
            buckets=_LATENCY_BUCKETS,
        )
        self.feed_last_success = Gauge(
            "newsmon_feed_last_success_timestamp_seconds",
            "Unix time of the last successful fetch of a feed.",
            ["feed"],
            registry=registry,
        )
        self.articles_published = Counter(
            "newsmon_articles_published_total",
            "Articles published on the articles topic, by feed.",
            ["feed"],
            registry=registry,
        )
        self.articles_duplicate = Counter(
            "newsmon_articles_duplicate_total",
            "Feed items skipped because already published, by feed.",
            ["feed"],
            registry=registry,
        )
        self.feed_items_fetched = Counter(
            "newsmon_feed_items_fetched_total",
            "Items read from feeds before de-duplication, by feed (unchanged bodies are not re-read).",
            ["feed"],
            registry=registry,
        )
        # No feed label on these two: with a thousand feeds, every per-feed series costs each scrape a
        # thousand lines; the feed of a fallback is in its debug log line (feed.prepass_fallback).
        self.feed_items_known = Counter(
            "newsmon_feed_items_known_total",
            "Items not parsed again because their article was published from the same bytes.",
            registry=registry,
        )
        self.feed_prepass = Counter(
            "newsmon_feed_prepass_total",
            "Parsed polls by what the pre-pass did: reduced (known items cut), all_new (none known),"
            " fallback (it could not tell: the whole feed parsed, as malformed feeds always are).",
            ["outcome"],
            registry=registry,
        )
        self.feed_http_responses = Counter(
            "newsmon_feed_http_responses_total",
            "HTTP responses to feed fetches, by status code; the 304 ratio is code=304 over all.",
            ["code"],
            registry=registry,
        )
        self.feed_stale = Gauge(
            "newsmon_feed_stale",
            "1 when a feed has had nothing new for longer than its expected update period allows.",
            ["feed"],
            registry=registry,
        )
        self.feed_last_new_item = Gauge(
            "newsmon_feed_last_new_item_timestamp_seconds",
            "Unix time a feed last had something new (its newest item's date, or when it was first seen).",
            ["feed"],
            registry=registry,
        )
        self.feed_expected_period = Gauge(
            "newsmon_feed_expected_period_seconds",
            "Expected seconds between two items of a feed, set in the feeds file or learned.",
            ["feed"],
            registry=registry,
        )
        self.feed_next_poll = Gauge(
            "newsmon_feed_next_poll_seconds",
            "Seconds from a feed's last poll to its next one: the adaptive interval, or the backoff.",
            ["feed"],
            registry=registry,
        )
        self.feeds_reloads = Counter(
            "newsmon_feeds_reloads_total",
            "Reloads of the feeds file after an edit, by outcome (ok, error: the last good list is kept).",
            ["outcome"],
            registry=registry,
        )
        self.fulltext_fetches = Counter(
            "newsmon_fulltext_fetches_total",
            "Article pages fetched for full text, by outcome (ok, fetch_error, no_text, shorter).",
            ["outcome"],
            registry=registry,
        )
        self.articles_language = Counter(
            "newsmon_articles_language_total",
            "Articles published, by where their language came from (declared, detected, unknown).",
            ["source"],
            registry=registry,
        )
        self.seen_pruned = Counter(
            "newsmon_seen_pruned_total",
            "Seen-store entries forgotten because no feed listed them for the retention period.",
            registry=registry,
        )
        self.websub_subscribed = Gauge(
            "newsmon_websub_subscribed",
            "1 while a feed has a verified WebSub lease (polled at the safety interval), else 0.",
            ["feed"],
            registry=registry,
        )
        self.websub_lease_expiry = Gauge(
            "newsmon_websub_lease_expiry_timestamp_seconds",
            "When each feed's WebSub lease ends unless renewed.",
            ["feed"],
            registry=registry,
        )
        self.websub_requests = Counter(
            "newsmon_websub_requests_total",
            "Subscribe and unsubscribe requests sent to hubs, by mode and outcome (accepted, error).",
            ["mode", "outcome"],
            registry=registry,
        )
        self.websub_verifications = Counter(
            "newsmon_websub_verifications_total",
            "Intent verifications from hubs, by mode and outcome (accepted, rejected).",
            ["mode", "outcome"],
            registry=registry,
        )
        self.websub_notifications = Counter(
            "newsmon_websub_notifications_total",
            "Content pushed by hubs, by feed and outcome (accepted, bad_signature, unknown_subscription,"
            " queue_full, too_large, length_required).",
            ["feed", "outcome"],
            registry=registry,
        )
        self.websub_fallbacks = Counter(
            "newsmon_websub_fallbacks_total",
            "Times a feed fell back to polling, by reason (subscribe_failed, verify_timeout, denied,"
            " lease_lost).",
            ["feed", "reason"],
            registry=registry,
        )

        # bus
        self.messages_consumed = Counter(
            "newsmon_messages_consumed_total",
            "Messages consumed and handled, by topic.",
            ["topic"],
            registry=registry,
        )
        self.messages_deadlettered = Counter(
            "newsmon_messages_deadlettered_total",
            "Messages sent to the dead-letter topic, by source topic and reason.",
            ["topic", "reason"],
            registry=registry,
        )
        self.message_duration = Histogram(
            "newsmon_message_processing_duration_seconds",
            "Time to handle one consumed message (decode, core, produce), by topic.",
            ["topic"],
            registry=registry,
            buckets=_LATENCY_BUCKETS,
        )
        self.consumer_lag = Gauge(
            "newsmon_consumer_lag_messages",
            "Messages on a partition not yet fetched by this consumer (high watermark minus position).",
            ["topic", "partition"],
            registry=registry,
        )
        self.bus_errors = Counter(
            "newsmon_bus_errors_total",
            "Bus operations that failed and were retried or given up, by operation (produce, "
            "produce_refused, poll, commit, rewind, rewind_check, topics): the broker was away, restarting "
            "or refused a message.",
            ["operation"],
            registry=registry,
        )
        self.producers_replaced = Counter(
            "newsmon_bus_producers_replaced_total",
            "Kafka producer clients replaced because they could not recover (e.g. after a broker restart).",
            registry=registry,
        )
        self.topics_recreated = Counter(
            "newsmon_bus_topics_recreated_total",
            "Topics found missing after start-up and created again (the broker lost them: a restart).",
            registry=registry,
        )
        self.broker_restarts = Counter(
            "newsmon_embedded_broker_restarts_total",
            "Times the embedded broker died and was started again on the same port.",
            registry=registry,
        )

        # match
        self.articles_matched = Counter(
            "newsmon_articles_analysed_total", "Articles run through the watchlists.", registry=registry
        )
        self.matches = Counter(
            "newsmon_matches_total", "Watchlist matches, by rule.", ["rule"], registry=registry
        )
        self.match_duration = Histogram(
            "newsmon_match_duration_seconds",
            "Time to analyse one article (NER + rules).",
            registry=registry,
            buckets=_LATENCY_BUCKETS,
        )
        self.rules_loaded = Gauge("newsmon_rules_loaded", "Watchlists currently loaded.", registry=registry)
        self.match_nlp_articles = Counter(
            "newsmon_match_nlp_articles_total",
            "Articles some of whose sentences went through spaCy (the presearch found a rule that can fire).",
            registry=registry,
        )
        self.rules_reloads = Counter(
            "newsmon_rules_reloads_total",
            "Reloads of the watchlist and gazetteer files, by outcome (ok, error).",
            ["outcome"],
            registry=registry,
        )
        for outcome in ("ok", "error"):  # both series from the start, so the first failure is an increase
            self.rules_reloads.labels(outcome=outcome)
        self.rules_last_reload_successful = Gauge(
            "newsmon_rules_last_reload_successful",
            "1 if the last load of the watchlists succeeded, 0 if the last good set is still running.",
            registry=registry,
        )

        # delivery: time to deliver, end to end latency, outbox depth
        self.delivery_duration = Histogram(
            "newsmon_delivery_duration_seconds",
            "Time to send one alert through one channel, by channel.",
            ["channel"],
            registry=registry,
            buckets=_LATENCY_BUCKETS,
        )
        self.end_to_end_latency = Histogram(
            "newsmon_end_to_end_latency_seconds",
            "Time from an article's publication (since=published) or fetch (since=fetched) to the delivery "
            "of its alert, by channel.",
            ["since", "channel"],
            registry=registry,
            buckets=_END_TO_END_BUCKETS,
        )
        self.outbox_pending = Gauge(
            "newsmon_outbox_pending_alerts",
            "Alerts in the outbox that some channel has not delivered yet.",
            registry=registry,
        )

        # alert
        self.alerts = Counter("newsmon_alerts_total", "Alerts created, by rule.", ["rule"], registry=registry)
        self.alerts_duplicate = Counter(
            "newsmon_alerts_duplicate_total",
            "Matches that repeated an alert already stored.",
            ["rule"],
            registry=registry,
        )
        self.deliveries = Counter(
            "newsmon_deliveries_total",
            "Alert deliveries by channel (console, log, apprise) and outcome.",
            ["channel", "outcome"],
            registry=registry,
        )
        self.alerts_attached = Counter(
            "newsmon_alerts_attached_total",
            "Matches folded into the alert of an event already alerted (another source), by rule.",
            ["rule"],
            registry=registry,
        )
        self.alerts_merged = Counter(
            "newsmon_alerts_merged_total",
            "Alerts found later to be about the same event as an older one and merged into it, by rule.",
            ["rule"],
            registry=registry,
        )
        self.escalations = Counter(
            "newsmon_alert_escalations_total",
            "Material changes of an alerted event that re-alert (new entity, other watchlist), by rule.",
            ["rule"],
            registry=registry,
        )
        self.notifications_silenced = Counter(
            "newsmon_notifications_silenced_total",
            "Messages not sent because a silence muted them, by channel.",
            ["channel"],
            registry=registry,
        )
        self.notifications_rate_limited = Counter(
            "newsmon_notifications_rate_limited_total",
            "Messages postponed by a channel's rate limit or a 429 retry_after, by channel.",
            ["channel"],
            registry=registry,
        )
        self.notifications_deadlettered = Counter(
            "newsmon_notifications_deadlettered_total",
            "Messages given up after their last retry and sent to the deadletter topic, by channel.",
            ["channel"],
            registry=registry,
        )
        self.dedup_events = Gauge(
            "newsmon_dedup_events",
            "Events in the dedup window of this alerter.",
            registry=registry,
        )
        self.dedup_duration = Histogram(
            "newsmon_dedup_decision_duration_seconds",
            "Time to extract a Match's features and find its event.",
            registry=registry,
            buckets=(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1),
        )
