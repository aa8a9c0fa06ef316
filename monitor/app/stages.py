"""The three stages on the bus: each consumes its topic, calls its core, produces, and commits.

The cores (feed polling, the match engine, the alerter) know nothing of Kafka; this module is the
only place that ties them to topics, keys and consumer groups.
"""

from __future__ import annotations

import sys
import threading
from dataclasses import dataclass, field
from typing import Protocol, TextIO

from kafka import TopicPartition

from monitor.alerting.service import build_alerter
from monitor.bus.connection import Bus
from monitor.bus.consumer import ConsumerLoop
from monitor.bus.deadletter import DeadLetter
from monitor.bus.producer import ResilientProducer
from monitor.bus.records import DeadLetterRecord
from monitor.bus.serde import encode
from monitor.ingest.feeds import load_feeds
from monitor.ingest.fetch import Fetcher
from monitor.ingest.reload import FeedsWatcher
from monitor.ingest.seen import SeenStore
from monitor.ingest.service import IngestOptions, IngestService
from monitor.ingest.websub.source import WebSubPush, build_websub
from monitor.logs import get_logger
from monitor.metrics import Metrics
from monitor.models import Article, Match
from monitor.settings import Settings

__all__ = ["Stage", "build_alert_stage", "build_ingest_stage", "build_match_stage"]

_log = get_logger(__name__)
_ACK_TIMEOUT_S = 30


class Stage(Protocol):
    """A long-running part of the pipeline."""

    name: str

    def run(self, stop: threading.Event) -> None:
        """Work until ``stop`` is set (or, for a one-shot stage, until done)."""


@dataclass
class _ConsumingStage:
    name: str
    loop: ConsumerLoop[Article] | ConsumerLoop[Match]
    producer: ResilientProducer

    def run(self, stop: threading.Event) -> None:
        try:
            self.loop.run(stop)
        finally:
            self.producer.close(timeout=10)


@dataclass
class _IngestStage:
    name: str
    once: bool
    service: IngestService = field(repr=False)
    fetcher: Fetcher = field(repr=False)
    store: SeenStore = field(repr=False)
    producer: ResilientProducer = field(repr=False)
    websub: WebSubPush | None = field(default=None, repr=False)

    def run(self, stop: threading.Event) -> None:
        try:
            if self.once:
                self.service.poll_all()
            else:
                self.service.run(stop)
        finally:
            # Closed only after run() returned: a poll still publishing must finish with them open.
            self.fetcher.close()
            self.store.close()
            if self.websub is not None:
                self.websub.close()
            self.producer.close(timeout=10)


def build_ingest_stage(settings: Settings, bus: Bus, metrics: Metrics, *, once: bool = False) -> Stage:
    """Return the ingestor: poll the feeds file, publish new items on the articles topic, keyed by article id.

    ``once`` polls every feed a single time and returns (demo and ``newsmon ingest --once``).
    """
    cfg = settings.ingest
    watcher = FeedsWatcher(cfg.feeds_file)  # before the load: an edit in between is then still noticed
    feeds = load_feeds(cfg.feeds_file)
    producer = ResilientProducer(bus, metrics=metrics)
    topic = bus.settings.topics.articles

    def publish(article: Article) -> None:
        # Wait for the ack: the seen-store marks the item only after this returns, so nothing is lost.
        # While the broker is away it retries up to the timeout; then the feed's next poll tries again.
        value = encode(article)
        producer.send_and_wait(topic, key=article.id.encode(), value=value, timeout_s=_ACK_TIMEOUT_S)

    fetcher = Fetcher(
        timeout_s=cfg.timeout_s,
        max_bytes=cfg.max_bytes,
        user_agent=cfg.user_agent,
        block_private=cfg.block_private_addresses,
    )
    store = SeenStore(cfg.state_db)
    # `--once` polls and ends: no hub would have time to push, and no lease could be kept.
    websub = None if once else build_websub(cfg, metrics)
    service = IngestService(
        feeds=feeds,
        fetcher=fetcher,
        store=store,
        publish=publish,
        metrics=metrics,
        options=IngestOptions.from_settings(cfg, fetcher),
        watcher=None if once else watcher,
        push=websub,
    )
    _log.info(
        "ingest.ready",
        feeds=len(feeds),
        feeds_file=str(cfg.feeds_file),
        once=once,
        websub=websub.subscriber.callback_url_base if websub else None,
    )
    return _IngestStage("ingest", once, service, fetcher, store, producer, websub)


