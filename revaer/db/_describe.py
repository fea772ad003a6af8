"""Where a database URL points, said without its password (for logs and fatal errors)."""

from __future__ import annotations

from urllib.parse import parse_qs, unquote, urlsplit

__all__ = ["describe_dsn"]

_UNCLEAR = (
    "PostgreSQL (its address is unclear: percent-encode any /, # or @ in the user name or password)"
)


def describe_dsn(dsn: str) -> str:
    """``PostgreSQL at host:port[, host:port…], database db`` or ``… on socket /dir``.

    Follows asyncpg's reading: hosts and ports from the authority (several, comma-separated),
    else from the ``host``/``port`` query parameters. Never includes the user or password; a
    URL whose authority cannot be told apart from its path is described without an address.
    Raises ``ValueError`` naming what is wrong when ``dsn`` is not a PostgreSQL URL.
    """
    parts = urlsplit(dsn)
    if parts.scheme not in ("postgresql", "postgres"):
        raise ValueError("it must start with postgresql:// (e.g. postgresql://user@host/db)")
    if "@" in parts.path or parts.fragment:
        return _UNCLEAR  # a password with '/' or '#' split the URL in the wrong place
    query = parse_qs(parts.query)
    database = unquote(parts.path.lstrip("/")) or query.get("dbname", [""])[0]
    authority = parts.netloc.rpartition("@")[2]
    hosts = [_host_port(spec) for spec in authority.split(",") if spec]
    if not hosts:
        names = [h for h in query.get("host", [""])[0].split(",") if h]
        ports = [p for p in query.get("port", [""])[0].split(",") if p]
        hosts = [(name, _port(ports[min(i, len(ports) - 1)]) if ports else None)
                 for i, name in enumerate(names)]  # fmt: skip
    where = " or ".join(_where(host, port) for host, port in hosts) or (
        "at the default host (PGHOST, or the local socket)"
    )
    return f"PostgreSQL {where}, database {database or '(default)'}"


def _host_port(spec: str) -> tuple[str, int | None]:
    if spec.startswith("["):  # [v6]:port
        host, _, rest = spec[1:].partition("]")
        return host, _port(rest[1:]) if rest.startswith(":") else None
    host, sep, port = spec.rpartition(":")
    return (unquote(host), _port(port)) if sep else (unquote(spec), None)


def _port(text: str) -> int | None:
    if not text:
        return None
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise ValueError("its port is not a number from 1 to 65535")
    return int(text)


def _where(host: str, port: int | None) -> str:
    if host.startswith("/"):
        return f"on socket {host}"
    shown = f"[{host}]" if ":" in host else host
    return f"at {shown}:{port or 5432}"
