"""``SettingsChangeset``: the one validated shape every configuration change takes.

``parse_changeset`` checks a raw JSON document without touching the database: types, ranges,
enums, unknown fields — every problem reported with its JSON pointer. Checks that need the
stored state (immutable keys, optimistic versions, keys that must exist) run in
``ConfigService`` inside the transaction that applies the change.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from revaer.config import _fields as f
from revaer.config._schema import SECTIONS, immutable_key_names
from revaer.config._snapshot import RateLimit
from revaer.errors import InvalidParam, ValidationFailed, pointer

__all__ = [
    "MAX_GRACE_SECONDS",
    "ApiKeyChange",
    "SecretChange",
    "SettingsChangeset",
    "parse_changeset",
    "parse_key_fields",
]

_TOP_LEVEL = ("expected_revision", *SECTIONS, "api_keys", "secrets")
_KEY_ID = f.string(min_len=1, max_len=64, pattern=r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_SECRET_NAME = f.string(min_len=1, max_len=128, pattern=r"[a-z0-9][a-z0-9_.-]*")
_MAX_OPS = 64
MAX_GRACE_SECONDS = 30 * 86_400
"""How long a rotated-out secret may keep working at most."""
_IMMUTABLE_NAMES = f.one_of_sequence(
    [n for n in immutable_key_names() if n != "app_profile.version"]
)


def _rate_limit(value: Any) -> RateLimit:
    checked = f.typed_object(
        {"burst": f.integer(1, 1_000_000), "per_seconds": f.integer(1, 86_400)}
    )(value)
    if set(checked) != {"burst", "per_seconds"}:
        raise f.FieldError("needs both burst and per_seconds")
    return RateLimit(burst=checked["burst"], per_seconds=checked["per_seconds"])


_KEY_FIELDS: dict[str, f.Validator] = {
    "label": f.string(max_len=128),
    "enabled": f.boolean,
    "secret": f.string(min_len=16, max_len=256, pattern=r"[\x21-\x7e]+"),
    "rate_limit": f.nullable(_rate_limit),
    "expires_at": f.nullable(f.timestamp),
    "role": f.choice("read", "operate", "admin"),
    "grace_seconds": f.integer(0, MAX_GRACE_SECONDS),
}


@dataclass(frozen=True, slots=True, kw_only=True)
class ApiKeyChange:
    """Create/update (``upsert``) or ``delete`` one API key; ``fields`` holds what was given."""

    op: Literal["upsert", "delete"]
    key_id: str
    index: int
    fields: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class SecretChange:
    """``set`` or ``delete`` one named secret."""

    op: Literal["set", "delete"]
    name: str
    index: int
    value: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class SettingsChangeset:
    """A validated partial change; omitted fields stay as they are."""

    expected_revision: int | None = None
    sections: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    api_keys: tuple[ApiKeyChange, ...] = ()
    secrets: tuple[SecretChange, ...] = ()

    def redacted(self) -> dict[str, Any]:
        """The change as recorded in history: secrets and key secrets replaced by ``***``."""
        doc: dict[str, Any] = {name: _jsonable(vals) for name, vals in self.sections.items()}
        if self.api_keys:
            doc["api_keys"] = [
                {
                    "op": k.op,
                    "key_id": k.key_id,
                    **{
                        n: ("***" if n == "secret" else _jsonable_value(v))
                        for n, v in k.fields.items()
                    },
                }
                for k in self.api_keys
            ]
        if self.secrets:
            doc["secrets"] = [{"op": s.op, "name": s.name} for s in self.secrets]
        return doc


def _jsonable_value(value: Any) -> Any:
    if isinstance(value, RateLimit):
        return {"burst": value.burst, "per_seconds": value.per_seconds}
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def _jsonable(values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _jsonable_value(v) for k, v in values.items()}


class _Problems:
    def __init__(self) -> None:
        self.items: list[InvalidParam] = []

    def add(self, ptr: str, message: str) -> None:
        self.items.append(InvalidParam(pointer=ptr, message=message))

    def check(self, validator: f.Validator, value: Any, *tokens: str | int) -> Any:
        try:
            return validator(value)
        except f.ItemError as exc:
            index = exc.index if isinstance(exc.index, tuple) else (exc.index,)
            self.add(pointer(*tokens, *index), str(exc))
        except f.FieldError as exc:
            self.add(pointer(*tokens), str(exc))
        return None


def _parse_section(name: str, raw: Any, problems: _Problems) -> dict[str, Any]:
    section = SECTIONS[name]
    if not isinstance(raw, dict):
        problems.add(pointer(name), "must be an object")
        return {}
    out: dict[str, Any] = {}
    for key, value in raw.items():
        fd = section.field(key)
        if fd is None:
            problems.add(pointer(name, key), "unknown field")
        elif not fd.writable:
            problems.add(pointer(name, key), "is read-only")
        else:
            before = len(problems.items)
            checked = problems.check(fd.validate, value, name, key)
            if key == "immutable_keys" and checked is not None:
                for i, entry in enumerate(checked):
                    problems.check(_IMMUTABLE_NAMES, entry, name, key, i)
            if len(problems.items) == before:
                out[key] = checked
    return out


def _parse_ops(raw: Any, name: str, problems: _Problems) -> list[tuple[int, dict[str, Any]]]:
    if not isinstance(raw, list):
        problems.add(pointer(name), "must be an array")
        return []
    if len(raw) > _MAX_OPS:
        problems.add(pointer(name), f"must have at most {_MAX_OPS} entries")
        return []
    ops: list[tuple[int, dict[str, Any]]] = []
    for index, entry in enumerate(raw):
        if isinstance(entry, dict):
            ops.append((index, entry))
        else:
            problems.add(pointer(name, index), "must be an object")
    return ops


def _parse_api_keys(raw: Any, problems: _Problems) -> list[ApiKeyChange]:
    changes: list[ApiKeyChange] = []
    seen: set[str] = set()
    for index, entry in _parse_ops(raw, "api_keys", problems):
        op = entry.get("op")
        key_id = problems.check(_KEY_ID, entry.get("key_id"), "api_keys", index, "key_id")
        if op not in ("upsert", "delete"):
            problems.add(pointer("api_keys", index, "op"), "must be one of upsert, delete")
            continue
        if key_id in seen:
            problems.add(pointer("api_keys", index, "key_id"), "appears twice in this change")
        seen.add(key_id)
        fields: dict[str, Any] = {}
        for name, value in entry.items():
            if name in ("op", "key_id"):
                continue
            validator = _KEY_FIELDS.get(name) if op == "upsert" else None
            if validator is None:
                problems.add(pointer("api_keys", index, name), "unknown field")
                continue
            fields[name] = problems.check(validator, value, "api_keys", index, name)
        if "grace_seconds" in fields and "secret" not in fields:
            problems.add(
                pointer("api_keys", index, "grace_seconds"),
                "applies only with a new secret (it keeps the old one working that long)",
            )
        if key_id is not None:
            changes.append(ApiKeyChange(op=op, key_id=key_id, index=index, fields=fields))
    return changes


def parse_key_fields(raw: Any, allowed: frozenset[str]) -> dict[str, Any]:
    """Validate the fields of one API key given on their own (``/v1/keys`` bodies).

    ``allowed`` names the fields this body may hold (``key_id`` among them when it may name
    the key); problems point at the body's root (``/label``).
    """
    if not isinstance(raw, dict):
        raise ValidationFailed([InvalidParam(pointer="", message="must be a JSON object")])
    problems = _Problems()
    fields: dict[str, Any] = {}
    validators = {"key_id": _KEY_ID, **_KEY_FIELDS}
    for name, value in raw.items():
        validator = validators.get(name) if name in allowed else None
        if validator is None:
            problems.add(pointer(name), "unknown field")
            continue
        fields[name] = problems.check(validator, value, name)
    if problems.items:
        raise ValidationFailed(problems.items)
    return fields


def _parse_secrets(raw: Any, problems: _Problems) -> list[SecretChange]:
    changes: list[SecretChange] = []
    for index, entry in _parse_ops(raw, "secrets", problems):
        op = entry.get("op")
        name = problems.check(_SECRET_NAME, entry.get("name"), "secrets", index, "name")
        if op not in ("set", "delete"):
            problems.add(pointer("secrets", index, "op"), "must be one of set, delete")
            continue
        allowed = {"op", "name", "value"} if op == "set" else {"op", "name"}
        for extra in sorted(set(entry) - allowed):
            problems.add(pointer("secrets", index, extra), "unknown field")
        value = None
        if op == "set":
            value = problems.check(
                f.string(min_len=1, max_len=8192), entry.get("value"), "secrets", index, "value"
            )
        if name is not None:
            changes.append(SecretChange(op=op, name=name, index=index, value=value))
    return changes


def parse_changeset(raw: Any) -> SettingsChangeset:
    """Validate a raw JSON changeset; ``ValidationFailed`` lists every problem with a pointer."""
    problems = _Problems()
    if not isinstance(raw, dict):
        raise ValidationFailed([InvalidParam(pointer="", message="must be a JSON object")])
    for key in raw:
        if key not in _TOP_LEVEL:
            problems.add(pointer(key), "unknown field")
    expected = None
    if "expected_revision" in raw:
        expected = problems.check(
            f.integer(0, 2**62), raw["expected_revision"], "expected_revision"
        )
    sections = {name: _parse_section(name, raw[name], problems) for name in SECTIONS if name in raw}
    api_keys = _parse_api_keys(raw["api_keys"], problems) if "api_keys" in raw else []
    secrets = _parse_secrets(raw["secrets"], problems) if "secrets" in raw else []
    if problems.items:
        raise ValidationFailed(problems.items)
    return SettingsChangeset(
        expected_revision=expected,
        sections={k: v for k, v in sections.items() if v},
        api_keys=tuple(api_keys),
        secrets=tuple(secrets),
    )
