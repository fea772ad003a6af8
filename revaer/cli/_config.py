"""``revaer config get``: show the configuration snapshot (no API key needed)."""

from __future__ import annotations

import click

from revaer.api.models import ApiKeyView, ConfigSnapshotDoc, RateLimitDoc
from revaer.cli._context import CommandGroup, Invocation, pass_invocation
from revaer.cli._output import align_columns, flatten, format_value
from revaer.cli._wire import decode_snapshot

__all__ = ["config", "snapshot_table"]

SNAPSHOT_PATH = "/.well-known/revaer.json"


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


def snapshot_table(snapshot: ConfigSnapshotDoc) -> list[str]:
    """``revision = n``, then ``section.field = value`` lines, then secrets and API keys."""
    lines = [f"revision = {snapshot['revision']}"]
    for section in ("app_profile", "engine_profile", "fs_policy"):
        lines.extend(
            f"{path} = {format_value(value)}" for path, value in flatten(section, snapshot[section])
        )
    lines.append(f"secrets = {', '.join(snapshot['secrets']) or '(none)'}")
    if not snapshot["api_keys"]:
        lines.append("api_keys = (none)")
        return lines
    lines.append("api_keys:")
    rows = [_key_row(key) for key in snapshot["api_keys"]]
    header = ("KEY_ID", "LABEL", "ENABLED", "RATE_LIMIT", "EXPIRES_AT")
    lines.extend(f"  {line}" for line in align_columns(header, rows))
    return lines


def _key_row(key: ApiKeyView) -> tuple[str, str, str, str, str]:
    return (
        key["key_id"],
        key["label"],
        format_value(key["enabled"]),
        _rate_limit(key.get("rate_limit")),
        key.get("expires_at") or "-",
    )


def _rate_limit(limit: RateLimitDoc | None) -> str:
    if limit is None:
        return "unlimited"
    return f"{limit['burst']}/{limit['per_seconds']}s"
