"""The SQLite outbox, one job per module: schema, connection, queue, alerts, silences, leases, replica."""

from monitor.alerting.outbox.records import ChannelState, DeliveryState, Due, StoredAlert, StoredReport
from monitor.alerting.outbox.store import Outbox

__all__ = ["ChannelState", "DeliveryState", "Due", "Outbox", "StoredAlert", "StoredReport"]
