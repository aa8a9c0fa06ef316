"""Matchers and alerters killed (SIGKILL: no clean-up runs) under load: every alert arrives exactly once.

At-least-once transport (offsets committed only after the output is acknowledged) plus idempotent
effects (deterministic match ids, the outbox refusing a known match, leased sends) is what makes a
kill at any point cost nothing but a little time. The kill points are drawn from a seeded random
generator, so a failure can be replayed; the seed is in the assertion message.
"""

from __future__ import annotations

import asyncio
import random
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.fixtures.brokers import BrokerUnderTest
from tests.fixtures.rig import SEED, Proc, Rig, Stream, owning, subject
from tests.fixtures.smtp import Inbox, smtp_server


class _HeldSmtp:
    """Make the SMTP server hold the next message (its sender is mid-send) until released, then refuse it."""

    def __init__(self, inbox: Inbox) -> None:
        self._inbox = inbox
        self._original = inbox.handle_DATA
        self.holding = threading.Event()
        self._release = threading.Event()

    async def _held(self, server: object, session: object, envelope: object) -> str:
        self.holding.set()
        while not self._release.is_set():  # aiosmtpd runs handlers on its own loop: poll, do not block it
            await asyncio.sleep(0.02)
        return "451 4.3.0 the server went away before accepting the message"

    @contextmanager
    def hold(self) -> Iterator[None]:
        self._inbox.handle_DATA = self._held  # type: ignore[method-assign]
        try:
            yield
        finally:
            self._inbox.handle_DATA = self._original  # type: ignore[method-assign]
            self._release.set()


def _killed_and_restarted(rig: Rig, proc: Proc, *args: str) -> Proc:
    proc.signal(signal.SIGKILL)
    proc.wait(10)
    return rig.start(*args, name=proc.name)


def test_matcher_and_alerter_killed_mid_stream_each_alert_arrives_once(
    broker: BrokerUnderTest, tmp_path: Path, unique: str
) -> None:
    rng = random.Random(SEED)
    n = 60
    kill_match_at = rng.randint(4, 8)
    kill_alert_after = rng.randint(2, 5)  # alerts from the restarted matcher before the alerter dies
    hold_for_s = rng.uniform(0.0, 0.5)
    with smtp_server() as (inbox, smtp_port):
        rig = Rig(tmp_path, unique, smtp_port)
        rig.use_broker(broker)
        alert = rig.start("alert")
        match = rig.start("match")
        # Only once both own partitions: on a loaded machine, loading spaCy and joining can outlast the
        # whole stream (10 s at 5/s), and then nothing would be mid-stream when the service is stopped.
        try:
            rig.wait_for(
                "both services owning partitions",
                owning(alert, match),
                90,
                alert,
                match,
            )
        except AssertionError:
            rig.stop_all()  # no service left running after a failed start
            raise
        with Stream(broker, unique, n, per_s=5, partitions=3) as stream:
            try:
                received = lambda k: lambda: len(inbox.snapshot()) >= k  # noqa: E731
                rig.wait_for(f"{kill_match_at} alerts", received(kill_match_at), 60, alert, match)
                match = _killed_and_restarted(rig, match, "match")
                assert stream.sent < n, "the matcher was killed mid-stream"

                kill_alert_at = len(inbox.snapshot()) + kill_alert_after
                rig.wait_for(f"{kill_alert_at} alerts", received(kill_alert_at), 60, alert, match)
                held = _HeldSmtp(inbox)
                with held.hold():
                    # The alerter is now inside a send that the server has not accepted: kill it there.
                    assert held.holding.wait(30), rig.diagnostics()
                    time.sleep(hold_for_s)
                    alert = _killed_and_restarted(rig, alert, "alert")
                assert stream.sent < n, "the alerter was killed mid-stream"

                rig.wait_for(f"all {n} alerts", received(n), 90, alert, match)
                time.sleep(3)  # long enough for a second copy of anything to show up
            finally:
                codes = rig.stop_all()

    context = f"seed {SEED}\n{rig.diagnostics()}"
    assert inbox.duplicates() == {}, context
    assert sorted(inbox.snapshot()) == sorted(subject(k) for k in range(n)), context
    assert rig.stored_alerts() == n
    assert codes == {"alert": 0, "match": 0}, context


def test_three_matchers_one_killed_the_partitions_move_and_nothing_is_missed(
    broker: BrokerUnderTest, tmp_path: Path, unique: str
) -> None:
    rng = random.Random(SEED)
    victim = rng.randrange(3)
    n = 48
    kill_at = rng.randint(8, 16)
    with smtp_server() as (inbox, smtp_port):
        rig = Rig(tmp_path, unique, smtp_port, partitions=6)
        rig.use_broker(broker)
        alert = rig.start("alert")
        matchers = [rig.start("match", name=f"match-{i}") for i in range(3)]
        lag = "newsmon_consumer_lag_messages"
        # The stream starts once every matcher owns partitions: started earlier, on a loaded machine it can
        # be over (8 s at 6/s) before three matchers have loaded spaCy and joined, and nothing is mid-stream.
        try:
            rig.wait_for(
                "every matcher owning partitions",
                owning(*matchers),
                60,
                alert,
                *matchers,
            )
        except AssertionError:
            rig.stop_all()  # no service left running after a failed start
            raise
        before = [m.label_values(lag, "partition") for m in matchers]
        with Stream(broker, unique, n, per_s=6, partitions=6) as stream:
            try:
                rig.wait_for(
                    f"{kill_at} alerts", lambda: len(inbox.snapshot()) >= kill_at, 60, alert, *matchers
                )
                matchers[victim].signal(signal.SIGKILL)
                matchers[victim].wait(10)
                assert stream.sent < n, "killed mid-stream"
                survivors = [m for i, m in enumerate(matchers) if i != victim]
                rig.wait_for(
                    "the survivors taking every partition over",
                    lambda: (
                        set().union(*(m.label_values(lag, "partition") for m in survivors))
                        == set(map(str, range(6)))
                    ),
                    60,
                    alert,
                    *survivors,
                )
                rig.wait_for(f"all {n} alerts", lambda: len(inbox.snapshot()) >= n, 90, alert, *survivors)
                time.sleep(3)
            finally:
                codes = rig.stop_all()

    context = f"seed {SEED}\n{rig.diagnostics()}"
    assert set().union(*before) == set(map(str, range(6))), before
    assert all(len(p) == 2 for p in before), f"6 partitions split 2/2/2 among 3 matchers: {before}"
    assert inbox.duplicates() == {}, context
    assert sorted(inbox.snapshot()) == sorted(subject(k) for k in range(n)), context
    assert codes[f"match-{victim}"] == -signal.SIGKILL
    assert {k: v for k, v in codes.items() if k != f"match-{victim}"} == {
        "alert": 0,
        **{f"match-{i}": 0 for i in range(3) if i != victim},
    }
