"""Fixtures shared by the runtime tests."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest
from loguru import logger

if TYPE_CHECKING:
    from loguru import Message, Record


@pytest.fixture
def log_records() -> Iterator[list[Record]]:
    """Every loguru record emitted during the test."""
    records: list[Record] = []

    def sink(message: Message) -> None:
        records.append(message.record)

    handler_id = logger.add(sink, level="DEBUG")
    yield records
    logger.remove(handler_id)
