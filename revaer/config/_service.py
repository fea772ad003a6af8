"""ConfigService: load snapshots and apply changesets, one validation path for every change."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import trio
from loguru import logger

from revaer.auth import SealedSecret, SecretBox, generate_secret, hash_secret
from revaer.config._changeset import ApiKeyChange, SettingsChangeset, parse_changeset
from revaer.config._schema import SECTIONS
from revaer.config._snapshot import ConfigSnapshot, RateLimit, snapshot_from_row
from revaer.db import Database, Tx
from revaer.errors import Conflict, InvalidParam, ValidationFailed, pointer

__all__ = ["DEFAULT_KEY_RATE_LIMIT", "ChangeResult", "ConfigService", "InTransaction"]

LOAD_SNAPSHOT = """
SELECT r.revision,
       (SELECT to_jsonb(a) FROM app_profile a) AS app_profile,
       (SELECT to_jsonb(e) FROM engine_profile e) AS engine_profile,
       (SELECT to_jsonb(p) FROM fs_policy p) AS fs_policy,
       (SELECT coalesce(jsonb_agg(to_jsonb(k) ORDER BY k.key_id), '[]'::jsonb)
          FROM api_keys k) AS api_keys,
       (SELECT coalesce(jsonb_agg(s.name ORDER BY s.name), '[]'::jsonb)
          FROM secrets s) AS secrets
  FROM settings_revision r
