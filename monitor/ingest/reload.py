"""Notice edits of the feeds file and reload it, keeping the last good list when an edit is invalid.

A desk adds a feed while the ingestor runs; a restart for that would stall every other feed. Polling the
file's mtime and size is enough (the file changes a few times a day) and works on every filesystem,
including the network and container mounts where inotify-based watchers miss changes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from monitor.errors import ConfigError
from monitor.ingest.feeds import FeedConfig, load_feeds
from monitor.logs import get_logger

__all__ = ["FeedsWatcher", "Reload"]


@dataclass(frozen=True)
class Reload:
    """The outcome of a check that found the file changed: the new list, or the error that kept the old."""

    feeds: list[FeedConfig] | None
    error: ConfigError | None = None


class FeedsWatcher:
    """Watch ``path``; ``check()`` returns a Reload when the file changed since the last check."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._signature = self._stat()

    def _stat(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        # mtime_ns and size and inode: an editor that saves by rename within the same tick still shows.
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def check(self) -> Reload | None:
        """Return None if the file is unchanged, else the reloaded feeds or why they were not reloaded.

        An invalid edit (bad YAML, a bad URL, the file deleted) is logged with its file:line, and the
        caller keeps the list it has: polling goes on with the last good feeds until the file is fixed.
        """
        signature = self._stat()
        if signature == self._signature:
            return None
        self._signature = signature
        log = get_logger(__name__)
        try:
            feeds = load_feeds(self.path)
        except ConfigError as e:
            log.error("feeds.reload_invalid", feeds_file=str(self.path), error=str(e), kept="last good feeds")
            return Reload(None, e)
        log.info("feeds.reloaded", feeds_file=str(self.path), feeds=len(feeds))
        return Reload(feeds)
