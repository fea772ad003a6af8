"""Logging set-up: loguru configured once by the entry point, never by library code.

Off a TTY every line is one compact JSON object, for journald and log shippers::

    {"ts": "2026-12-01T21:26:32.123Z", "level": "INFO", "msg": "...", "actor": "http",
     "request_id": "...", "exc": "Traceback ...", <extra fields, flat>}

``request_id`` and ``exc`` appear only when there is one. Records of the standard ``logging``
module (asyncpg, hypercorn, trio-asyncio) and Python warnings are routed into the same sink,
so the stream is all one format.
"""

from __future__ import annotations

import json
import logging
import sys
import traceback
from datetime import UTC
from typing import Any, TextIO

from loguru import logger

__all__ = ["LEVELS", "configure_logging", "json_line"]

LEVELS = ("TRACE", "DEBUG", "INFO", "SUCCESS", "WARNING", "ERROR", "CRITICAL")

_HUMAN = (
    "<green>{time:YYYY-MM-DD HH:mm:ss.SSS}</green> <level>{level: <7}</level> "
    "<cyan>{extra[actor]}</cyan> {extra[request_id]} {message}"
)
# Extras every line has; they are the fixed keys, not repeated as extra fields.
_FIXED = {"actor", "request_id"}
_KEYS = {"ts", "level", "msg", "actor", "request_id", "exc"}
_NO_REQUEST = "-"


def json_line(record: Any) -> str:
    """One log record as a compact JSON line (see the module docstring)."""
    extra = record["extra"]
    doc: dict[str, Any] = {
        "ts": record["time"]
        .astimezone(UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z"),
        "level": record["level"].name,
        "msg": record["message"],
        "actor": extra.get("actor", _NO_REQUEST),
    }
    request_id = extra.get("request_id", _NO_REQUEST)
    if request_id not in (None, _NO_REQUEST):
        doc["request_id"] = request_id
    for key, value in extra.items():
        if key not in _FIXED and key not in doc:
            doc[key] = value
    exception = record["exception"]
    if exception is not None and exception.type is not None:
        doc["exc"] = "".join(
            traceback.format_exception(exception.type, exception.value, exception.traceback)
        ).rstrip()
    try:
        return json.dumps(doc, default=str, ensure_ascii=False, separators=(",", ":"))
    except (TypeError, ValueError):
        # An extra JSON cannot hold (non-string keys, a cycle): the line must still be one
        # JSON object, so the extras go as their repr.
        safe = {k: v if k in _KEYS else repr(v) for k, v in doc.items()}
        return json.dumps(safe, default=str, ensure_ascii=False, separators=(",", ":"))


class _JsonSink:
    """Writes :func:`json_line` of each message to ``out``."""

    def __init__(self, out: TextIO) -> None:
        self._out = out

    def write(self, message: Any) -> None:
        self._out.write(json_line(message.record) + "\n")
        self._out.flush()


class _ToLoguru(logging.Handler):
    """Forwards standard-library log records to loguru, keeping their level and logger name."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            try:
                level: str | int = logger.level(record.levelname).name
            except ValueError:
                level = record.levelno
            logger.bind(actor=record.name).opt(exception=record.exc_info).log(
                level, record.getMessage().rstrip()
            )
        except Exception:  # noqa: BLE001 -- a library's bad log call must not raise in it
            self.handleError(record)


def configure_logging(
    *, level: str = "INFO", json: bool | None = None, sink: TextIO | None = None
) -> None:
    """Human format on a TTY, JSON lines otherwise (``json`` forces one or the other).

    Also routes the ``logging`` module and warnings into loguru (idempotent).
    """
    out = sink if sink is not None else sys.stderr
    as_json = (not out.isatty()) if json is None else json
    logger.remove()
    logger.configure(extra={"actor": "-", "request_id": _NO_REQUEST})
    if as_json:
        # A callable format: loguru then leaves the traceback to json_line (formatted once).
        logger.add(_JsonSink(out), level=level, format=lambda _record: "{message}")
    else:
        logger.add(out, level=level, format=_HUMAN, backtrace=False, diagnose=False)
    root = logging.getLogger()
    root.handlers = [_ToLoguru()]
    # Libraries' INFO is chatter about their internals (pgserver logs every command it runs);
    # their warnings and errors are for the operator, their details for debugging.
    root.setLevel(logging.DEBUG if level in ("TRACE", "DEBUG") else logging.WARNING)
    logging.captureWarnings(True)
