"""Request bodies into validated models: one strict JSON path, one multipart path.

Hostile JSON (deep nesting, huge numbers, lone surrogates, bad UTF-8) is refused by
pydantic-core's parser before anything else sees it; validation failures become 422 Problems
whose pointers name each field, and nothing reaches the engine.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, TypeVar

import trio
from pydantic import BaseModel, ValidationError
from quart import request
from werkzeug.datastructures import FileStorage
from werkzeug.exceptions import RequestEntityTooLarge

from revaer.api._request import (
    check_json_bounds,
    decode_json,
    read_required_body,
    request_limits,
    too_large,
)
from revaer.errors import BadRequest, InvalidParam, ValidationFailed, pointer

__all__ = [
    "OFF_LOOP_BYTES",
    "Upload",
    "problems_of",
    "read_form",
    "read_model",
    "read_object",
    "validate_data",
    "validate_object",
]

M = TypeVar("M", bound=BaseModel)

OFF_LOOP_BYTES = 256 * 1024
"""Bodies larger than this are parsed (and decoded) off the event loop."""

_MESSAGES = {
    "extra_forbidden": "unknown field",
    "missing": "required",
}


def problems_of(exc: ValidationError, prefix: Sequence[str | int] = ()) -> list[InvalidParam]:
    """Each pydantic error as an ``InvalidParam`` whose pointer is its location."""
    problems = []
    for error in exc.errors(include_url=False, include_context=False, include_input=False):
        where = pointer(*prefix, *(p for p in error["loc"] if isinstance(p, str | int)))
        problems.append(
            InvalidParam(pointer=where, message=_MESSAGES.get(error["type"], error["msg"]))
        )
    return problems


def _refusal(exc: ValidationError, prefix: Sequence[str | int] = ()) -> Exception:
    invalid = [e for e in exc.errors(include_url=False) if e["type"] == "json_invalid"]
    if invalid:
        message = str(invalid[0].get("ctx", {}).get("error", invalid[0]["msg"]))
        return BadRequest(
            f"the body is not valid JSON: {message}",
            invalid_params=[InvalidParam(pointer="", message=f"not valid JSON: {message}")],
        )
    return ValidationFailed(problems_of(exc, prefix))


def validate_data(model: type[M], raw: bytes) -> M:
    """``raw`` JSON as ``model`` (strict), or the 400/422 Problem that says why not."""
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        raise _refusal(exc) from None


def validate_object(model: type[M], doc: Any, prefix: Sequence[str | int] = ()) -> M:
    """Decoded JSON as ``model`` (strict: a float is no integer, so ``1e400`` is refused), or
    the 422 whose pointers start at ``prefix``."""
    try:
        return model.model_validate(doc)
    except ValidationError as exc:
        raise ValidationFailed(problems_of(exc, prefix)) from None


async def read_model(model: type[M]) -> M:
    """The request body as ``model``; a missing body is a 400 naming the root.

    A big body (an add carrying a large base64 .torrent) is parsed in a worker thread, so the
    event loop keeps serving everyone else meanwhile.
    """
    raw = await read_required_body()
    if len(raw) <= OFF_LOOP_BYTES:
        return validate_data(model, raw)
    return await trio.to_thread.run_sync(validate_data, model, raw)


async def read_object() -> dict[str, Any]:
    """The body as a JSON object (for bodies whose model depends on a field, like ``type``)."""
    value = decode_json(await read_required_body())
    check_json_bounds(value, request_limits())
    if not isinstance(value, dict):
        raise ValidationFailed([InvalidParam(pointer="", message="must be a JSON object")])
    return value


class Upload:
    """A multipart request: its form fields (as a dict for lax validation) and its files."""

    def __init__(self, fields: dict[str, Any], files: list[tuple[str, bytes]]) -> None:
        self.fields = fields
        self.files = files
        """(pointer, content) of every uploaded file, in order."""


async def read_form(list_fields: Iterable[str], *, file_limit: int) -> Upload:
    """Read a ``multipart/form-data`` body: repeated keys for list fields, every file part."""
    try:
        form = await request.form
        files = await request.files
    except RequestEntityTooLarge:
        raise too_large() from None
    lists = set(list_fields)
    fields: dict[str, Any] = {}
    for key in form:
        values = form.getlist(key)
        fields[key] = values if key in lists else (values[0] if len(values) == 1 else values)
    uploads: list[tuple[str, bytes]] = []
    for key in files:
        for index, storage in enumerate(files.getlist(key)):
            uploads.append(
                (pointer(key, index), _content(storage, pointer(key, index), file_limit))
            )
    return Upload(fields, uploads)


def _content(storage: FileStorage, where: str, limit: int) -> bytes:
    data: bytes = storage.read(limit + 1)
    if len(data) > limit:
        raise ValidationFailed([InvalidParam(pointer=where, message=f"larger than {limit} bytes")])
    return data
