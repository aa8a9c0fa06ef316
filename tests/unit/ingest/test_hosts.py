"""The request budget per host, with the clock passed in."""

from __future__ import annotations

import pytest

from monitor.ingest.hosts import HostBudget


def test_a_minutes_worth_at_once_then_the_budgets_pace() -> None:
    budget = HostBudget(per_minute=6)  # one request every 10 s
    assert [budget.take("a", 0.0) for _ in range(7)] == [True] * 6 + [False]
    assert budget.ready_at("a", 0.0) == pytest.approx(10.0)
    assert not budget.take("a", 9.0)
    assert budget.take("a", 10.0)
    assert not budget.take("a", 10.0)
    assert budget.take("b", 10.0), "each host has its own budget"


def test_an_idle_host_saves_up_at_most_a_minutes_worth() -> None:
    budget = HostBudget(per_minute=6)
    for _ in range(6):
        budget.take("a", 0.0)
    taken = sum(budget.take("a", 3600.0) for _ in range(20))
    assert taken == 6


def test_a_blocked_host_gets_nothing_until_the_block_ends() -> None:
    budget = HostBudget(per_minute=600)
    budget.block("a", until=30.0)
    budget.block("a", until=5.0)  # a shorter Retry-After later does not shorten the pause
    assert not budget.take("a", 29.9)
    assert budget.ready_at("a", 0.0) == 30.0
    assert budget.take("a", 30.0)
    assert budget.take("b", 0.0)


def test_a_budget_must_allow_something() -> None:
    with pytest.raises(ValueError, match="per_minute"):
        HostBudget(0)
