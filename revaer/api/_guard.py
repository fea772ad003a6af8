"""Who may call a route: decided once, before the handler runs, from the route's declaration.

Every view function carries a ``RouteDoc`` (``@documented``) naming its ``auth`` and, for keyed
routes, the least ``role`` a key needs. :func:`admit` runs before every request (the body is
not read yet, so a refused upload costs nothing): it verifies the key, refuses while the
instance is in setup mode, takes a token from the key's bucket, and checks the role. A route
without a declaration is refused: access is never granted by omission.
"""

from __future__ import annotations

from quart import current_app, g, request

from revaer.api._deps import ApiDeps
from revaer.api._openapi import RouteDoc, route_doc
from revaer.api._ratelimit import RateDecision
from revaer.api._request import is_loopback
from revaer.api.models import API_KEY_HEADER
from revaer.config import ApiKeyRecord, role_allows
from revaer.errors import Conflict, Forbidden, RevaerError, TooManyRequests

__all__ = ["admit", "current_key", "rate_headers"]


class UndeclaredRoute(RevaerError):
    """A route has no access declaration (a programming error; refused, never served)."""


async def admit(deps: ApiDeps) -> None:
    """Refuse the request unless its route's declaration lets the caller in."""
    if request.url_rule is None:
        return  # no route: the 404/405 answer needs no key
    func = current_app.view_functions.get(request.url_rule.endpoint)
    doc = route_doc(func) if func is not None else None
    if doc is None:
        raise UndeclaredRoute(f"route {request.url_rule.rule} declares no access; refused")
    if doc.auth in ("none", "setup_token"):
        return
    client = request.scope.get("client")
    address = client[0] if client else None
    if (
        doc.auth == "loopback_or_api_key"
        and API_KEY_HEADER not in request.headers
        and is_loopback(address)
    ):
        return  # a key that is presented is always checked
    await _admit_key(deps, doc, address)


async def _admit_key(deps: ApiDeps, doc: RouteDoc, address: str | None) -> None:
    key = await deps.verifier.verify(request.headers.get(API_KEY_HEADER), client=address)
    g.key = key
    g.key_id = key.key_id
    if deps.snapshots.value.mode != "active":
        raise Conflict("complete setup first: the instance is in setup mode")
    limit = key.rate_limit
    decision = g.rate = deps.limiter.take(key.key_id, limit)
    if limit is not None and decision is not None and not decision.allowed:
        raise TooManyRequests(
            f"API key {key.key_id} is over its rate limit ({limit.burst} requests per "
            f"{limit.per_seconds} s); retry in {decision.retry_after} s",
            headers=decision.headers(),
        )
    deps.usage.touch(key.key_id)
    assert doc.role is not None
    if not role_allows(key.role, doc.role):
        raise Forbidden(
            f"this route needs an API key with the {doc.role} role "
            f"(or a more privileged one); key {key.key_id} has the {key.role} role"
        )


def current_key() -> ApiKeyRecord:
    """The verified key of the request being handled (keyed routes only)."""
    key = getattr(g, "key", None)
    assert isinstance(key, ApiKeyRecord), "current_key() outside a keyed route"
    return key


def rate_headers() -> dict[str, str]:
    """The ``X-RateLimit-*`` headers of this request's key, if it has a limit."""
    decision = getattr(g, "rate", None)
    return decision.headers() if isinstance(decision, RateDecision) else {}
