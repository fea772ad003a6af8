"""The setup flow: one-time tokens, then the first changeset and API key, then ``active``."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

import trio

from revaer.auth import generate_secret, hash_secret, verify_secret
from revaer.config._changeset import ApiKeyChange, SettingsChangeset, parse_changeset
from revaer.config._service import ChangeResult, ConfigService
from revaer.config._snapshot import ConfigSnapshot
from revaer.db import Tx
from revaer.errors import Conflict, InvalidParam, Unauthorized, ValidationFailed, pointer

__all__ = ["IssuedToken", "SetupResult", "SetupService"]

DEFAULT_TOKEN_TTL = 900
MAX_TOKEN_TTL = 86_400
# Without these the engine and the pipeline have nowhere to write.
_REQUIRED = (
    ("engine_profile", "resume_dir"),
    ("engine_profile", "download_root"),
    ("fs_policy", "library_root"),
)
_LIMITER = trio.CapacityLimiter(1)


@dataclass(frozen=True, slots=True, kw_only=True)
class IssuedToken:
    """A setup token in plaintext: returned once, stored only as an argon2id hash."""

    token: str
    expires_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class SetupResult:
    """The applied change plus the API key (``key_id:secret``) the caller uses from now on."""

    change: ChangeResult
    api_key: str


class SetupService:
    """Issues and redeems setup tokens."""

    def __init__(self, config: ConfigService) -> None:
        self._config = config

    async def start(self, *, issued_by: str, ttl_seconds: int = DEFAULT_TOKEN_TTL) -> IssuedToken:
        """Issue a token; a previous unconsumed token is superseded (one active at most)."""
        token = generate_secret()
        token_hash = await trio.to_thread.run_sync(hash_secret, token, limiter=_LIMITER)
        async with self._config.db.transaction() as tx:
            mode = await tx.fetchval("SELECT mode FROM app_profile FOR UPDATE")
            if mode != "setup":
                raise Conflict("setup is already complete; the instance is active")
            await tx.execute(
                "UPDATE setup_tokens SET consumed_at = now(), outcome = 'superseded' "
                "WHERE consumed_at IS NULL"
            )
            expires_at = await tx.fetchval(
                "INSERT INTO setup_tokens (token_hash, expires_at, issued_by) "
                "VALUES ($1, now() + make_interval(secs => $2), $3) RETURNING expires_at",
                token_hash,
                float(ttl_seconds),
                issued_by,
            )
        return IssuedToken(token=token, expires_at=expires_at)

    async def complete(
        self, token: str | None, raw_changeset: object, *, request_id: str | None = None
    ) -> SetupResult:
        """Redeem ``token``: apply the changeset, create the first key, switch to ``active``.

        Atomic: if anything is refused, the token stays valid and nothing changes.
        """
        if not token:
            raise Unauthorized(
                "the setup token is required (header x-revaer-setup-token)",
                invalid_params=[
                    InvalidParam(pointer="/headers/x-revaer-setup-token", message="missing")
                ],
            )
        changeset = _with_first_key(parse_changeset(raw_changeset))

        async def redeem(tx: Tx, current: ConfigSnapshot) -> None:
            if current.mode != "setup":
                raise Conflict("setup is already complete; the instance is active")
            row = await tx.fetchrow(
                "SELECT id, token_hash, expires_at > now() AS live FROM setup_tokens "
                "WHERE consumed_at IS NULL FOR UPDATE"
            )
            if row is None:
                raise Unauthorized("no setup token is active; run `revaer setup start`")
            ok = await trio.to_thread.run_sync(
                verify_secret, row["token_hash"], token, limiter=_LIMITER
            )
            if not ok:
                if await _was_superseded(tx, token):
                    raise Unauthorized(
                        "this setup token was superseded by a newer `revaer setup start`; "
                        "use the token it printed"
                    )
                raise Unauthorized("invalid setup token")
            if not row["live"]:
                raise Unauthorized("the setup token has expired; run `revaer setup start`")
            _require_paths(changeset, current)
            _require_new_or_given_key(changeset, current)
            await tx.execute(
                "UPDATE setup_tokens SET consumed_at = now(), outcome = 'completed' WHERE id = $1",
                row["id"],
            )

        change = await self._config.apply(
            changeset, source="setup", request_id=request_id, activate=True, in_transaction=redeem
        )
        return SetupResult(change=change, api_key=_first_key(changeset, change))


# How many superseded tokens a failed redemption is compared with: each is one argon2id check
# (tens to a few hundred ms), paid only by a wrong token, in setup mode, from loopback.
_SUPERSEDED_CHECKED = 3


async def _was_superseded(tx: Tx, token: str) -> bool:
    """Whether ``token`` is one of the last few superseded ones (to say so instead of "invalid")."""
    rows = await tx.fetch(
        "SELECT token_hash FROM setup_tokens WHERE outcome = 'superseded' "
        "ORDER BY id DESC LIMIT $1",
        _SUPERSEDED_CHECKED,
    )
    for row in rows:
        if await trio.to_thread.run_sync(verify_secret, row["token_hash"], token, limiter=_LIMITER):
            return True
    return False


def _with_first_key(changeset: SettingsChangeset) -> SettingsChangeset:
    # The first key administers the instance: it is an admin key unless the change says
    # otherwise (and then the last-admin rule refuses the change).
    first = next((k for k in changeset.api_keys if k.op == "upsert"), None)
    if first is None:
        bootstrap = ApiKeyChange(
            op="upsert",
            key_id="admin",
            index=len(changeset.api_keys),
            fields={"label": "bootstrap", "role": "admin"},
        )
        return replace(changeset, api_keys=(*changeset.api_keys, bootstrap))
    if "role" in first.fields:
        return changeset
    admin = replace(first, fields={**first.fields, "role": "admin"})
    return replace(
        changeset, api_keys=tuple(admin if k is first else k for k in changeset.api_keys)
    )


def _first_key(changeset: SettingsChangeset, change: ChangeResult) -> str:
    if change.issued_keys:
        return change.issued_keys[0]
    upsert = next(k for k in changeset.api_keys if k.op == "upsert")
    return f"{upsert.key_id}:{upsert.fields['secret']}"


def _require_new_or_given_key(changeset: SettingsChangeset, current: ConfigSnapshot) -> None:
    # Setup hands back the first key's secret once; an existing key's secret cannot be shown.
    upsert = next(k for k in changeset.api_keys if k.op == "upsert")
    if current.api_key(upsert.key_id) is not None and "secret" not in upsert.fields:
        raise ValidationFailed(
            [
                InvalidParam(
                    pointer=pointer("api_keys", upsert.index, "key_id"),
                    message="already exists; choose another key_id or give its secret",
                )
            ]
        )


def _require_paths(changeset: SettingsChangeset, current: ConfigSnapshot) -> None:
    problems = [
        InvalidParam(pointer=pointer(section, name), message="is required to complete setup")
        for section, name in _REQUIRED
        if changeset.sections.get(section, {}).get(name, current.section(section).get(name)) is None
    ]
    if problems:
        raise ValidationFailed(problems)
