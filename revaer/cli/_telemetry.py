"""Optional outcome telemetry: one small JSON event per command, best effort.

Sent only when ``--telemetry-endpoint`` (``REVAER_TELEMETRY_ENDPOINT``) is set. The event
carries the command's name, outcome, exit code, request id and duration — never arguments,
URLs or credentials — and any failure to deliver it is ignored.
"""

from __future__ import annotations

from typing import TypedDict

from revaer.cli._errors import Outcome, outcome_of
from revaer.cli._http import Transport, post_quietly

__all__ = ["TELEMETRY_TIMEOUT_SECS", "OutcomeEvent", "outcome_event", "send_outcome"]

TELEMETRY_TIMEOUT_SECS = 1.0


class OutcomeEvent(TypedDict):
    """The document POSTed to the telemetry endpoint."""

    command: str
    outcome: Outcome
    exit_code: int
    request_id: str
    duration_ms: int


def outcome_event(
    command: str, *, exit_code: int, request_id: str, duration_secs: float
) -> OutcomeEvent:
    """Build the event for a finished command."""
    return OutcomeEvent(
        command=command,
        outcome=outcome_of(exit_code),
        exit_code=exit_code,
        request_id=request_id,
        duration_ms=max(0, round(duration_secs * 1000)),
    )


def send_outcome(endpoint: str, event: OutcomeEvent, *, transport: Transport | None) -> None:
    """POST ``event`` to ``endpoint`` with a short timeout; failures are swallowed."""
    post_quietly(
        endpoint,
        event,
        request_id=event["request_id"],
        timeout=TELEMETRY_TIMEOUT_SECS,
        transport=transport,
    )
