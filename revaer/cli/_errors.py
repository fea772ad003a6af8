"""Exit codes and the errors the CLI reports.

Every failure a command can meet is turned into one of these exceptions; the root group
renders it on stderr and exits with its code::

    CliError                base: reported on stderr, exits non-zero
    ├── InputError          (2) a flag, file or environment value is invalid; nothing was sent
    ├── ProblemError        (2|3) the server answered with an RFC 9457 problem document
    ├── RequestFailedError  (3) the request did not complete: refused, timed out, broken
    └── BadResponseError    (3) the server answered outside the contract (not JSON, wrong shape)

A ``ProblemError`` is a validation failure (2) only when it is a 4xx carrying ``invalid_params``
other than 409: fixing the input helps. A 409 (a stale ``expected_revision``, setup already done)
is a runtime failure (3) even when it points at a field: the input was fine, the state moved on,
so reload and retry. Every other problem (401, 404, 429, 5xx, ...) is a runtime failure too.

``sent`` says whether the request reached the server, i.e. whether its request id can be
looked up in the daemon log.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Literal

from revaer.api.models import ProblemDoc

__all__ = [
    "BadResponseError",
    "CliError",
    "ExitCode",
    "InputError",
    "Outcome",
    "ProblemError",
    "RequestFailedError",
    "outcome_of",
]

Outcome = Literal["success", "validation", "failure"]


class ExitCode(IntEnum):
    """Process exit codes, stable for scripts."""

    OK = 0
    VALIDATION = 2
    FAILURE = 3


def outcome_of(exit_code: int) -> Outcome:
    """Classify an exit code for telemetry: success, validation or (anything else) failure."""
    if exit_code == ExitCode.OK:
        return "success"
    if exit_code == ExitCode.VALIDATION:
        return "validation"
    return "failure"


class CliError(Exception):
    """A failure the CLI reports on stderr before exiting with ``exit_code``."""

    def __init__(self, message: str, *, exit_code: ExitCode, sent: bool = True) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code
        self.sent = sent


class InputError(CliError):
    """A flag, file or environment value failed client-side validation; nothing was sent.

    ``param`` names what the user has to fix (``--port``, ``--file changes.json``); it is
    never the offending value itself, which may be a secret.
    """

    def __init__(self, param: str, reason: str) -> None:
        super().__init__(f"{param}: {reason}", exit_code=ExitCode.VALIDATION, sent=False)
        self.param = param
        self.reason = reason


class ProblemError(CliError):
    """The server answered with a problem document.

    ``problem`` is the normalised document used for text output; ``document`` is the body
    exactly as received (extension members included), used for JSON output. ``retry_after``
    is the ``Retry-After`` header (a 429 or 503 says when to try again), if any.
    """

    def __init__(
        self,
        problem: ProblemDoc,
        document: dict[str, object],
        *,
        http_status: int,
        retry_after: str | None = None,
    ) -> None:
        is_validation = (
            400 <= http_status < 500 and http_status != 409 and bool(problem.get("invalid_params"))
        )
        super().__init__(
            f"{problem['title']} ({http_status})",
            exit_code=ExitCode.VALIDATION if is_validation else ExitCode.FAILURE,
        )
        self.problem = problem
        self.document = document
        self.http_status = http_status
        self.retry_after = retry_after


class RequestFailedError(CliError):
    """The request did not complete: connection refused, timeout, protocol error.

    ``sent`` is False when no connection was made (the daemon cannot have seen it).
    """

    def __init__(self, message: str, *, sent: bool = True) -> None:
        super().__init__(message, exit_code=ExitCode.FAILURE, sent=sent)


class BadResponseError(CliError):
    """The server answered, but not as the contract promises."""

    def __init__(self, message: str) -> None:
        super().__init__(message, exit_code=ExitCode.FAILURE)
