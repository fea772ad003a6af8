"""The server side of the API: app factory, dependencies, key verification, hypercorn runner."""

from revaer.api._app import create_app
from revaer.api._auth import ApiKeyVerifier, parse_api_key
from revaer.api._deps import ApiDeps
from revaer.api._ratelimit import RateLimiter
from revaer.api._server import Endpoint, serve_http
from revaer.api._sse import StreamHub, close_revoked_streams
from revaer.api._usage import KeyUsage

__all__ = [
    "ApiDeps",
    "ApiKeyVerifier",
    "Endpoint",
    "KeyUsage",
    "RateLimiter",
    "StreamHub",
    "close_revoked_streams",
    "create_app",
    "parse_api_key",
    "serve_http",
]
