"""Database errors, translated from asyncpg in one place (``_bridge.call``)."""

from __future__ import annotations

from revaer.errors import RevaerError, ServiceUnavailable

__all__ = ["DatabaseUnavailable", "QueryError"]


class DatabaseUnavailable(ServiceUnavailable):
    """PostgreSQL cannot be reached or the connection was lost."""

    title = "Database unavailable"
    slug = "database-unavailable"


class QueryError(RevaerError):
    """PostgreSQL rejected a statement; ``sqlstate`` says why (e.g. ``23505`` unique violation)."""

    title = "Database error"
    slug = "database-error"

    def __init__(self, detail: str, *, sqlstate: str | None) -> None:
        super().__init__(detail)
        self.sqlstate = sqlstate
