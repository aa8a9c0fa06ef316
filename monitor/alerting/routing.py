"""Route an alert to receivers by watchlist, severity, tags or entities, like Alertmanager's routes. Pure.

A watchlist that names its receivers is obeyed first; otherwise the first configured route that
selects the alert wins (later ones too when it says ``continue_routing``); otherwise the default.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase

from monitor.models import Alert
from monitor.settings import RouteSettings

__all__ = ["SEVERITIES", "Route", "route"]

#: Severities from least to most urgent; ``min_severity`` compares along this order.
SEVERITIES = ("info", "low", "medium", "high", "critical")


@dataclass(frozen=True)
class Route:
    """Send alerts this route selects to ``receivers``; every condition that is set must hold."""

    receivers: tuple[str, ...]
    rules: tuple[str, ...] = ()
    severities: tuple[str, ...] = ()
    min_severity: str | None = None
    tags: tuple[str, ...] = ()
    entities: tuple[str, ...] = ()
    continue_routing: bool = False

    @classmethod
    def of(cls, settings: RouteSettings) -> Route:
        """Return the route ``settings`` describe."""
        return cls(
            receivers=tuple(settings.receivers),
            rules=tuple(settings.rules),
            severities=tuple(settings.severities),
            min_severity=settings.min_severity,
            tags=tuple(settings.tags),
            entities=tuple(settings.entities),
            continue_routing=settings.continue_routing,
        )

    def selects(self, alert: Alert) -> bool:
        """Return whether ``alert`` satisfies every condition of this route."""
        if self.rules and not any(fnmatchcase(alert.rule, pattern) for pattern in self.rules):
            return False
        if self.severities and alert.severity not in self.severities:
            return False
        if self.min_severity is not None and _rank(alert.severity) < _rank(self.min_severity):
            return False
        if self.tags and not set(self.tags) & set(alert.tags):
            return False
        return not (self.entities and not set(self.entities) & set(alert.entities))


def route(
    alert: Alert,
    routes: Sequence[Route],
    default: Sequence[str],
    known: Sequence[str],
    named: Sequence[str] = (),
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Return the receivers of ``alert`` and the names it asked for that are not configured.

    ``named`` are the receivers its watchlist names; ``known`` the configured receivers. Unknown
    names are reported, never dropped silently, and the alert then goes where routes send it.
    """
    unknown = tuple(n for n in named if n not in known)
    chosen = [n for n in named if n in known]
    if not chosen:
        for candidate in routes:
            if candidate.selects(alert):
                chosen.extend(candidate.receivers)
                if not candidate.continue_routing:
                    break
    if not chosen:
        chosen.extend(default)
    return tuple(dict.fromkeys(n for n in chosen if n in known)), unknown


def _rank(severity: str) -> int:
    return SEVERITIES.index(severity) if severity in SEVERITIES else 0
