"""``revaer settings patch``: apply a partial settings changeset from a JSON file."""

from __future__ import annotations

import json

import click

from revaer.api.models import API_KEY_HEADER, SettingsPatchResponse
from revaer.cli._context import CommandGroup, Invocation, pass_invocation
from revaer.cli._errors import InputError
from revaer.cli._wire import decode_settings_patch

__all__ = ["read_changeset", "settings"]


@click.group(cls=CommandGroup)
def settings() -> None:
    """Change the daemon's configuration (requires an API key)."""


@settings.command("patch")
@click.option(
    "--file",
    "path",
    required=True,
    metavar="PATH",
    help="JSON file with a partial settings changeset ('-' reads stdin).",
)
@pass_invocation
def patch(invocation: Invocation, path: str) -> None:
    """Apply a partial settings changeset; omitted fields stay as they are."""
    api_key = invocation.require_api_key()
    changeset = read_changeset(path)
    with invocation.open_client() as api:
        response = decode_settings_patch(
            api.request(
                "PATCH",
                "/admin/settings",
                body=changeset,
                headers={API_KEY_HEADER: api_key.header_value()},
            )
        )
    invocation.console.result(response, _patch_table(response))


def read_changeset(path: str) -> dict[str, object]:
    """The JSON object in ``path`` (``-``: stdin); ``InputError`` naming the file otherwise."""
    param = f"--file {path}"
    try:
        with click.open_file(path, encoding="utf-8") as stream:
            text = stream.read()
    except UnicodeDecodeError:
        raise InputError(param, "cannot read it (not UTF-8 text)") from None
    except OSError as exc:
        raise InputError(param, f"cannot read it ({exc.strerror or exc})") from None
    try:
        document = json.loads(text, parse_constant=_reject_constant)
    except ValueError as exc:
        raise InputError(param, f"not valid JSON ({exc})") from None
    if not isinstance(document, dict):
        raise InputError(param, "must hold a JSON object (a partial settings changeset)")
    return document


def _reject_constant(name: str) -> object:
    # NaN and Infinity are not JSON, although Python's parser accepts them by default.
    raise ValueError(f"{name} is not allowed")


def _patch_table(response: SettingsPatchResponse) -> list[str]:
    lines = [f"revision: {response['revision']}"]
    issued = response.get("issued_api_keys", [])
    if issued:
        lines.append("issued api keys (shown once; store them securely now):")
        lines.extend(f"  {key}" for key in issued)
    return lines
