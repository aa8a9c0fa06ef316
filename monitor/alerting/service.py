"""The alerter: build the alert of a Match, store it in the outbox, then send it through every channel."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TextIO

from monitor.alerting.build import alert_from_match
from monitor.alerting.deliver import AppriseChannel, Channel, ConsoleChannel, JsonlLogChannel
from monitor.alerting.outbox import Outbox
from monitor.errors import DeliveryError
from monitor.logs import get_logger
from monitor.metrics import Metrics
from monitor.models import Alert, Match
from monitor.settings import AlertSettings

__all__ = ["Alerter", "build_alerter"]

log = get_logger(__name__)


class Alerter:
    """Turn matches into alerts, once each, and deliver them through every channel.

    A channel that fails is recorded in the outbox and counted; it never stops the other channels and
    never raises out of ``handle``. An outbox (SQLite) error does raise: the Match was not stored, so
    the consumer must not commit it.
    """

    def __init__(self, outbox: Outbox, channels: Sequence[Channel], metrics: Metrics) -> None:
        names = [c.name for c in channels]
        if len(set(names)) != len(names):
            raise ValueError(f"channel names must be unique, got {names}")
        self.outbox = outbox
        self.channels = list(channels)
        self._metrics = metrics

    def handle(self, match: Match) -> Alert | None:
        """Store and send the alert of ``match``; return it, or None if it was already stored."""
        alert = alert_from_match(match)
        if not self.outbox.add(alert, channels=[c.name for c in self.channels]):
            self._metrics.alerts_duplicate.labels(rule=alert.rule).inc()
            log.info("alert_duplicate", alert_id=alert.id, rule=alert.rule, match_id=match.id)
            return None
        self._metrics.alerts.labels(rule=alert.rule).inc()
        log.info("alert_created", alert_id=alert.id, rule=alert.rule, title=alert.title)
        self._deliver(alert, self.channels)
        return alert

    def retry_pending(self) -> int:
        """Re-send every stored alert through the channels that have not delivered it; return how many
        alerts are now fully delivered.

        Call it at start-up: it finishes what a crash or a dead receiver left undone. Channels that are
        no longer configured are left pending and logged.
        """
        by_name = {c.name: c for c in self.channels}
        delivered = 0
        for alert in self.outbox.pending():
            stored = self.outbox.get(alert.id)
            if stored is None:  # removed by another process since pending() read it
                continue
            wanted = stored.pending_channels
            missing = [name for name in wanted if name not in by_name]
            if missing:
                log.warning("alert_channel_not_configured", alert_id=alert.id, channels=missing)
            if self._deliver(alert, [by_name[name] for name in wanted if name in by_name]) and not missing:
                delivered += 1
        return delivered

    def _deliver(self, alert: Alert, channels: Sequence[Channel]) -> bool:
        """Send ``alert`` through each of ``channels``, recording each result; return whether all did."""
        all_ok = True
        for channel in channels:
            try:
                channel.send(alert)
            except DeliveryError as e:
                ok, detail = False, str(e)
                log.warning("alert_delivery_failed", alert_id=alert.id, channel=channel.name, detail=detail)
            except Exception as e:  # a bug in one channel must not cost the others their alert
                ok, detail = False, f"{type(e).__name__}: {e}"
                log.exception("alert_delivery_crashed", alert_id=alert.id, channel=channel.name)
            else:
                ok, detail = True, ""
                log.debug("alert_delivered", alert_id=alert.id, channel=channel.name)
            self.outbox.record_delivery(alert.id, channel.name, ok, detail)
            self._metrics.deliveries.labels(channel=channel.name, outcome="ok" if ok else "error").inc()
            all_ok = all_ok and ok
        return all_ok


def build_alerter(settings: AlertSettings, metrics: Metrics, console: TextIO = sys.stdout) -> Alerter:
    """Return the alerter ``settings`` describe: console if enabled, JSONL log always, apprise if set.

    Raises:
        ConfigError: an apprise URL that apprise cannot load (the message names its index, never the URL).
    """
    channels: list[Channel] = []
    if settings.console:
        channels.append(ConsoleChannel(console))
    channels.append(JsonlLogChannel(settings.alert_log))
    if settings.apprise_urls:
        channels.append(
            AppriseChannel(
                [url.get_secret_value() for url in settings.apprise_urls],
                min_interval_s=settings.apprise_min_interval_s,
            )
        )
    return Alerter(Outbox(settings.outbox_db), channels, metrics)
