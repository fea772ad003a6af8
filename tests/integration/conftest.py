"""Fixtures for tests that run the daemon as a process."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.processes import Proc


@pytest.fixture
def procs() -> Iterator[list[Proc]]:
    """Daemons a test started; any still running at the end is killed."""
    running: list[Proc] = []
    yield running
    for proc in running:
        if proc.popen.poll() is None:
            proc.popen.kill()
            proc.popen.wait()
        proc.close()
