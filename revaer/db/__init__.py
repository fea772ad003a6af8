"""PostgreSQL access for trio code; the only package that imports asyncpg or trio_asyncio."""

from revaer.db._bridge import open_asyncio_loop
from revaer.db._database import Connection, Database, Notification, Row, Tx
from revaer.db._describe import describe_dsn
from revaer.db._embedded import EmbeddedPostgres
from revaer.db._errors import DatabaseUnavailable, QueryError
from revaer.db._migrate import Migration, load_migrations, migrate
from revaer.db._storable import storable, storable_text

__all__ = [
    "Connection",
    "Database",
    "DatabaseUnavailable",
    "EmbeddedPostgres",
    "Migration",
    "Notification",
    "QueryError",
    "Row",
    "Tx",
    "describe_dsn",
    "load_migrations",
    "migrate",
    "open_asyncio_loop",
    "storable",
    "storable_text",
]
