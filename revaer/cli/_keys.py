"""``revaer keys ls|show|issue|rotate|revoke|enable|disable|update``: API keys (admin role).

Each command maps onto one route of ``/v1/keys``. ``issue`` and ``rotate`` print the new
``key_id:secret`` on stdout, once: it is the result the user asked for, so it is not masked
there, and it is registered with the redactor as soon as it arrives so that no error or
diagnostic line can show it. ``revoke`` gets a 204 without a body; with ``--format json`` it
prints ``{"key_id": ..., "revoked": true}`` so there is still one document on stdout.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, get_args
from urllib.parse import quote

import click

from revaer.api.models import (
    API_KEY_HEADER,
    ApiKeyIssued,
    ApiKeyIssueRequest,
    ApiKeyRotateRequest,
    ApiKeyUpdateRequest,
    ApiKeyView,
    RateLimitDoc,
    Role,
)
from revaer.cli._context import CommandGroup, Invocation, pass_invocation
from revaer.cli._errors import InputError
from revaer.cli._output import align_columns, format_value
from revaer.cli._params import RATE_LIMIT, TIMESTAMP
from revaer.cli._secrets import ApiKey
from revaer.cli._wire import decode_key, decode_key_issued, decode_key_list, decode_key_view

__all__ = ["keys"]

_ROLES: tuple[str, ...] = get_args(Role)
_SHOWN_ONCE = "Store this API key securely now: it is shown only once."
_F = TypeVar("_F", bound=Callable[..., Any])


def _format_rate(limit: RateLimitDoc | None) -> str:
    """``<burst>/<per_seconds>s`` (e.g. ``300/10s``), or ``unlimited``."""
    if limit is None:
        return "unlimited"
    return f"{limit['burst']}/{limit['per_seconds']}s"


def _headers(invocation: Invocation) -> dict[str, str]:
    return {API_KEY_HEADER: invocation.require_api_key().header_value()}


def _path_of(key_id: str) -> str:
    return "/v1/keys/" + quote(key_id, safe="")


def _key_lines(key: ApiKeyView) -> list[str]:
    return [
        f"key_id: {key['key_id']}",
        f"label: {key['label'] or '-'}",
        f"role: {key['role']}",
        f"enabled: {format_value(key['enabled'])}",
        f"rate_limit: {_format_rate(key['rate_limit'])}",
        f"expires_at: {key['expires_at'] or 'never'}",
        f"created_at: {key['created_at'] or '-'}",
        f"previous_secret_valid_until: {key['previous_secret_valid_until'] or '-'}",
    ]


def _rate_options(command: _F) -> _F:
    command = click.option(
        "--no-rate-limit", "unlimited", is_flag=True, help="No rate limit at all."
    )(command)
    return click.option(
        "--rate",
        type=RATE_LIMIT,
        metavar="BURST/SECONDS",
        help="At most BURST requests per SECONDS (e.g. 300/10).",
    )(command)


def _rate_limit(
    body: ApiKeyIssueRequest | ApiKeyUpdateRequest, rate: RateLimitDoc | None, unlimited: bool
) -> None:
    if rate is not None and unlimited:
        raise InputError("--rate/--no-rate-limit", "give one or the other, not both")
    if rate is not None:
        body["rate_limit"] = rate
    elif unlimited:
        body["rate_limit"] = None


@click.group(cls=CommandGroup)
def keys() -> None:
    """Issue, list, change, rotate and revoke API keys (requires an admin API key)."""


@keys.command("ls")
@pass_invocation
def ls(invocation: Invocation) -> None:
    """List every API key: role, state, rate limit, expiry and last use (never secrets)."""
    with invocation.open_client() as api:
        listing = decode_key_list(api.request("GET", "/v1/keys", headers=_headers(invocation)))
    rows = [
        [key["key_id"], key["label"] or "-", key["role"], format_value(key["enabled"]),
         _format_rate(key["rate_limit"]), key["expires_at"] or "never",
         key["last_used_at"] or "never"]
        for key in listing["keys"]
    ]  # fmt: skip
    header = ["KEY_ID", "LABEL", "ROLE", "ENABLED", "RATE_LIMIT", "EXPIRES_AT", "LAST_USED"]
    invocation.console.result(listing, align_columns(header, rows))


@keys.command("show")
@click.argument("key_id")
@pass_invocation
def show(invocation: Invocation, key_id: str) -> None:
    """Show one API key and when it was last used."""
    with invocation.open_client() as api:
        key = decode_key(api.request("GET", _path_of(key_id), headers=_headers(invocation)))
    lines = [*_key_lines(key), f"last_used_at: {key['last_used_at'] or 'never'}"]
    invocation.console.result(key, lines)


@keys.command("issue")
@click.option("--id", "key_id", metavar="KEY_ID", help="Choose the id (server default: key-…).")
@click.option("--label", help="What the key is for.")
@click.option(
    "--role", type=click.Choice(_ROLES), help="read, operate or admin (server default: read)."
)
@_rate_options
@click.option("--expires-at", type=TIMESTAMP, metavar="ISO8601", help="When the key expires.")
@pass_invocation
def issue(
    invocation: Invocation,
    *,
    key_id: str | None,
    label: str | None,
    role: Role | None,
    rate: RateLimitDoc | None,
    unlimited: bool,
    expires_at: str | None,
) -> None:
    """Issue a new API key and print its secret (shown only this once).

    Without --rate or --no-rate-limit the server applies its default limit (300 per 10 s).
    """
    body = ApiKeyIssueRequest()
    if key_id is not None:
        body["key_id"] = key_id
    if label is not None:
        body["label"] = label
    if role is not None:
        body["role"] = role
    _rate_limit(body, rate, unlimited)
    if expires_at is not None:
        body["expires_at"] = expires_at
    headers = _headers(invocation)
    with invocation.open_client() as api:
        issued = _keep(invocation, api.request("POST", "/v1/keys", body=body, headers=headers))
    key = issued["key"]
    lines = [
        f"issued {key['key_id']} (role {key['role']}, rate limit "
        f"{_format_rate(key['rate_limit'])}, expires {key['expires_at'] or 'never'})",
        f"api_key: {issued['api_key']}",
        _SHOWN_ONCE,
    ]
    invocation.console.result(issued, lines)


@keys.command("rotate")
@click.argument("key_id")
@click.option(
    "--grace",
    type=click.IntRange(min=0),
    metavar="SECONDS",
    help="How long the old secret keeps working (server default: 0, refused at once).",
)
@pass_invocation
def rotate(invocation: Invocation, key_id: str, grace: int | None) -> None:
    """Give a key a new secret and print it (shown only this once)."""
    body = ApiKeyRotateRequest()
    if grace is not None:
        body["grace_seconds"] = grace
    headers = _headers(invocation)
    with invocation.open_client() as api:
        issued = _keep(
            invocation,
            api.request("POST", _path_of(key_id) + "/rotate", body=body, headers=headers),
        )
    until = issued["key"]["previous_secret_valid_until"]
    lines = [
        f"rotated {issued['key']['key_id']}",
        f"api_key: {issued['api_key']}",
        _SHOWN_ONCE,
        f"the old secret keeps working until {until}"
        if until
        else "the old secret no longer works",
    ]
    if invocation.require_api_key().key_id == key_id:
        lines.append("this command used that key: switch --api-key (REVAER_API_KEY) to the new one")
    invocation.console.result(issued, lines)


def _keep(invocation: Invocation, answer: object) -> ApiKeyIssued:
    """Decode an answer carrying a secret, and mask that secret in later diagnostics."""
    issued = decode_key_issued(answer)
    parsed = ApiKey.parse(issued["api_key"])
    invocation.keep_secret(parsed.secret if parsed is not None else issued["api_key"])
    return issued


@keys.command("revoke")
@click.argument("key_id")
@pass_invocation
def revoke(invocation: Invocation, key_id: str) -> None:
    """Revoke a key for good: refused from the next request on (no prompt)."""
    with invocation.open_client() as api:
        api.request("DELETE", _path_of(key_id), headers=_headers(invocation))
    invocation.console.result({"key_id": key_id, "revoked": True}, [f"revoked {key_id}"])


@keys.command("enable")
@click.argument("key_id")
@pass_invocation
def enable(invocation: Invocation, key_id: str) -> None:
    """Accept a disabled key again."""
    key = _update(invocation, key_id, ApiKeyUpdateRequest(enabled=True))
    invocation.console.result(key, [f"enabled {key['key_id']}"])


@keys.command("disable")
@click.argument("key_id")
@pass_invocation
def disable(invocation: Invocation, key_id: str) -> None:
    """Refuse a key until it is enabled again (the last admin key cannot be disabled)."""
    key = _update(invocation, key_id, ApiKeyUpdateRequest(enabled=False))
    invocation.console.result(key, [f"disabled {key['key_id']}"])


@keys.command("update")
@click.argument("key_id")
@click.option("--label", help="A new label.")
@click.option("--role", type=click.Choice(_ROLES), help="read, operate or admin.")
@_rate_options
@click.option("--expires-at", type=TIMESTAMP, metavar="ISO8601", help="A new expiry.")
@click.option("--no-expiry", is_flag=True, help="Never expire.")
@pass_invocation
def update(
    invocation: Invocation,
    key_id: str,
    *,
    label: str | None,
    role: Role | None,
    rate: RateLimitDoc | None,
    unlimited: bool,
    expires_at: str | None,
    no_expiry: bool,
) -> None:
    """Change a key's label, role, rate limit or expiry; the rest stays as it is."""
    body = ApiKeyUpdateRequest()
    if label is not None:
        body["label"] = label
    if role is not None:
        body["role"] = role
    _rate_limit(body, rate, unlimited)
    if expires_at is not None and no_expiry:
        raise InputError("--expires-at/--no-expiry", "give one or the other, not both")
    if expires_at is not None:
        body["expires_at"] = expires_at
    elif no_expiry:
        body["expires_at"] = None
    if not body:
        raise InputError(
            "keys update",
            "nothing to change: give --label, --role, --rate, --no-rate-limit, --expires-at "
            "or --no-expiry",
        )
    key = _update(invocation, key_id, body)
    invocation.console.result(key, [f"updated {key['key_id']}", *_key_lines(key)])


def _update(invocation: Invocation, key_id: str, body: ApiKeyUpdateRequest) -> ApiKeyView:
    with invocation.open_client() as api:
        return decode_key_view(
            api.request("PATCH", _path_of(key_id), body=body, headers=_headers(invocation))
        )
