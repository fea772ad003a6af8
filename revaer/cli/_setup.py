"""``revaer setup start|complete``: the one-time bootstrap of a fresh daemon."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

import click

from revaer.api.models import (
    SETUP_TOKEN_HEADER,
    ApiKeyChange,
    SecretChange,
    SettingsChangesetDoc,
    SetupCompleteResponse,
    SetupStartRequest,
    SetupStartResponse,
)
from revaer.cli._context import CommandGroup, Invocation, pass_invocation
from revaer.cli._params import ABSOLUTE_PATH, IP_ADDRESS, PORT
from revaer.cli._wire import decode_setup_complete, decode_setup_start

__all__ = ["setup", "setup_changeset"]

PASSPHRASE_SECRET = "libtorrent.passphrase"  # noqa: S105 -- the name, not a value


@click.group(cls=CommandGroup)
def setup() -> None:
    """Bootstrap a fresh daemon: issue a setup token, then complete setup with it."""


@setup.command("start")
@click.option("--issued-by", metavar="LABEL", help="Who asked for the token (server default: api).")
@click.option(
    "--ttl-seconds",
    type=click.IntRange(min=60, max=86_400),
    help="Token lifetime in seconds, 60–86400 (server default: 900).",
)
@pass_invocation
def start(invocation: Invocation, issued_by: str | None, ttl_seconds: int | None) -> None:
    """Issue a one-time setup token and print it with its expiry."""
    body = SetupStartRequest()
    if issued_by is not None:
        body["issued_by"] = issued_by
    if ttl_seconds is not None:
        body["ttl_seconds"] = ttl_seconds
    with invocation.open_client() as api:
        response = decode_setup_start(api.request("POST", "/admin/setup/start", body=body))
    invocation.console.result(response, _start_table(response))


@setup.command("complete")
@click.option("--instance", required=True, metavar="NAME", help="Instance name shown to operators.")
@click.option("--bind", required=True, type=IP_ADDRESS, help="IP address the API listens on.")
@click.option("--port", required=True, type=PORT, help="TCP port the API listens on.")
@click.option("--resume-dir", required=True, type=ABSOLUTE_PATH, help="Fast-resume directory.")
@click.option("--download-root", required=True, type=ABSOLUTE_PATH, help="In-progress payloads.")
@click.option("--library-root", required=True, type=ABSOLUTE_PATH, help="Completed artefacts.")
@click.option("--api-key-label", required=True, metavar="LABEL", help="Label of the first key.")
@click.option("--api-key-id", default="admin", show_default=True, help="Id of the first key.")
@click.option("--passphrase", metavar="VALUE", help="Store as the libtorrent passphrase secret.")
@click.option(
    "--token",
    required=True,
    envvar="REVAER_SETUP_TOKEN",
    show_envvar=True,
    help="The token from `revaer setup start`.",
)
@pass_invocation
def complete(
    invocation: Invocation,
    *,
    instance: str,
    bind: str,
    port: int,
    resume_dir: str,
    download_root: str,
    library_root: str,
    api_key_label: str,
    api_key_id: str,
    passphrase: str | None,
    token: str,
) -> None:
    """Apply the first configuration, activate the daemon and print its first API key."""
    invocation.keep_secret(token)
    invocation.keep_secret(passphrase)
    changeset = setup_changeset(
        instance=instance,
        bind=bind,
        port=port,
        resume_dir=resume_dir,
        download_root=download_root,
        library_root=library_root,
        api_key_id=api_key_id,
        api_key_label=api_key_label,
        passphrase=passphrase,
    )
    with invocation.open_client() as api:
        response = decode_setup_complete(
            api.request(
                "POST",
                "/admin/setup/complete",
                body=changeset,
                headers={SETUP_TOKEN_HEADER: token},
            )
        )
    invocation.console.result(response, _complete_table(response, invocation.api_url))


def setup_changeset(
    *,
    instance: str,
    bind: str,
    port: int,
    resume_dir: str,
    download_root: str,
    library_root: str,
    api_key_id: str,
    api_key_label: str,
    passphrase: str | None,
) -> SettingsChangesetDoc:
    """The changeset ``setup complete`` sends (the server forces the profile active)."""
    changeset = SettingsChangesetDoc(
        app_profile={"instance_name": instance, "bind_addr": bind, "http_port": port},
        engine_profile={"resume_dir": resume_dir, "download_root": download_root},
        fs_policy={"library_root": library_root},
        api_keys=[ApiKeyChange(op="upsert", key_id=api_key_id, label=api_key_label, enabled=True)],
    )
    if passphrase is not None:
        changeset["secrets"] = [SecretChange(op="set", name=PASSPHRASE_SECRET, value=passphrase)]
    return changeset


def _start_table(response: SetupStartResponse) -> list[str]:
    return [f"token: {response['token']}", f"expires_at: {response['expires_at']}"]


def _complete_table(response: SetupCompleteResponse, api_url: str) -> list[str]:
    profile = response["app_profile"]
    lines = [
        f"instance: {profile.get('instance_name', '')}",
        f"revision: {response['revision']}",
        f"api_key: {response['api_key']}",
        "Store this API key securely now: it is shown only once.",
    ]
    moved_to = _new_api_url(api_url, profile.get("bind_addr"), profile.get("http_port"))
    if moved_to is not None:
        lines.append(
            f"The daemon now listens on {moved_to} (unless revaer-app was started with "
            f"--bind/--port): use --api-url {moved_to} or REVAER_API_URL from now on."
        )
    return lines


def _new_api_url(api_url: str, bind: object, port: object) -> str | None:
    """The URL the daemon moves to after setup, or None when it stays at ``api_url``."""
    if not isinstance(bind, str) or not isinstance(port, int):
        return None
    current = urlsplit(api_url)
    # A wildcard bind is reachable at the host the CLI already uses.
    wildcard = bind in ("0.0.0.0", "::")  # noqa: S104 -- compared, not bound
    host = (current.hostname or "127.0.0.1") if wildcard else bind
    netloc = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    if current.hostname == host and current.port == port:
        return None
    return urlunsplit((current.scheme or "http", netloc, "", "", ""))
