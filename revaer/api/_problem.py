"""RFC 9457 Problem+JSON: the one place errors become HTTP responses."""

from __future__ import annotations

import json
from typing import Any

from quart import Response

from revaer.api.models import PROBLEM_CONTENT_TYPE, ProblemDoc
from revaer.errors import RevaerError

__all__ = ["json_response", "problem_response", "render_problem"]

_TYPE_PREFIX = "urn:revaer:problem:"


def render_problem(
    *, status: int, title: str, slug: str, detail: str, error: RevaerError | None = None
) -> ProblemDoc:
    """The problem document for an error (or a bare status)."""
    doc: ProblemDoc = {
        "type": _TYPE_PREFIX + slug,
        "title": title,
        "status": status,
        "detail": detail,
    }
    if error is not None and error.invalid_params:
        doc["invalid_params"] = [
            {"pointer": p.pointer, "message": p.message} for p in error.invalid_params
        ]
    return doc


def problem_response(
    error: RevaerError | None = None,
    *,
    status: int | None = None,
    title: str | None = None,
    slug: str = "http-error",
    detail: str = "",
    request_id: str | None = None,
    instance: str | None = None,
) -> Response:
    """A Problem+JSON response for a ``RevaerError`` or a plain HTTP status."""
    if error is not None:
        doc = render_problem(
            status=error.status,
            title=error.title,
            slug=error.slug,
            detail=error.detail,
            error=error,
        )
    else:
        assert status is not None and title is not None
        doc = render_problem(status=status, title=title, slug=slug, detail=detail)
    if request_id:
        doc["request_id"] = request_id
    if instance:
        doc["instance"] = instance
    response = Response(json.dumps(doc), status=doc["status"], content_type=PROBLEM_CONTENT_TYPE)
    if error is not None:
        for name, value in error.headers.items():
            response.headers[name] = value
    return response


def json_response(body: Any, status: int = 200) -> Response:
    """A JSON response."""
    return Response(json.dumps(body, default=str), status=status, content_type="application/json")
