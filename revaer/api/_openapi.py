"""The OpenAPI 3.1 document, generated from the routes and the models that validate them.

Each route function carries its documentation (``@documented``): the request and response
models (the same pydantic models or wire ``TypedDict`` shapes the route reads and writes),
who may call it, which Problems it can answer with, and examples. quart-schema builds the
paths from those; :class:`RevaerOpenAPI` adds what it leaves out: Problem responses as
``application/problem+json``, request bodies marked required, the security scheme of each
route, the event stream as ``text/event-stream``, and a multipart alternative for uploads.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, Literal, TypeVar

from pydantic import TypeAdapter
from quart import Quart
from quart_schema import (
    DataSource,
    OpenAPIProvider,
    QuartSchema,
    document_headers,
    document_querystring,
    document_request,
    document_response,
)
from quart_schema.openapi import Info
from werkzeug.routing import Rule

from revaer.api.models import API_KEY_HEADER, PROBLEM_CONTENT_TYPE, SETUP_TOKEN_HEADER
from revaer.api.schemas import Problem
from revaer.config import Role

__all__ = ["KEYED", "RevaerOpenAPI", "RouteDoc", "documented", "install_openapi", "route_doc"]

F = TypeVar("F", bound=Callable[..., Any])
Auth = Literal["api_key", "loopback_or_api_key", "setup_token", "none"]
"""``api_key``: a key with the route's role; ``loopback_or_api_key``: callers on this host
need none, others a key with the route's role; ``setup_token``/``none``: no key."""
KEYED: frozenset[Auth] = frozenset({"api_key", "loopback_or_api_key"})

_DOC_ATTRIBUTE = "_revaer_route_doc"
_PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}


@dataclass(frozen=True, slots=True, kw_only=True)
class RouteDoc:
    """What quart-schema cannot say about a route."""

    auth: Auth = "api_key"
    role: Role | None = None
    """The least role a key needs (``read``, ``operate``, ``admin``); keyed routes only."""
    problems: tuple[int, ...] = ()
    """Statuses of Problems the route answers with (401, 403, 429 are added for keyed ones)."""
    stream: bool = False
    """The 200 answer is a ``text/event-stream``."""
    text: bool = False
    """The 200 answer is ``text/plain`` (Prometheus metrics)."""
    form: type | None = None
    """A ``multipart/form-data`` alternative to the JSON body."""
    request_example: Any = None
    response_examples: dict[int, Any] = field(default_factory=dict)
    statuses: tuple[int, ...] = ()
    """The success statuses (documented even without a body model)."""
    body_optional: bool = False


def documented(
    *,
    responses: dict[int, Any],
    request: Any = None,
    query: Any = None,
    headers: Any = None,
    auth: Auth = "api_key",
    role: Role | None = None,
    problems: tuple[int, ...] = (),
    stream: bool = False,
    text: bool = False,
    form: type | None = None,
    request_example: Any = None,
    response_examples: dict[int, Any] | None = None,
    body_optional: bool = False,
) -> Callable[[F], F]:
    """Document a route: its models (as it validates and answers with them) and the rest.

    A keyed route must name its ``role``: access is enforced from this declaration (see
    ``revaer.api._guard``), so a route cannot be added without deciding who may call it.
    """
    if (auth in KEYED) != (role is not None):
        need = "must" if auth in KEYED else "must not"
        raise TypeError(f"a route with auth={auth!r} {need} name a role")

    def decorator(func: F) -> F:
        if request is not None:
            func = document_request(request, source=DataSource.JSON)(func)
        if query is not None:
            func = document_querystring(query)(func)
        if headers is not None:
            func = document_headers(headers)(func)
        for status, model in responses.items():
            if model is not None:
                func = document_response(model, status)(func)
        setattr(
            func,
            _DOC_ATTRIBUTE,
            RouteDoc(
                auth=auth,
                role=role,
                problems=problems,
                stream=stream,
                text=text,
                form=form,
                request_example=request_example,
                response_examples=response_examples or {},
                statuses=tuple(responses),
                body_optional=body_optional,
            ),
        )
        return func

    return decorator


_WHO: dict[Role, str] = {
    "read": "an API key with the `read`, `operate` or `admin` role.",
    "operate": "an API key with the `operate` or `admin` role.",
    "admin": "an API key with the `admin` role.",
}


def route_doc(func: Callable[..., Any]) -> RouteDoc | None:
    """The ``RouteDoc`` of a view function, None when it has none."""
    doc = getattr(func, _DOC_ATTRIBUTE, None)
    return doc if isinstance(doc, RouteDoc) else None


def _problem_response(status: int) -> dict[str, Any]:
    phrase = HTTPStatus(status).phrase
    return {
        "description": phrase,
        "content": {PROBLEM_CONTENT_TYPE: {"schema": _PROBLEM_REF}},
    }


