"""Per-invocation state shared by every command.

The root group builds one ``Invocation`` from the global options and stores it as click's
``obj``; commands receive it through ``pass_invocation``. Before that, ``obj`` may hold a
``Wiring``: the seams an embedding program or a test replaces (the HTTP transport).
"""

from __future__ import annotations

from dataclasses import dataclass

import click

from revaer.cli._errors import InputError
from revaer.cli._http import ApiClient, Transport
from revaer.cli._output import Console
from revaer.cli._secrets import ApiKey

__all__ = ["CommandGroup", "Invocation", "Wiring", "command_path", "pass_invocation"]

_COMMAND_PATH_KEY = "revaer.cli.command_path"


@dataclass(frozen=True)
class Wiring:
    """Replaceable collaborators, passed as click's ``obj`` (``CliRunner.invoke(obj=...)``).

    ``transport`` is used for every HTTP request of the invocation, telemetry included; it is
    shaped like ``httpx.BaseTransport`` and is not closed by the CLI.
    """

    transport: Transport | None = None


@dataclass(frozen=True)
class Invocation:
    """One run of the CLI: resolved global options, request id and output."""

    api_url: str
    api_key: str | None
    timeout: float
    request_id: str
    console: Console
    telemetry_endpoint: str | None
    transport: Transport | None

    def require_api_key(self) -> ApiKey:
        """The validated ``--api-key``; ``InputError`` (exit 2) when missing or malformed."""
        if self.api_key is None:
            raise InputError("--api-key", "required for this command (or set REVAER_API_KEY)")
        key = ApiKey.parse(self.api_key)
        if key is None:
            # Never echo the value: it is, or contains, a secret.
            raise InputError("--api-key", "must have the form key_id:secret")
        return key

    def keep_secret(self, value: str | None) -> None:
        """Mask ``value`` in every error and diagnostic line from now on."""
        self.console.redactor.add(value)

    def open_client(self) -> ApiClient:
        """A client for ``--api-url`` carrying this invocation's request id and timeout."""
        return ApiClient(
            self.api_url,
            request_id=self.request_id,
            timeout=self.timeout,
            transport=self.transport,
            log=self.console.diagnostic,
        )


pass_invocation = click.make_pass_decorator(Invocation)
"""Decorator passing the current ``Invocation`` as a command's first argument."""


class CommandGroup(click.Group):
    """A group that records which (sub)commands were resolved, for telemetry."""

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        """Resolve as click does, then append the command's name to the invocation's path."""
        name, command, rest = super().resolve_command(ctx, args)
        if command is not None and not ctx.resilient_parsing:
            # ``meta`` is one dict shared by the whole context chain.
            ctx.meta.setdefault(_COMMAND_PATH_KEY, []).append(command.name or name)
        return name, command, rest


def command_path(ctx: click.Context) -> str:
    """The resolved command words below the root, e.g. ``"setup start"`` (may be empty)."""
    words: list[str] = ctx.meta.get(_COMMAND_PATH_KEY, [])
    return " ".join(words)
