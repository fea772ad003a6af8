"""Exponential backoff with jitter, for the delay before a restart."""

from __future__ import annotations

import random
from dataclasses import dataclass

__all__ = ["Backoff"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Backoff:
    """``initial * multiplier**attempt`` seconds, capped at ``maximum``, scaled by jitter.

    Jitter spreads restarts of children that crashed together (e.g. when the database went
    away) so they do not all hit the dependency again in the same instant.
    """

    initial: float = 0.25
    maximum: float = 30.0
    multiplier: float = 2.0
    jitter: float = 0.1
    """Relative spread: the delay is scaled by a factor in ``[1 - jitter, 1 + jitter]``."""

    def __post_init__(self) -> None:
        if self.initial < 0 or self.maximum < self.initial:
            raise ValueError("need 0 <= initial <= maximum")
        if self.multiplier < 1:
            raise ValueError("multiplier must be >= 1")
        if not 0 <= self.jitter <= 1:
            raise ValueError("jitter must be within [0, 1]")

    def delay(self, attempt: int, rng: random.Random) -> float:
        """Seconds to wait before restart number ``attempt`` (0-based)."""
        if attempt < 0:
            raise ValueError("attempt must be >= 0")
        try:
            base = min(self.maximum, self.initial * self.multiplier**attempt)
        except OverflowError:
            # Huge attempt numbers are long past the cap.
            base = self.maximum
        return max(0.0, base * (1 + self.jitter * rng.uniform(-1, 1)))
