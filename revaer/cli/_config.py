"""``revaer config get``: show the configuration snapshot (no API key needed)."""

from __future__ import annotations

import click

from revaer.api.models import PublicSnapshotDoc
from revaer.cli._context import CommandGroup, Invocation, pass_invocation
from revaer.cli._output import flatten, format_value
from revaer.cli._wire import decode_snapshot

__all__ = ["KEYS_HINT", "config", "snapshot_table"]

SNAPSHOT_PATH = "/.well-known/revaer.json"
KEYS_HINT = "api_keys = (not public; list them with: revaer keys ls)"


@click.group(cls=CommandGroup)
def config() -> None:
    """Read the daemon's configuration."""


@config.command("get")
@pass_invocation
def get(invocation: Invocation) -> None:
    """Print the current configuration snapshot and its revision."""
    with invocation.open_client() as api:
        snapshot = decode_snapshot(api.request("GET", SNAPSHOT_PATH))
    invocation.console.result(snapshot, snapshot_table(snapshot))


def snapshot_table(snapshot: PublicSnapshotDoc) -> list[str]:
    """``revision = n``, then ``section.field = value`` lines, then secret names.

    The public snapshot has no API keys (key ids are not published to unauthenticated
    callers); a last line says where to find them.
    """
    lines = [f"revision = {snapshot['revision']}"]
    for section in ("app_profile", "engine_profile", "fs_policy"):
        lines.extend(
            f"{path} = {format_value(value)}" for path, value in flatten(section, snapshot[section])
        )
    lines.append(f"secrets = {', '.join(snapshot['secrets']) or '(none)'}")
    lines.append(KEYS_HINT)
    return lines
