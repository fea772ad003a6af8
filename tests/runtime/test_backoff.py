"""Backoff: exponential growth, a cap, and bounded jitter."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from revaer.runtime import Backoff


def test_without_jitter_the_delay_doubles_up_to_the_cap() -> None:
    backoff = Backoff(initial=0.25, maximum=3.0, multiplier=2.0, jitter=0.0)
    rng = random.Random(0)
    assert [backoff.delay(n, rng) for n in range(6)] == [0.25, 0.5, 1.0, 2.0, 3.0, 3.0]


def test_huge_attempt_numbers_stay_at_the_cap() -> None:
    backoff = Backoff(jitter=0.0)
    assert backoff.delay(100_000, random.Random(0)) == backoff.maximum


@given(attempt=st.integers(0, 2_000), seed=st.integers())
def test_jitter_stays_within_its_bounds(attempt: int, seed: int) -> None:
    backoff = Backoff(initial=0.25, maximum=30.0, jitter=0.1)
    base = min(30.0, 0.25 * 2.0 ** min(attempt, 10))
    delay = backoff.delay(attempt, random.Random(seed))
    assert base * 0.9 - 1e-9 <= delay <= base * 1.1 + 1e-9
    assert 0.0 <= delay <= 30.0 * 1.1 + 1e-9


def test_jitter_spreads_the_delays() -> None:
    backoff = Backoff(initial=1.0, jitter=0.5)
    rng = random.Random(1)
    delays = {backoff.delay(0, rng) for _ in range(20)}
    assert len(delays) > 1
    assert all(0.5 <= d <= 1.5 for d in delays)


@pytest.mark.parametrize(
    "options",
    [
        {"initial": -1.0},
        {"initial": 5.0, "maximum": 1.0},
        {"multiplier": 0.5},
        {"jitter": 1.5},
        {"jitter": -0.1},
    ],
)
def test_nonsense_settings_are_rejected(options: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=r"initial|multiplier|jitter"):
        Backoff(**options)


def test_negative_attempts_are_rejected() -> None:
    with pytest.raises(ValueError, match="attempt"):
        Backoff().delay(-1, random.Random(0))
