"""The JSON log format: one compact object per line, every source routed into it."""

from __future__ import annotations

import io
import json
import logging
import warnings
from collections.abc import Iterator
from typing import Any

import pytest
from loguru import logger

from revaer.telemetry import configure_logging


@pytest.fixture
def out() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    configure_logging(level="INFO", json=True, sink=stream)
    yield stream
    # Back to loguru's default so other tests' sinks are not disturbed.
    logger.remove()
    logger.add(io.StringIO(), level="DEBUG")
    logging.getLogger().handlers = []
    logging.captureWarnings(False)


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_line_has_the_fixed_keys_and_flat_extras(out: io.StringIO) -> None:
    logger.bind(actor="engine").info("added {} torrents", 3, count=3)

    (line,) = lines(out)
    assert set(line) == {"ts", "level", "msg", "actor", "count"}
    assert line["msg"] == "added 3 torrents"
    assert line["level"] == "INFO" and line["actor"] == "engine" and line["count"] == 3
    assert line["ts"].endswith("Z") and "T" in line["ts"]
    # Compact: no spaces after separators, far from loguru's ~700-byte serialised record.
    assert ", " not in out.getvalue() and len(out.getvalue()) < 150


def test_request_id_appears_only_inside_a_request(out: io.StringIO) -> None:
    logger.info("outside")
    with logger.contextualize(request_id="r-1"):
        logger.info("inside")

    outside, inside = lines(out)
    assert "request_id" not in outside
    assert inside["request_id"] == "r-1"


def _boom() -> None:
    raise ValueError("boom")


def test_an_exception_is_formatted_once_under_exc(out: io.StringIO) -> None:
    try:
        _boom()
    except ValueError:
        logger.exception("failed")

    (line,) = lines(out)
    assert line["msg"] == "failed"
    assert line["exc"].startswith("Traceback") and line["exc"].endswith("ValueError: boom")
    assert out.getvalue().count("ValueError: boom") == 1


def test_standard_logging_and_warnings_are_routed_into_the_same_stream(
    out: io.StringIO,
) -> None:
    logging.getLogger("asyncpg").warning("connection %s lost", "x")
    logging.getLogger("hypercorn.error").info("chatter")  # library INFO stays out
    with warnings.catch_warnings():
        warnings.simplefilter("always")  # the suite turns warnings into errors
        warnings.warn("old API", DeprecationWarning, stacklevel=1)

    records = lines(out)
    assert [r["actor"] for r in records] == ["asyncpg", "py.warnings"]
    assert records[0]["msg"] == "connection x lost" and records[0]["level"] == "WARNING"
    assert "DeprecationWarning: old API" in records[1]["msg"]


def test_debug_lets_library_details_through() -> None:
    stream = io.StringIO()
    configure_logging(level="DEBUG", json=True, sink=stream)
    try:
        logging.getLogger("hypercorn.error").debug("detail")
        assert lines(stream)[0]["msg"] == "detail"
    finally:
        logger.remove()
        logging.getLogger().handlers = []
        logging.captureWarnings(False)


def test_an_extra_json_cannot_hold_still_gives_one_json_line(out: io.StringIO) -> None:
    logger.info("odd", mapping={(1, 2): "tuple key"})

    (line,) = lines(out)
    assert line["msg"] == "odd" and "tuple key" in line["mapping"]


def test_a_bad_library_log_call_does_not_raise_in_the_library(out: io.StringIO) -> None:
    logging.raiseExceptions = False  # what logging does in production: report, don't raise
    try:
        logging.getLogger("asyncpg").warning("%d connections", "not a number")
    finally:
        logging.raiseExceptions = True
    assert lines(out) == []
