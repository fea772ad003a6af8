"""What the benchmark scripts share: ``name=value`` figures and ``#`` notes on stdout, and a
numeric option with a floor. (``scripts/_bench_*.py`` run with this directory on sys.path.)"""

from __future__ import annotations

import argparse
import sys

__all__ = ["at_least", "emit", "note"]


def emit(name: str, value: float | int | str) -> None:
    """Write one ``name=value`` figure to stdout (floats with three decimals)."""
    if isinstance(value, float):
        value = f"{value:.3f}"
    sys.stdout.write(f"{name}={value}\n")
    sys.stdout.flush()


def note(text: str) -> None:
    """Write one ``# comment`` line to stdout, to explain the figures around it."""
    sys.stdout.write(f"# {text}\n")
    sys.stdout.flush()


def at_least(minimum: int, text: str) -> int:
    """An ``argparse`` type: an integer of at least ``minimum``."""
    value = int(text)
    if value < minimum:
        raise argparse.ArgumentTypeError(f"must be at least {minimum}")
    return value
