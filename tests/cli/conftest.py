"""Fixtures for the CLI tests."""

from __future__ import annotations

import pytest

from tests.cli.support import FakeApi


@pytest.fixture
def api() -> FakeApi:
    """A fresh scripted API that fails the test on any unscripted request."""
    return FakeApi()
