"""Click parameter types for values the CLI validates before sending anything.

A value these types reject is a usage error: click names the option and exits 2.
"""

from __future__ import annotations

import ipaddress
import math
from datetime import datetime
from pathlib import PurePosixPath
from urllib.parse import urlsplit

import click

from revaer.api.models import RateLimitDoc

__all__ = ["ABSOLUTE_PATH", "API_URL", "IP_ADDRESS", "PORT", "RATE_LIMIT", "SECONDS", "TIMESTAMP"]


class _IpAddress(click.ParamType[str, str]):
    """An IPv4 or IPv6 address (no host names), returned in canonical form."""

    name = "address"

    def convert(self, value: str, param: click.Parameter | None, ctx: click.Context | None) -> str:
        try:
            return str(ipaddress.ip_address(value))
        except ValueError:
            self.fail(f"{value!r} is not an IPv4 or IPv6 address", param, ctx)


class _AbsolutePath(click.ParamType[str, str]):
    """An absolute path on the daemon's host; it is not checked against the local disk."""

    name = "path"

    def convert(self, value: str, param: click.Parameter | None, ctx: click.Context | None) -> str:
        if not PurePosixPath(value).is_absolute():
            self.fail(f"{value!r} is not an absolute path", param, ctx)
        return value


class _ApiUrl(click.ParamType[str, str]):
    """An ``http://`` or ``https://`` base URL with a host."""

    name = "url"

    def convert(self, value: str, param: click.Parameter | None, ctx: click.Context | None) -> str:
        if not _is_base_url(value):
            # The value is not echoed: a URL may carry credentials.
            self.fail("must be an http:// or https:// URL with a host", param, ctx)
        return value


def _is_base_url(value: str) -> bool:
    try:
        parts = urlsplit(value)
        _ = parts.port  # raises ValueError when the port is not a number in range
    except ValueError:
        return False
    return parts.scheme in {"http", "https"} and bool(parts.hostname)


class _Seconds(click.ParamType[float, str | float]):
    """A finite, strictly positive number of seconds."""

    name = "seconds"

    def convert(
        self, value: str | float, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        try:
            seconds = float(value)
        except ValueError:
            self.fail(f"{value!r} is not a number", param, ctx)
        if not (math.isfinite(seconds) and seconds > 0):
            self.fail(f"must be a number of seconds greater than 0, not {value!r}", param, ctx)
        return seconds


class _RateLimit(click.ParamType[RateLimitDoc, str]):
    """``BURST/SECONDS``: at most BURST requests per SECONDS seconds, both whole numbers > 0."""

    name = "burst/seconds"

    def convert(
        self, value: str, param: click.Parameter | None, ctx: click.Context | None
    ) -> RateLimitDoc:
        burst, sep, seconds = value.partition("/")
        seconds = seconds.removesuffix("s")
        if not (sep and burst.isdigit() and seconds.isdigit()):
            self.fail(f"{value!r} is not BURST/SECONDS (e.g. 300/10)", param, ctx)
        if int(burst) < 1 or int(seconds) < 1:
            self.fail(f"{value!r}: BURST and SECONDS must be at least 1", param, ctx)
        return RateLimitDoc(burst=int(burst), per_seconds=int(seconds))


class _Timestamp(click.ParamType[str, str]):
    """An ISO 8601 timestamp with a timezone, sent as given."""

    name = "iso8601"

    def convert(self, value: str, param: click.Parameter | None, ctx: click.Context | None) -> str:
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            self.fail(f"{value!r} is not an ISO 8601 timestamp", param, ctx)
        if parsed.tzinfo is None:
            self.fail(f"{value!r} has no timezone (e.g. 2030-01-01T00:00:00Z)", param, ctx)
        return value


IP_ADDRESS = _IpAddress()
ABSOLUTE_PATH = _AbsolutePath()
API_URL = _ApiUrl()
SECONDS = _Seconds()
RATE_LIMIT = _RateLimit()
TIMESTAMP = _Timestamp()
PORT = click.IntRange(1, 65535)
