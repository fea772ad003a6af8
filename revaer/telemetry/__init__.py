"""Metrics and logging set-up."""

from revaer.telemetry._logging import LEVELS, configure_logging, json_line
from revaer.telemetry._metrics import Metrics

__all__ = ["LEVELS", "Metrics", "configure_logging", "json_line"]
