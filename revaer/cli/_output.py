"""Everything the CLI writes: results on stdout, errors and diagnostics on stderr.

With ``--format json`` a successful command writes exactly one JSON document to stdout and
nothing else; errors go to stderr as one JSON document too. With ``--format table`` both are
short human-readable lines. Error and diagnostic text passes through the redactor; results do
not (a command that issues a key is meant to show it).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

import click

from revaer.cli._errors import CliError, ExitCode, ProblemError
from revaer.cli._secrets import Redactor

__all__ = ["Console", "OutputFormat", "align_columns", "flatten", "format_value"]


class OutputFormat(StrEnum):
    """How results and errors are rendered."""

    TABLE = "table"
    JSON = "json"


@dataclass(frozen=True)
class Console:
    """Writes one invocation's output in its chosen format."""

    format: OutputFormat
    redactor: Redactor
    verbose: bool = False

    def result(self, document: Mapping[str, object], table: Iterable[str]) -> None:
        """Write a command's result: ``document`` as JSON, or the ``table`` lines."""
        if self.format is OutputFormat.JSON:
            click.echo(_dumps(document))
        else:
            for line in table:
                click.echo(line)

    def failure(self, error: CliError, *, request_id: str) -> None:
        """Describe ``error`` on stderr, naming the request id."""
        if self.format is OutputFormat.JSON:
            text = _dumps(_error_document(error, request_id))
        else:
            text = "\n".join(_error_lines(error, request_id))
        click.echo(self.redactor.redact(text), err=True)

    def diagnostic(self, line: str) -> None:
        """A ``--verbose`` line about the CLI's own traffic (stderr, redacted)."""
        if self.verbose:
            click.echo(self.redactor.redact(f"revaer: {line}"), err=True)


def _error_document(error: CliError, request_id: str) -> Mapping[str, object]:
    if isinstance(error, ProblemError):
        # The body as received; our request id fills in if the server did not echo one.
        return {**error.document, "request_id": error.document.get("request_id", request_id)}
    document: dict[str, object] = {
        "title": "invalid input" if error.exit_code is ExitCode.VALIDATION else "request failed",
        "detail": error.message,
        "exit_code": int(error.exit_code),
    }
    if error.sent:  # an id the daemon never saw would only send the reader searching its log
        document["request_id"] = request_id
    return document


def _error_lines(error: CliError, request_id: str) -> list[str]:
    if not isinstance(error, ProblemError):
        lines = [f"Error: {error.message}"]
        if error.sent:
            lines.append(f"request id: {request_id}")
        return lines
    problem = error.problem
    headline = f"Error: {problem['title']} ({error.http_status})"
    if problem["detail"]:
        headline = f"{headline}: {problem['detail']}"
    lines = [headline]
    lines.extend(
        f"  {param['pointer'] or '(body)'}: {param['message']}"
        for param in problem.get("invalid_params", [])
    )
    if error.retry_after:
        lines.append(f"retry after: {_retry_after(error.retry_after)}")
    lines.append(f"request id: {problem.get('request_id', request_id)}")
    return lines


def _retry_after(value: str) -> str:
    # Retry-After is either delay-seconds or an HTTP date; only the former gets a unit.
    return f"{value} s" if value.isdigit() else value


def _dumps(document: Mapping[str, object]) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False)


def format_value(value: object) -> str:
    """A scalar as a table cell: strings bare, everything else as compact JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def flatten(prefix: str, document: Mapping[str, object]) -> list[tuple[str, object]]:
    """``(dotted.path, value)`` pairs for every leaf of a nested object, in document order.

    An empty object is a leaf (shown as ``{}``) so a section never silently disappears.
    """
    pairs: list[tuple[str, object]] = []
    for key, value in document.items():
        path = f"{prefix}.{key}"
        if isinstance(value, Mapping) and value:
            pairs.extend(flatten(path, value))
        else:
            pairs.append((path, value))
    return pairs


def align_columns(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    """Left-aligned columns separated by two spaces, header first."""
    table = [list(header), *(list(row) for row in rows)]
    widths = [max(len(row[column]) for row in table) for column in range(len(header))]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in table
    ]