class RevaerOpenAPI(OpenAPIProvider):
    """quart-schema's provider plus Problems, required bodies, security, streams, uploads."""

    def build_paths(self, rule: Rule) -> tuple[dict[str, Any], dict[str, Any]]:
        """The path objects of ``rule``, completed from its ``RouteDoc``."""
        paths, components = super().build_paths(rule)
        func = self._app.view_functions[rule.endpoint]
        doc: RouteDoc = getattr(func, _DOC_ATTRIBUTE, RouteDoc())
        for methods in paths.values():
            for method, operation in list(methods.items()):
                op = copy.deepcopy(operation)
                responses = self._responses(op, doc)
                problems = self._security_and_body(op, doc, components)
                for status in sorted(problems):
                    responses.setdefault(str(status), _problem_response(status))
                op["responses"] = dict(sorted(responses.items()))
                methods[method] = op
        return paths, components

    def build_path_parameter(self, name: str, converter: Any) -> dict[str, Any]:
        """Path parameters; torrent ids are UUIDs."""
        parameter = super().build_path_parameter(name, converter)
        if name == "torrent_id":
            parameter["schema"] = {"type": "string", "format": "uuid"}
        return parameter

    def operation_id(self, method: str, path: str, func: Callable[..., Any]) -> str | None:
        """Unique per method and path (an alias route shares its function)."""
        words = [w.strip("{}") for w in path.split("/") if w]
        return "_".join([method.lower(), *words]).replace(".", "_").replace("-", "_")

    def _responses(self, op: dict[str, Any], doc: RouteDoc) -> dict[str, Any]:
        responses: dict[str, Any] = {str(k): v for k, v in op.get("responses", {}).items()}
        for status in doc.statuses:
            responses.setdefault(str(status), {"description": HTTPStatus(status).phrase})
        if doc.stream:
            responses["200"] = {
                "description": "The event stream (Server-Sent Events).",
                "content": {"text/event-stream": {"schema": {"type": "string"}}},
            }
        if doc.text:
            responses["200"] = {
                "description": "Prometheus text exposition.",
                "content": {"text/plain": {"schema": {"type": "string"}}},
            }
        for status, example in doc.response_examples.items():
            for media in responses[str(status)].get("content", {}).values():
                media["example"] = example
        return responses

    def _security_and_body(
        self, op: dict[str, Any], doc: RouteDoc, components: dict[str, Any]
    ) -> set[int]:
        """Sets the security and completes the body; returns the Problem statuses."""
        problems = set(doc.problems) | {400}
        if doc.auth in KEYED:
            problems |= {401, 403, 409, 429}
            # OpenAPI 3.1 lets a non-OAuth requirement list the roles it needs.
            keyed = {"ApiKey": [doc.role]}
            op["security"] = [keyed] if doc.auth == "api_key" else [{}, keyed]
            op["x-revaer-role"] = doc.role
            who = "Needs " + _WHO[doc.role or "admin"]
            if doc.auth == "loopback_or_api_key":
                who = "Callers on this host need no key; others need " + _WHO[doc.role or "admin"]
            op["description"] = (op.get("description", "") + "\n\nAccess: " + who).strip()
        elif doc.auth == "setup_token":
            op["security"] = [{"SetupToken": []}]
        else:
            op["security"] = []
        if "requestBody" in op:
            problems |= {413, 422}
            body = op["requestBody"]
            body["required"] = not doc.body_optional
            if doc.request_example is not None:
                body["content"]["application/json"]["example"] = doc.request_example
            if doc.form is not None:
                body["content"]["multipart/form-data"] = self._form(doc.form, components)
        return problems

    def _form(self, model: type, components: dict[str, Any]) -> dict[str, Any]:
        schema = TypeAdapter(model).json_schema(ref_template="#/components/schemas/{model}")
        components.update(schema.pop("$defs", {}))
        properties = dict(schema.get("properties", {}))
        properties["torrent"] = {
            "type": "array",
            "items": {"type": "string", "contentMediaType": "application/x-bittorrent"},
            "description": "One or more .torrent files (each one torrent).",
        }
        return {"schema": {"type": "object", "properties": properties}}

    def schema(self) -> dict[str, Any]:
        """The document, with the Problem schema and the security schemes."""
        document = super().schema()
        components = document.setdefault("components", {})
        components.setdefault("schemas", {})["Problem"] = TypeAdapter(Problem).json_schema(
            ref_template="#/components/schemas/{model}"
        )
        components["securitySchemes"] = {
            "ApiKey": {
                "type": "apiKey",
                "in": "header",
                "name": API_KEY_HEADER,
                "description": (
                    "`key_id:secret` of an API key (issued by setup or `POST /v1/keys`). "
                    "Roles: `read` (GET routes and the event stream), `operate` (read plus "
                    "torrent add, select, actions, removal), `admin` (everything, including "
                    "settings and keys). Each operation lists the role it needs."
                ),
            },
            "SetupToken": {
                "type": "apiKey",
                "in": "header",
                "name": SETUP_TOKEN_HEADER,
                "description": "The one-time token from `POST /admin/setup/start`.",
            },
        }
        document["paths"] = dict(sorted(document["paths"].items()))
        document["components"]["schemas"] = dict(sorted(components["schemas"].items()))
        return document


def install_openapi(app: Quart, *, version: str) -> QuartSchema:
    """Attach quart-schema (documentation only: no UI pages, no CDN, no route of its own)."""
    return QuartSchema(
        app,
        openapi_path=None,
        redoc_ui_path=None,
        scalar_ui_path=None,
        swagger_ui_path=None,
        info=Info(
            title="Revaer",
            version=version,
            description=(
                "Headless torrent orchestrator. Errors are RFC 9457 Problems "
                "(`application/problem+json`) whose `invalid_params` point into the request; "
                "events stream at `/v1/events`. See docs/api.md."
            ),
        ),
        conversion_preference="pydantic",
        openapi_provider_class=RevaerOpenAPI,
    )