"""

#: Extra work a caller (the setup flow) runs inside the applying transaction.
InTransaction = Callable[[Tx, ConfigSnapshot], Awaitable[None]]

_HASH_LIMITER = trio.CapacityLimiter(2)

DEFAULT_KEY_RATE_LIMIT = RateLimit(burst=300, per_seconds=10)
"""The limit of a new key that does not name one (``rate_limit: null`` asks for none)."""
_log = logger.bind(actor="config")


@dataclass(frozen=True, slots=True, kw_only=True)
class ChangeResult:
    """The snapshot after a change, and secrets of keys it issued (``key_id:secret``, once)."""

    snapshot: ConfigSnapshot
    issued_keys: tuple[str, ...]
    changed: bool


async def _hash(secret: str) -> str:
    return await trio.to_thread.run_sync(hash_secret, secret, limiter=_HASH_LIMITER)


def _is_immutable(immutable: frozenset[str], section: str, name: str | None = None) -> bool:
    return section in immutable or (name is not None and f"{section}.{name}" in immutable)


class ConfigService:
    """Reads and changes the PostgreSQL-backed configuration."""

    def __init__(self, db: Database, secret_box: SecretBox) -> None:
        self._db = db
        self._box = secret_box

    @property
    def db(self) -> Database:
        """The database this service writes to."""
        return self._db

    async def load(self) -> ConfigSnapshot:
        """The current snapshot, read in one statement (so it is consistent)."""
        row = await self._db.fetchrow(LOAD_SNAPSHOT)
        assert row is not None, "settings_revision singleton missing"
        return snapshot_from_row(row)

    async def revision(self) -> int:
        """The current revision only (cheap poll)."""
        return int(await self._db.fetchval("SELECT revision FROM settings_revision"))

    async def read_secret(self, name: str) -> str | None:
        """Decrypt the named secret, or None when it is not set."""
        row = await self._db.fetchrow(
            "SELECT nonce, ciphertext, key_id FROM secrets WHERE name = $1", name
        )
        if row is None:
            return None
        sealed = SealedSecret(
            nonce=row["nonce"], ciphertext=row["ciphertext"], key_id=row["key_id"]
        )
        return self._box.open(name, sealed)

    async def apply(
        self,
        raw: Any,
        *,
        source: str,
        actor: str | None = None,
        request_id: str | None = None,
        activate: bool = False,
        in_transaction: InTransaction | None = None,
    ) -> ChangeResult:
        """Validate and apply a changeset atomically; nothing changes when it is refused.

        ``activate`` switches the instance to ``active`` (the setup flow only);
        ``in_transaction`` runs first inside the same transaction (e.g. consuming a token).
        """
        changeset = raw if isinstance(raw, SettingsChangeset) else parse_changeset(raw)
        async with self._db.transaction() as tx:
            revision = int(await tx.fetchval("SELECT revision FROM settings_revision FOR UPDATE"))
            current = snapshot_from_row(_require(await tx.fetchrow(LOAD_SNAPSHOT)))
            if in_transaction is not None:
                await in_transaction(tx, current)
            if changeset.expected_revision is not None and changeset.expected_revision != revision:
                raise Conflict(
                    f"the configuration is at revision {revision}, not "
                    f"{changeset.expected_revision}; reload and retry",
                    invalid_params=[
                        InvalidParam(pointer="/expected_revision", message="stale revision")
                    ],
                )
            problems: list[InvalidParam] = []
            writes = self._section_writes(changeset, current, problems)
            if problems:
                raise ValidationFailed(problems)
            for section, values in writes.items():
                await _update_section(tx, section, values)
            issued = await self._apply_api_keys(tx, changeset, current, problems)
            await self._apply_secrets(tx, changeset, current, problems)
            if activate and current.mode != "active":
                await tx.execute("UPDATE app_profile SET mode = 'active', updated_at = now()")
            if problems:
                raise ValidationFailed(problems)
            after = snapshot_from_row(_require(await tx.fetchrow(LOAD_SNAPSHOT)))
            _require_usable_admin_key(after)
            changed = after.revision != current.revision
            if changed:
                await tx.execute(
                    "INSERT INTO settings_history (revision, source, actor, request_id, changes) "
                    "VALUES ($1, $2, $3, $4, $5)",
                    int(after.revision),
                    source,
                    actor,
                    request_id,
                    changeset.redacted(),
                )
        if changed:
            _audit(after, changeset, writes, source=source, actor=actor)
        return ChangeResult(snapshot=after, issued_keys=tuple(issued), changed=changed)

    def _section_writes(
        self,
        changeset: SettingsChangeset,
        current: ConfigSnapshot,
        problems: list[InvalidParam],
    ) -> dict[str, dict[str, Any]]:
        immutable = frozenset(current.app_profile.get("immutable_keys") or ())
        writes: dict[str, dict[str, Any]] = {}
        for section, values in changeset.sections.items():
            stored = current.section(section)
            changed: dict[str, Any] = {}
            for name, value in values.items():
                if section == "app_profile" and name == "version":
                    if value != stored["version"]:
                        problems.append(
                            InvalidParam(
                                pointer=pointer(section, name),
                                message=f"stale: the stored version is {stored['version']}",
                            )
                        )
                    continue
                if stored.get(name) == value:
                    continue  # writing the current value is not a change
                if _is_immutable(immutable, section, name):
                    problems.append(
                        InvalidParam(
                            pointer=pointer(section, name),
                            message="is immutable (listed in app_profile.immutable_keys)",
                        )
                    )
                    continue
                changed[name] = value
            if changed:
                writes[section] = changed
        return writes

    async def _apply_api_keys(
        self,
        tx: Tx,
        changeset: SettingsChangeset,
        current: ConfigSnapshot,
        problems: list[InvalidParam],
    ) -> list[str]:
        immutable = frozenset(current.app_profile.get("immutable_keys") or ())
        issued: list[str] = []
        for change in changeset.api_keys:
            at = pointer("api_keys", change.index)
            if _is_immutable(immutable, "api_keys"):
                problems.append(InvalidParam(pointer=at, message="api_keys are immutable"))
                continue
            exists = current.api_key(change.key_id) is not None
            expires_at = change.fields.get("expires_at")
            if expires_at is not None and expires_at <= datetime.now(UTC):
                # A key that is dead on arrival would only hand out a useless secret.
                problems.append(
                    InvalidParam(
                        pointer=at + "/expires_at",
                        message="is in the past; to revoke a key set enabled to false",
                    )
                )
                continue
            if change.op == "delete":
                if not exists:
                    problems.append(InvalidParam(pointer=at + "/key_id", message="no such API key"))
                else:
                    await tx.execute("DELETE FROM api_keys WHERE key_id = $1", change.key_id)
            elif exists:
                await _update_key(tx, change, current)
            else:
                secret = change.fields.get("secret")
                if secret is None:
                    secret = generate_secret()
                    issued.append(f"{change.key_id}:{secret}")
                await _insert_key(tx, change, await _hash(secret))
        return issued

    async def _apply_secrets(
        self,
        tx: Tx,
        changeset: SettingsChangeset,
        current: ConfigSnapshot,
        problems: list[InvalidParam],
    ) -> None:
        immutable = frozenset(current.app_profile.get("immutable_keys") or ())
        for change in changeset.secrets:
            at = pointer("secrets", change.index)
            if _is_immutable(immutable, "secrets"):
                problems.append(InvalidParam(pointer=at, message="secrets are immutable"))
            elif change.op == "delete":
                if change.name not in current.secret_names:
                    problems.append(InvalidParam(pointer=at + "/name", message="no such secret"))
                else:
                    await tx.execute("DELETE FROM secrets WHERE name = $1", change.name)
            else:
                assert change.value is not None
                sealed = self._box.seal(change.name, change.value)
                await tx.execute(
                    "INSERT INTO secrets (name, nonce, ciphertext, key_id) VALUES ($1, $2, $3, $4) "
                    "ON CONFLICT (name) DO UPDATE SET nonce = $2, ciphertext = $3, key_id = $4, "
                    "updated_at = now()",
                    change.name,
                    sealed.nonce,
                    sealed.ciphertext,
                    sealed.key_id,
                )


def _audit(
    after: ConfigSnapshot,
    changeset: SettingsChangeset,
    writes: dict[str, dict[str, Any]],
    *,
    source: str,
    actor: str | None,
) -> None:
    """One INFO line per committed change: who, what (names only, never values), revision."""
    what = [f"{section}.{name}" for section, values in writes.items() for name in values]
    what += [f"api_keys.{k.key_id}:{k.op}" for k in changeset.api_keys]
    what += [f"secrets.{s.name}:{s.op}" for s in changeset.secrets]
    who = f"api key {actor}" if actor else source
    _log.info(
        "settings changed by {} to revision {}: {}",
        who,
        after.revision,
        ", ".join(what) or "mode",
        audit=True,
        who=who,
        source=source,
        revision=int(after.revision),
        changed=what,
    )


def _require(row: Any) -> Any:
    assert row is not None, "settings_revision singleton missing"
    return row


def _require_usable_admin_key(after: ConfigSnapshot) -> None:
    # An active instance without a usable admin key could never be administered again: the
    # last one cannot be deleted, disabled, expired or demoted.
    now = datetime.now(UTC)
    if after.mode == "active" and not any(
        k.role == "admin" and k.usable(now) for k in after.api_keys
    ):
        raise Conflict(
            "the last enabled, unexpired admin key cannot be revoked, disabled, expired or "
            "demoted; issue another admin key first",
            invalid_params=[
                InvalidParam(
                    pointer="/api_keys", message="would leave no enabled, unexpired admin key"
                )
            ],
        )


async def _update_section(tx: Tx, section: str, values: dict[str, Any]) -> None:
    spec = SECTIONS[section]
    assignments = []
    args: list[Any] = []
    for name, value in values.items():
        fd = spec.field(name)
        assert fd is not None
        args.append(value)
        assignments.append(f"{fd.sql_column} = ${len(args)}")
    bump = ", version = version + 1" if section == "app_profile" else ""
    await tx.execute(
        f"UPDATE {spec.table} SET {', '.join(assignments)}{bump}, updated_at = now()",  # noqa: S608 -- names come from the schema table
        *args,
    )


def _key_columns(change: ApiKeyChange) -> dict[str, Any]:
    columns: dict[str, Any] = {}
    for name, value in change.fields.items():
        if name == "rate_limit":
            limit: RateLimit | None = value
            columns["rate_limit_burst"] = limit.burst if limit else None
            columns["rate_limit_per_seconds"] = limit.per_seconds if limit else None
        elif name not in ("secret", "grace_seconds"):
            columns[name] = value
    return columns


async def _insert_key(tx: Tx, change: ApiKeyChange, secret_hash: str) -> None:
    defaults: dict[str, Any] = {"role": "read"}
    if "rate_limit" not in change.fields:
        defaults["rate_limit_burst"] = DEFAULT_KEY_RATE_LIMIT.burst
        defaults["rate_limit_per_seconds"] = DEFAULT_KEY_RATE_LIMIT.per_seconds
    columns = {
        "key_id": change.key_id,
        "secret_hash": secret_hash,
        **defaults,
        **_key_columns(change),
    }
    names = ", ".join(columns)
    params = ", ".join(f"${i}" for i in range(1, len(columns) + 1))
    await tx.execute(
        f"INSERT INTO api_keys ({names}) VALUES ({params})",  # noqa: S608 -- fixed column names
        *columns.values(),
    )


async def _update_key(tx: Tx, change: ApiKeyChange, current: ConfigSnapshot) -> None:
    record = current.api_key(change.key_id)
    assert record is not None
    stored = {
        "label": record.label,
        "enabled": record.enabled,
        "role": record.role,
        "expires_at": record.expires_at,
        "rate_limit_burst": record.rate_limit.burst if record.rate_limit else None,
        "rate_limit_per_seconds": record.rate_limit.per_seconds if record.rate_limit else None,
    }
    # Writing what is stored already is not a change (no revision bump, no history row).
    columns = {k: v for k, v in _key_columns(change).items() if stored.get(k, object()) != v}
    secret = change.fields.get("secret")
    if secret is not None:
        columns["secret_hash"] = await _hash(secret)
        # A rotation: the old secret keeps working for the grace asked for (none by default).
        grace = int(change.fields.get("grace_seconds", 0))
        columns["previous_secret_hash"] = record.secret_hash if grace else None
        columns["previous_valid_until"] = (
            datetime.now(UTC) + timedelta(seconds=grace) if grace else None
        )
    if not columns:
        return
    sets = ", ".join(f"{name} = ${i}" for i, name in enumerate(columns, start=2))
    await tx.execute(
        f"UPDATE api_keys SET {sets}, updated_at = now() WHERE key_id = $1",  # noqa: S608 -- fixed column names
        change.key_id,
        *columns.values(),
    )
