"""WebSub (W3C Recommendation) subscriber: hubs push feeds' new items instead of waiting for a poll."""

from monitor.ingest.websub.callback import CallbackServer
from monitor.ingest.websub.discovery import HubLinks, discover
from monitor.ingest.websub.hub_client import HubClient, HubReply
from monitor.ingest.websub.inbox import Inbox, Push
from monitor.ingest.websub.lease import LeasePolicy, next_action, poll_interval_s, renew_at, retry_delay_s
from monitor.ingest.websub.signature import ALGORITHMS, check_signature, sign
from monitor.ingest.websub.source import WebSubPush, build_websub
from monitor.ingest.websub.store import Subscription, SubscriptionStore
from monitor.ingest.websub.subscriber import WebSubSubscriber

__all__ = [
    "ALGORITHMS",
    "CallbackServer",
    "HubClient",
    "HubLinks",
    "HubReply",
    "Inbox",
    "LeasePolicy",
    "Push",
    "Subscription",
    "SubscriptionStore",
    "WebSubPush",
    "WebSubSubscriber",
    "build_websub",
    "check_signature",
    "discover",
    "next_action",
    "poll_interval_s",
    "renew_at",
    "retry_delay_s",
    "sign",
]
