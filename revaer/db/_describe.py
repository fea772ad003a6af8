"""Where a database URL points, said without its password (for logs and fatal errors)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

__all__ = ["describe_dsn"]


def describe_dsn(dsn: str) -> str:
    """``PostgreSQL at host:port/db`` or ``… on socket /dir``; never the password.

    Raises ``ValueError`` naming what is wrong when ``dsn`` is not a PostgreSQL URL.
    """
    parts = urlsplit(dsn)
    if parts.scheme not in ("postgresql", "postgres"):
        raise ValueError("it must start with postgresql:// (e.g. postgresql://user@host/db)")
    try:
        port = parts.port
    except ValueError:
        raise ValueError("its port is not a number from 1 to 65535") from None
    database = parts.path.lstrip("/") or "(default database)"
    socket = parse_qs(parts.query).get("host", [""])[0]
    if socket.startswith("/"):
        return f"PostgreSQL on socket {socket}, database {database}"
    host = parts.hostname or "localhost"
    return f"PostgreSQL at {host}:{port or 5432}, database {database}"
