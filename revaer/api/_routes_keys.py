"""API key lifecycle under ``/v1/keys`` (admin role): issue, list, change, rotate, revoke.

Every change goes through ``ConfigService.apply`` like any settings change: validated, one
transaction, a settings-history row naming the acting key, and a NOTIFY that every process
(and its verification cache) follows. Secrets are generated here and shown once.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from quart import Blueprint, Response

from revaer.api import _examples as ex
from revaer.api._deps import ApiDeps
from revaer.api._guard import current_key
from revaer.api._openapi import documented
from revaer.api._problem import json_response
from revaer.api._request import current_request_id, read_json, read_optional_object
from revaer.api.models import (
    ApiKeyIssued,
    ApiKeyIssueRequest,
    ApiKeyList,
    ApiKeyListItem,
    ApiKeyRotateRequest,
    ApiKeyUpdateRequest,
    ApiKeyView,
)
from revaer.auth import generate_secret
from revaer.config import (
    ApiKeyChange,
    ApiKeyRecord,
    ConfigSnapshot,
    SettingsChangeset,
    parse_key_fields,
)
from revaer.errors import Conflict, InvalidParam, NotFound

__all__ = ["keys_blueprint"]

_ISSUE_FIELDS = frozenset({"key_id", "label", "role", "rate_limit", "expires_at"})
_UPDATE_FIELDS = frozenset({"label", "role", "enabled", "rate_limit", "expires_at"})
_ROTATE_FIELDS = frozenset({"grace_seconds"})


def keys_blueprint(deps: ApiDeps) -> Blueprint:
    """``/v1/keys`` and ``/v1/keys/<key_id>`` (+ ``/rotate``)."""
    bp = Blueprint("keys", __name__)

    async def apply(change: ApiKeyChange) -> tuple[ConfigSnapshot, tuple[str, ...]]:
        result = await deps.config.apply(
            SettingsChangeset(api_keys=(change,)),
            source="api",
            actor=current_key().key_id,
            request_id=current_request_id(),
        )
        deps.publish(result.snapshot)
        return result.snapshot, result.issued_keys

    def existing(key_id: str) -> ApiKeyRecord:
        record = deps.snapshots.value.api_key(key_id)
        if record is None:
            raise NotFound(f"no API key {key_id!r}")
        return record

    @bp.get("/v1/keys")
    @documented(responses={200: ApiKeyList}, role="admin", response_examples={200: ex.KEY_LIST})
    async def list_keys() -> Response:
        """Every API key with its role, limit, state and last use (never secrets or hashes)."""
        used = await deps.usage.last_used()
        keys = [_listed(k, used.get(k.key_id)) for k in deps.snapshots.value.api_keys]
        return json_response({"keys": keys})

    @bp.post("/v1/keys")
    @documented(
        request=ApiKeyIssueRequest,
        responses={201: ApiKeyIssued},
        role="admin",
        problems=(409, 422),
        body_optional=True,
        request_example={
            "key_id": "sonarr",
            "label": "Sonarr on nas",
            "role": "operate",
            "rate_limit": {"burst": 300, "per_seconds": 10},
        },
        response_examples={201: ex.KEY_ISSUED},
    )
    async def issue_key() -> Response:
        """Issue a key; its secret is in this answer only (``api_key``: ``key_id:secret``)."""
        fields = parse_key_fields(await read_optional_object(), _ISSUE_FIELDS)
        key_id = fields.pop("key_id", None) or f"key-{secrets.token_hex(4)}"
        if deps.snapshots.value.api_key(key_id) is not None:
            raise Conflict(
                f"an API key {key_id!r} exists already; rotate it or choose another key_id",
                invalid_params=[InvalidParam(pointer="/key_id", message="exists already")],
            )
        snapshot, issued = await apply(
            ApiKeyChange(op="upsert", key_id=key_id, index=0, fields=fields)
        )
        record = snapshot.api_key(key_id)
        assert record is not None and issued
        return json_response(_issued(record, issued[0]), 201)

    @bp.get("/v1/keys/<key_id>")
    @documented(
        responses={200: ApiKeyListItem},
        role="admin",
        problems=(404,),
        response_examples={200: ex.KEY_LIST["keys"][0]},
    )
    async def get_key(key_id: str) -> Response:
        """One API key and its last use."""
        record = existing(key_id)
        used = await deps.usage.last_used()
        return json_response(_listed(record, used.get(key_id)))

    @bp.patch("/v1/keys/<key_id>")
    @documented(
        request=ApiKeyUpdateRequest,
        responses={200: ApiKeyView},
        role="admin",
        problems=(404, 409, 422),
        request_example={"role": "read", "rate_limit": {"burst": 60, "per_seconds": 60}},
        response_examples={200: ex.KEY_VIEW},
    )
    async def update_key(key_id: str) -> Response:
        """Change a key's label, role, limit, expiry, or enable/disable it; effective at once.

        The last enabled admin key cannot be disabled, expired or demoted (409).
        """
        existing(key_id)
        fields = parse_key_fields(await read_json(), _UPDATE_FIELDS)
        snapshot, _ = await apply(ApiKeyChange(op="upsert", key_id=key_id, index=0, fields=fields))
        record = snapshot.api_key(key_id)
        assert record is not None
        return json_response(record.view())

    @bp.post("/v1/keys/<key_id>/rotate")
    @documented(
        request=ApiKeyRotateRequest,
        responses={200: ApiKeyIssued},
        role="admin",
        problems=(404, 422),
        body_optional=True,
        request_example={"grace_seconds": 3600},
        response_examples={200: ex.KEY_ISSUED},
    )
    async def rotate_key(key_id: str) -> Response:
        """Give a key a new secret (shown once); the old one works ``grace_seconds`` longer."""
        existing(key_id)
        fields = parse_key_fields(await read_optional_object(), _ROTATE_FIELDS)
        secret = generate_secret()
        snapshot, _ = await apply(
            ApiKeyChange(op="upsert", key_id=key_id, index=0, fields={**fields, "secret": secret})
        )
        record = snapshot.api_key(key_id)
        assert record is not None
        return json_response(_issued(record, f"{key_id}:{secret}"))

    @bp.delete("/v1/keys/<key_id>")
    @documented(responses={204: None}, role="admin", problems=(404, 409))
    async def revoke_key(key_id: str) -> Response:
        """Revoke a key for good: refused from the next request on, in every process.

        The last enabled admin key cannot be revoked (409).
        """
        existing(key_id)
        await apply(ApiKeyChange(op="delete", key_id=key_id, index=0))
        return Response(b"", status=204)

    return bp


def _listed(record: ApiKeyRecord, last_used: datetime | None) -> dict[str, Any]:
    return {**record.view(), "last_used_at": last_used.isoformat() if last_used else None}


def _issued(record: ApiKeyRecord, api_key: str) -> dict[str, Any]:
    return {"key": record.view(), "api_key": api_key}
