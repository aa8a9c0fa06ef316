"""Alerting stage: Match → Alert (pure), stored in the outbox, delivered to console, log and apprise."""

from monitor.alerting.build import alert_from_match, alert_id
from monitor.alerting.deliver import AppriseChannel, Channel, ConsoleChannel, JsonlLogChannel
from monitor.alerting.outbox import DeliveryState, Outbox, StoredAlert
from monitor.alerting.render import render_console, render_subject, render_text
from monitor.alerting.service import Alerter, build_alerter

__all__ = [
    "Alerter",
    "AppriseChannel",
    "Channel",
    "ConsoleChannel",
    "DeliveryState",
    "JsonlLogChannel",
    "Outbox",
    "StoredAlert",
    "alert_from_match",
    "alert_id",
    "build_alerter",
    "render_console",
    "render_subject",
    "render_text",
]