def build_match_stage(settings: Settings, bus: Bus, metrics: Metrics) -> Stage:
    """Return the matcher: articles → NER + watchlists → matches topic (keyed by rule id).

    Keying matches by rule sends every match of one watchlist to the same partition, hence to the same
    alerter instance, which is what lets that instance deduplicate alerts on its own. The rules folder
    is reloaded between polls when it changes (see :mod:`monitor.matching.service`).
    """
    from monitor.matching.service import MatchService, MatchStage

    cfg = settings.match
    service = MatchService(cfg, metrics)
    producer = ResilientProducer(bus, metrics=metrics)
    topics = bus.settings.topics

    def handle(article: Article) -> None:
        for match in service.handle(article):
            producer.send(topics.matches, key=match.rule.encode(), value=encode(match))
            _log.info("match.found", rule=match.rule, article_id=article.id, score=match.score)

    consumer = bus.consumer(f"{bus.settings.group_prefix}-match", topics.articles, max_poll_records=20)
    loop: ConsumerLoop[Article] = ConsumerLoop(
        consumer=consumer,
        producer=producer,
        deadletter=DeadLetter(producer, topics.deadletter),
        topic=topics.articles,
        model=Article,
        handle=handle,
        metrics=metrics,
        log_context=lambda article: {"article_id": article.id, "feed": article.feed_id},
        commit_timeout_ms=bus.settings.commit_timeout_ms,
    )
    _log.info("match.ready", rules=service.engine.rule_count, rules_dir=str(cfg.rules_dir))
    return MatchStage("match", loop, service, consumer, producer)


def build_alert_stage(settings: Settings, bus: Bus, metrics: Metrics, console: TextIO = sys.stdout) -> Stage:
    """Return the alerter: matches → event dedup → outbox → receivers; each alert revision → alerts topic.

    A message given up after its last retry goes to the deadletter topic with the alerts it carried.
    """
    from monitor.alerting.ownership import Ownership
    from monitor.alerting.restore import restore_partitions
    from monitor.alerting.service import DeadMessage
    from monitor.alerting.stage import AlertStage
    from monitor.alerting.statelog import KafkaChangelog

    producer = ResilientProducer(bus, metrics=metrics)
    topics = bus.settings.topics
    deadletter = DeadLetter(producer, topics.deadletter)

    def dead(message: DeadMessage) -> None:
        value = "[" + ",".join(a.model_dump_json() for a in message.alerts) + "]"
        deadletter.send(
            DeadLetterRecord(
                topic=f"outbox:{message.channel}",
                partition=-1,
                offset=message.message_id,
                key=message.alerts[0].id.encode() if message.alerts else None,
                value=value.encode(),
                reason="delivery_failed",
                error=f"{message.attempts} attempts: {message.detail}",
            )
        )

    changelog = KafkaChangelog(producer, bus.alert_state_topic, bus.settings.partitions)
    # Only the owner of a watchlist's partition delivers its messages (see alerting/ownership.py):
    # nothing is owned until the group assigns partitions, and a restore comes first.
    ownership = Ownership(bus.settings.partitions)
    alerter = build_alerter(
        settings.alert, metrics, console=console, deadletter=dead, changelog=changelog, ownership=ownership
    )
    alerter.release_orphaned_leases()
    alerter.hand_over()  # nothing is owned yet: what is pending waits for its partition's assignment

    def handle(match: Match) -> None:
        with changelog.batched():
            alert = alerter.handle(match)
        if alert is not None:
            producer.send(topics.alerts, key=alert.rule.encode(), value=encode(alert))

    def restore(assigned: set[TopicPartition]) -> None:
        """Restore the state of the watchlists of ``assigned`` (another alerter may have owned them)."""
        partitions = {tp.partition for tp in assigned if tp.topic == topics.matches}
        try:
            with alerter.lock:
                restored = restore_partitions(bus.reader, bus.alert_state_topic, partitions, alerter.outbox)
                alerter.forget_index()
        except Exception as e:
            # Owned all the same: its new alerts must go out; what the state lacked may be sent again.
            # (An exception escaping this hook would leave them unowned: nothing of them ever sent.)
            alerter.assign(partitions)
            _log.error(
                "alert.state_restore_failed",
                partitions=sorted(partitions),
                error=f"{type(e).__name__}: {e}",
                consequence="events another alerter already alerted may be alerted again",
            )
            return
        taken, adopted = alerter.assign(partitions, restored.alert_ids)
        _log.info(
            "alert.state_restored",
            partitions=list(restored.partitions),
            reports=restored.reports,
            alerts=restored.alerts,
            sent=restored.sent,
            taken_back=taken,
            adopted=adopted,
            seconds=round(restored.seconds, 3),
        )

    def revoke(revoked: set[TopicPartition]) -> None:
        """Stop delivering for the watchlists of ``revoked``; a send under way finishes first (the lock)."""
        alerter.revoke({tp.partition for tp in revoked if tp.topic == topics.matches})

    loop: ConsumerLoop[Match] = ConsumerLoop(
        consumer=bus.consumer(f"{bus.settings.group_prefix}-alert", topics.matches),
        producer=producer,
        deadletter=deadletter,
        topic=topics.matches,
        model=Match,
        handle=handle,
        metrics=metrics,
        log_context=lambda match: {"match_id": match.id, "rule": match.rule, "article_id": match.article.id},
        commit_timeout_ms=bus.settings.commit_timeout_ms,
        on_assigned=restore,
        on_revoked=revoke,
    )
    return AlertStage("alert", loop, producer, alerter, tick_s=settings.alert.tick_s)
