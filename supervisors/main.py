"""``revaer-app``: the daemon's entry point and the only place that reads the environment."""

from __future__ import annotations

import ipaddress
import signal
import subprocess
import sys
from pathlib import Path

import click
import trio
from loguru import logger

import revaer
from revaer.db import open_asyncio_loop
from revaer.errors import FatalError, RevaerError
from revaer.runtime import RestartBudgetExceeded, describe
from revaer.telemetry import LEVELS, configure_logging
from supervisors._lock import DataDirLock
from supervisors._settings import DaemonSettings
from supervisors._tree import Daemon, run_daemon

__all__ = ["main"]

_log = logger.bind(actor="root")
EXIT_FATAL = 1


def _migrations_dir() -> Path:
    # A wheel ships sql/ as the package data directory revaer/migrations; a source checkout
    # (editable install) keeps sql/ beside the packages.
    packaged = Path(revaer.__file__).resolve().parent / "migrations"
    return packaged if packaged.is_dir() else Path(__file__).resolve().parent.parent / "sql"


def _build_sha(explicit: str | None) -> str:
    if explicit:
        return explicit
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"],  # noqa: S607 -- best effort, PATH lookup is fine
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=2,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() or "unknown"


async def _serve(settings: DaemonSettings) -> None:
    def ready(daemon: Daemon) -> None:
        _log.info(
            "revaer ready on {} (revision {})",
            ", ".join(daemon.urls),
            daemon.snapshots.value.revision,
        )

    async with open_asyncio_loop(), trio.open_nursery() as nursery:
        with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:

            async def stop_on_signal() -> None:
                async for signum in signals:
                    _log.info("{} received; shutting down", signal.Signals(signum).name)
                    nursery.cancel_scope.cancel()
                    return

            nursery.start_soon(stop_on_signal)
            await run_daemon(settings, on_ready=ready)
            nursery.cancel_scope.cancel()


def _fatal_cause(exc: BaseException) -> RevaerError | None:
    if isinstance(exc, FatalError | RestartBudgetExceeded):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            found = _fatal_cause(inner)
            if found is not None:
                return found
    return None


def _fatal_line(error: RevaerError) -> str:
    if isinstance(error, RestartBudgetExceeded) and error.__cause__ is not None:
        return f"{error.detail}; last error: {describe(error.__cause__)}; see the log above"
    return error.detail


def _report_stop(exc: Exception, *, debug: bool) -> None:
    """The one line an operator reads when the daemon cannot go on (a trace only in debug)."""
    fatal = _fatal_cause(exc)
    if fatal is None:
        # Not an error we anticipated: the trace is what a bug report needs.
        _log.opt(exception=exc).critical(
            "revaer stopped on an unexpected error: {}; please report it with this log",
            describe(exc),
        )
        return
    _log.opt(exception=fatal if debug else None).error("revaer stopped: {}", _fatal_line(fatal))


@click.command(context_settings={"help_option_names": ["-h", "--help"], "show_default": True})
@click.version_option(revaer.__version__, "-V", "--version", prog_name="revaer-app")
@click.option(
    "--data-dir",
    envvar="REVAER_DATA_DIR",
    show_envvar=True,
    type=click.Path(file_okay=False, path_type=Path),
    default=Path(".revaer-data"),
    help="State directory: lock, secrets key, embedded PostgreSQL.",
)
@click.option(
    "--bind",
    metavar="ADDRESS",
    envvar="REVAER_BIND_ADDR",
    show_envvar=True,
    help="HTTP bind address, IPv4 or IPv6 (else app_profile.bind_addr).",
)
@click.option(
    "--port",
    envvar="REVAER_HTTP_PORT",
    show_envvar=True,
    type=click.IntRange(0, 65535),
    help="HTTP port (else app_profile.http_port); 0 picks a free port.",
)
@click.option(
    "--database-url",
    metavar="URL",
    envvar="DATABASE_URL",
    show_envvar=True,
    help="PostgreSQL URL; without it an embedded server runs in the data dir.",
)
@click.option("--build-sha", envvar="REVAER_BUILD_SHA", hidden=True)
@click.option(
    "--log-level",
    envvar="REVAER_LOG_LEVEL",
    show_envvar=True,
    type=click.Choice(LEVELS, case_sensitive=False),
    default="INFO",
    help="Least severe level written; DEBUG adds the traceback to fatal errors.",
)
@click.option(
    "--log-format",
    envvar="REVAER_LOG_FORMAT",
    show_envvar=True,
    type=click.Choice(["auto", "human", "json"]),
    default="auto",
    help="auto: human on a TTY, JSON lines otherwise.",
)
def main(
    data_dir: Path,
    bind: str | None,
    port: int | None,
    database_url: str | None,
    build_sha: str | None,
    log_level: str,
    log_format: str,
) -> None:
    """Run the Revaer daemon until SIGTERM or SIGINT.

    Exit status: 0 after a signal, 1 when it cannot start or go on (one line says why and what
    to do), 2 for a bad flag.
    """
    level = log_level.upper()
    configure_logging(level=level, json=None if log_format == "auto" else log_format == "json")
    if bind is not None:
        try:
            bind = str(ipaddress.ip_address(bind))
        except ValueError:
            raise click.BadParameter(
                "must be an IPv4 or IPv6 address", param_hint="--bind"
            ) from None
    settings = DaemonSettings(
        data_dir=data_dir.resolve(),
        bind=bind,
        port=port,
        database_url=database_url or None,
        migrations_dir=_migrations_dir(),
        build_sha=_build_sha(build_sha),
    )
    try:
        with DataDirLock(settings.data_dir):
            trio.run(_serve, settings)
    except Exception as exc:  # noqa: BLE001 -- the process boundary: report and exit non-zero
        _report_stop(exc, debug=level in ("TRACE", "DEBUG"))
        sys.exit(EXIT_FATAL)
    _log.info("revaer stopped")
