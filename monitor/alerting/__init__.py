"""Alerting stage: Match → event dedup (pure) → alert → routing, grouping, silences → outbox → channels."""

from monitor.alerting.build import alert_from_match, alert_id
from monitor.alerting.dedup import Decision, DedupPolicy, EventIndex, compare
from monitor.alerting.deliver import AppriseChannel, Channel, ConsoleChannel, JsonlLogChannel
from monitor.alerting.features import Report, report_of
from monitor.alerting.notification import Notification
from monitor.alerting.outbox import Outbox, StoredAlert
from monitor.alerting.render import Renderer, mark_entities
from monitor.alerting.service import Alerter, AlertPolicy, build_alerter

__all__ = [
    "AlertPolicy",
    "Alerter",
    "AppriseChannel",
    "Channel",
    "ConsoleChannel",
    "Decision",
    "DedupPolicy",
    "EventIndex",
    "JsonlLogChannel",
    "Notification",
    "Outbox",
    "Renderer",
    "Report",
    "StoredAlert",
    "alert_from_match",
    "alert_id",
    "build_alerter",
    "compare",
    "mark_entities",
    "report_of",
]
