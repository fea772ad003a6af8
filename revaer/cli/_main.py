"""The ``revaer`` command: global options, command registration, exit codes and telemetry.

The root group turns every ``CliError`` a command raises into output on stderr and the
matching exit code, then reports the outcome to the telemetry endpoint if one is set. New
command modules define a click command or ``CommandGroup`` and are added at the bottom.
"""

from __future__ import annotations

import time
import uuid
from typing import Any
from urllib.parse import urlsplit

import click

from revaer.cli._config import config
from revaer.cli._context import CommandGroup, Invocation, Wiring, command_path
from revaer.cli._errors import CliError, ExitCode
from revaer.cli._keys import keys
from revaer.cli._output import Console, OutputFormat
from revaer.cli._params import API_URL, SECONDS
from revaer.cli._secrets import Redactor
from revaer.cli._settings import settings
from revaer.cli._setup import setup
from revaer.cli._tail import tail
from revaer.cli._telemetry import outcome_event, send_outcome
from revaer.cli._torrents import action, ls, select, status, torrent

__all__ = ["DEFAULT_API_URL", "cli", "main"]

DEFAULT_API_URL = "http://127.0.0.1:7070"
_ABORTED = 1  # click's own exit code for Ctrl-C / EOF at a prompt


class _RootGroup(CommandGroup):
    """Maps command failures to output and exit codes, then reports the outcome."""

    def invoke(self, ctx: click.Context) -> Any:
        """Run the resolved command; render a ``CliError`` and exit with its code."""
        started = time.monotonic()
        exit_code: int = ExitCode.FAILURE
        try:
            result = super().invoke(ctx)
        except CliError as error:
            exit_code = error.exit_code
            invocation = ctx.find_object(Invocation)
            if invocation is None:
                raise
            invocation.console.failure(error, request_id=invocation.request_id)
            raise click.exceptions.Exit(exit_code) from error
        except click.exceptions.Exit as stop:
            exit_code = stop.exit_code
            raise
        except click.ClickException as error:
            exit_code = error.exit_code
            raise
        except click.Abort:
            exit_code = _ABORTED
            raise
        else:
            exit_code = ExitCode.OK
            return result
        finally:
            _report_outcome(ctx, exit_code, time.monotonic() - started)


def _report_outcome(ctx: click.Context, exit_code: int, duration_secs: float) -> None:
    invocation = ctx.find_object(Invocation)
    command = command_path(ctx)
    if invocation is None or invocation.telemetry_endpoint is None or not command:
        return
    event = outcome_event(
        command,
        exit_code=exit_code,
        request_id=invocation.request_id,
        duration_secs=duration_secs,
    )
    send_outcome(invocation.telemetry_endpoint, event, transport=invocation.transport)


@click.group(
    name="revaer",
    cls=_RootGroup,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.option(
    "--api-url",
    envvar="REVAER_API_URL",
    show_envvar=True,
    default=DEFAULT_API_URL,
    show_default=True,
    type=API_URL,
    help="Base URL of the Revaer API.",
)
@click.option(
    "--api-key",
    envvar="REVAER_API_KEY",
    show_envvar=True,
    metavar="KEY_ID:SECRET",
    help="API key, for commands that need one.",
)
@click.option(
    "--timeout",
    envvar="REVAER_HTTP_TIMEOUT_SECS",
    show_envvar=True,
    default=10.0,
    show_default=True,
    type=SECONDS,
    help="Per-request HTTP timeout in seconds.",
)
@click.option(
    "--format",
    "output_format",
    type=click.Choice([member.value for member in OutputFormat]),
    default=OutputFormat.TABLE.value,
    show_default=True,
    help="Result format; json prints exactly one document on stdout.",
)
@click.option(
    "-v",
    "--verbose",
    is_flag=True,
    help="Log each request and response on stderr (credentials masked).",
)
@click.option("--telemetry-endpoint", envvar="REVAER_TELEMETRY_ENDPOINT", hidden=True)
@click.version_option(package_name="revaer", prog_name="revaer")
@click.pass_context
def cli(
    ctx: click.Context,
    *,
    api_url: str,
    api_key: str | None,
    timeout: float,
    output_format: str,
    verbose: bool,
    telemetry_endpoint: str | None,
) -> None:
    """Drive a Revaer daemon over its HTTP API.

    Exit codes: 0 success, 2 invalid input (here or reported by the server), 3 any other
    failure (unreachable server, server error, unexpected answer).
    """
    wiring = ctx.obj if isinstance(ctx.obj, Wiring) else Wiring()
    redactor = Redactor()
    redactor.add_api_key(api_key)
    redactor.add(urlsplit(api_url).password)
    ctx.obj = Invocation(
        api_url=api_url,
        api_key=api_key,
        timeout=timeout,
        request_id=uuid.uuid4().hex,
        console=Console(format=OutputFormat(output_format), redactor=redactor, verbose=verbose),
        telemetry_endpoint=telemetry_endpoint or None,
        transport=wiring.transport,
    )


def main() -> None:
    """Console-script entry point (``revaer``): run the CLI and exit with its code."""
    cli()


cli.add_command(setup)
cli.add_command(settings)
cli.add_command(config)
cli.add_command(torrent)
cli.add_command(ls)
cli.add_command(status)
cli.add_command(select)
cli.add_command(action)
cli.add_command(tail)
cli.add_command(keys)
