"""Logging set-up: loguru configured once by the entry point, never by library code."""

from __future__ import annotations

import sys
from typing import TextIO

from loguru import logger

__all__ = ["configure_logging"]

_HUMAN = (
    "<green>{time:YYYY-MM-DD HH:mm:ss.SSS}</green> <level>{level: <7}</level> "
    "<cyan>{extra[actor]}</cyan> {extra[request_id]} {message}"
)


def configure_logging(
    *, level: str = "INFO", json: bool | None = None, sink: TextIO | None = None
) -> None:
    """Human format on a TTY, JSON lines otherwise (``json`` forces one or the other)."""
    out = sink if sink is not None else sys.stderr
    as_json = (not out.isatty()) if json is None else json
    logger.remove()
    logger.configure(extra={"actor": "-", "request_id": "-"})
    if as_json:
        logger.add(out, level=level, serialize=True, backtrace=False, diagnose=False)
    else:
        logger.add(out, level=level, format=_HUMAN, backtrace=False, diagnose=False)
