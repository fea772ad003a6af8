"""Setup and settings routes under ``/admin``."""

from __future__ import annotations

from typing import Any

from quart import Blueprint, Response, request

from revaer.api import _examples as ex
from revaer.api._deps import ApiDeps
from revaer.api._guard import current_key
from revaer.api._openapi import documented
from revaer.api._problem import json_response
from revaer.api._request import current_request_id, read_json, require_loopback
from revaer.api.models import (
    SETUP_TOKEN_HEADER,
    SettingsChangesetDoc,
    SettingsPatchResponse,
    SetupCompleteResponse,
    SetupStartRequest,
    SetupStartResponse,
)
from revaer.config import (
    DEFAULT_TOKEN_TTL,
    MAX_TOKEN_TTL,
    FieldError,
    integer,
    string,
)
from revaer.errors import Conflict, InvalidParam, ValidationFailed, pointer

__all__ = ["admin_blueprint"]

_ISSUED_BY = string(min_len=1, max_len=64, pattern=r"[\w .@:-]+")
_TTL = integer(60, MAX_TOKEN_TTL)


def _setup_start_body(raw: Any) -> tuple[str, int]:
    if raw is None:
        return "api", DEFAULT_TOKEN_TTL
    if not isinstance(raw, dict):
        raise ValidationFailed([InvalidParam(pointer="", message="must be a JSON object")])
    problems = [
        InvalidParam(pointer=pointer(k), message="unknown field")
        for k in raw
        if k not in ("issued_by", "ttl_seconds")
    ]
    values: dict[str, Any] = {"issued_by": "api", "ttl_seconds": DEFAULT_TOKEN_TTL}
    for name, check in (("issued_by", _ISSUED_BY), ("ttl_seconds", _TTL)):
        if name in raw:
            try:
                values[name] = check(raw[name])
            except FieldError as exc:
                problems.append(InvalidParam(pointer=pointer(name), message=str(exc)))
    if problems:
        raise ValidationFailed(problems)
    return values["issued_by"], values["ttl_seconds"]


def admin_blueprint(deps: ApiDeps) -> Blueprint:
    """``/admin/setup/start``, ``/admin/setup/complete``, ``PATCH /admin/settings``."""
    bp = Blueprint("admin", __name__, url_prefix="/admin")

    def refuse_unless_setup() -> None:
        if deps.snapshots.value.mode != "setup":
            raise Conflict("setup is already complete; the instance is active")
        require_loopback()

    @bp.post("/setup/start")
    @documented(
        request=SetupStartRequest,
        responses={201: SetupStartResponse},
        auth="none",
        problems=(403, 409),
        body_optional=True,
        request_example={"issued_by": "ansible", "ttl_seconds": 900},
        response_examples={201: ex.SETUP_START},
    )
    async def setup_start() -> Response:
        """Issue the one-time setup token (loopback callers, setup mode only)."""
        refuse_unless_setup()
        issued_by, ttl = _setup_start_body(await read_json(required=False))
        token = await deps.setup.start(issued_by=issued_by, ttl_seconds=ttl)
        return json_response(
            {"token": token.token, "expires_at": token.expires_at.isoformat()}, 201
        )

    @bp.post("/setup/complete")
    @documented(
        request=SettingsChangesetDoc,
        responses={200: SetupCompleteResponse},
        auth="setup_token",
        problems=(401, 403, 409),
        request_example={
            "engine_profile": {"download_root": "/srv/revaer/downloads"},
            "api_keys": [{"op": "upsert", "key_id": "admin", "label": "bootstrap"}],
        },
        response_examples={200: ex.SETUP_COMPLETE},
    )
    async def setup_complete() -> Response:
        """Apply the first settings, activate the instance, and issue the first API key."""
        refuse_unless_setup()
        body = await read_json()
        result = await deps.setup.complete(
            request.headers.get(SETUP_TOKEN_HEADER), body, request_id=current_request_id()
        )
        deps.publish(result.change.snapshot)
        return json_response({**result.change.snapshot.to_json(), "api_key": result.api_key})

    @bp.patch("/settings")
    @documented(
        request=SettingsChangesetDoc,
        responses={200: SettingsPatchResponse},
        problems=(503,),
        role="admin",
        request_example={"engine_profile": {"max_download_bps": 10485760}},
        response_examples={200: ex.SETTINGS_PATCH},
    )
    async def patch_settings() -> Response:
        """Change settings (a partial document); omitted fields stay as they are."""
        key = current_key()
        body = await read_json()
        result = await deps.config.apply(
            body, source="api", actor=key.key_id, request_id=current_request_id()
        )
        deps.publish(result.snapshot)
        return json_response(
            {**result.snapshot.to_json(), "issued_api_keys": list(result.issued_keys)}
        )

    return bp
