"""Metrics and logging set-up."""

from revaer.telemetry._logging import configure_logging
from revaer.telemetry._metrics import Metrics

__all__ = ["Metrics", "configure_logging"]
