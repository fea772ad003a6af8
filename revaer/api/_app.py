"""The app factory: routes, error rendering, request ids, request metrics."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from loguru import logger
from quart import Response, g, request
from quart_trio import QuartTrio
from quart_trio.wrappers import TrioRequest
from werkzeug.exceptions import HTTPException

from revaer.api._deps import ApiDeps
from revaer.api._guard import admit, rate_headers
from revaer.api._hardening import HardeningMiddleware
from revaer.api._openapi import install_openapi
from revaer.api._problem import problem_response
from revaer.api._request import RequestIdMiddleware, current_request_id
from revaer.api._routes_admin import admin_blueprint
from revaer.api._routes_events import events_blueprint
from revaer.api._routes_keys import keys_blueprint
from revaer.api._routes_system import system_blueprint
from revaer.api._routes_torrents import torrents_blueprint
from revaer.config import HttpLimits
from revaer.errors import RevaerError

__all__ = ["create_app"]

_log = logger.bind(actor="http")
_access = logger.bind(actor="access")


UPLOAD_PATHS = frozenset({"/v1/torrents", "/admin/torrents"})
"""Where a POST may carry .torrent files: the larger body limit applies there."""


def _request_class(
    limits: Callable[[], HttpLimits], upload_paths: frozenset[str]
) -> type[TrioRequest]:
    class RevaerRequest(TrioRequest):
        """A request whose body limit depends on its route, fixed before any byte is read.

        Quart sizes the body buffer when the request is created, from ``MAX_CONTENT_LENGTH``;
        raising the limit later in a handler comes too late. The limits are read from the
        configuration in effect when the request arrives.
        """

        def __init__(self, method: str, scheme: str, path: str, *args: Any, **kwargs: Any) -> None:
            self.limits = limits()
            upload = method == "POST" and path in upload_paths
            kwargs["max_content_length"] = (
                self.limits.max_upload_bytes if upload else self.limits.max_body_bytes
            )
            super().__init__(method, scheme, path, *args, **kwargs)

    return RevaerRequest


def create_app(deps: ApiDeps) -> QuartTrio:
    """Build the Quart-Trio app for ``deps``; serve it with ``serve_http``."""
    # No static folder: every route is in the API's route map (and its auth table test).
    app = QuartTrio("revaer", static_folder=None)
    app.request_class = _request_class(
        lambda: HttpLimits.of(deps.snapshots.value.app_profile), UPLOAD_PATHS
    )
    app.config.update(
        # Errors are rendered by our handlers, never by Quart's debug pages.
        PROPAGATE_EXCEPTIONS=False,
        JSON_SORT_KEYS=False,
    )
    app.asgi_app = HardeningMiddleware(app.asgi_app, deps.snapshots)  # type: ignore[method-assign,assignment,arg-type]
    app.asgi_app = RequestIdMiddleware(app.asgi_app)  # type: ignore[method-assign,assignment,arg-type]
    app.register_blueprint(system_blueprint(deps))
    app.register_blueprint(admin_blueprint(deps))
    app.register_blueprint(events_blueprint(deps))
    app.register_blueprint(torrents_blueprint(deps))
    app.register_blueprint(keys_blueprint(deps))
    install_openapi(app, version=deps.version)

    @app.before_request
    async def _start_and_admit() -> None:
        g.started = time.perf_counter()
        await admit(deps)

    @app.after_request
    async def _observe(response: Response) -> Response:
        route = request.url_rule.rule if request.url_rule is not None else "unmatched"
        started = getattr(g, "started", None)
        elapsed = time.perf_counter() - started if started is not None else 0.0
        method = request.method
        code = str(response.status_code)
        deps.metrics.http_requests_total.labels(route=route, method=method, code=code).inc()
        deps.metrics.http_request_seconds.labels(route=route, method=method).observe(elapsed)
        key_id = getattr(g, "key_id", None)
        response.headers.update(rate_headers())
        _access.info(
            "{} {} {} {:.1f} ms",
            request.method,
            route,
            response.status_code,
            elapsed * 1000,
            method=request.method,
            route=route,
            status=response.status_code,
            duration_ms=round(elapsed * 1000, 3),
            **({"key_id": key_id} if key_id else {}),
        )
        return response

    @app.errorhandler(RevaerError)
    async def _revaer_error(error: RevaerError) -> Response:
        if error.status >= 500:
            _log.error("{} {} failed: {}", request.method, request.path, error.detail)
        return problem_response(error, request_id=current_request_id(), instance=request.path)

    @app.errorhandler(HTTPException)
    async def _http_error(error: HTTPException) -> Response:
        status = error.code or 500
        title = error.name or "HTTP error"
        slug = title.lower().replace(" ", "-")
        response = problem_response(
            status=status,
            title=title,
            slug=slug,
            detail=error.description or title,
            request_id=current_request_id(),
            instance=request.path,
        )
        if status == 405 and error.response is None:
            allowed = getattr(error, "valid_methods", None)
            if allowed:
                response.headers["Allow"] = ", ".join(allowed)
        return response

    @app.errorhandler(Exception)
    async def _unexpected(error: Exception) -> Response:
        _log.opt(exception=error).error("unhandled error on {} {}", request.method, request.path)
        return problem_response(
            status=500,
            title="Internal error",
            slug="internal",
            detail="an unexpected error occurred; see the daemon log for this request id",
            request_id=current_request_id(),
            instance=request.path,
        )

    return app
