"""describe_dsn: where a DATABASE_URL points, never with its password."""

from __future__ import annotations

import pytest

from revaer.db import describe_dsn


@pytest.mark.parametrize(
    ("dsn", "described"),
    [
        ("postgresql://u:pw@db:5433/revaer", "PostgreSQL at db:5433, database revaer"),
        ("postgres://db/revaer", "PostgreSQL at db:5432, database revaer"),
        ("postgresql://u@[::1]:6000/x", "PostgreSQL at [::1]:6000, database x"),
        ("postgresql://u@h1:5432,h2:5433/x", "PostgreSQL at h1:5432 or at h2:5433, database x"),
        ("postgresql://u@/x?host=/run/pg", "PostgreSQL on socket /run/pg, database x"),
        ("postgresql:///x?host=dbhost&port=5434", "PostgreSQL at dbhost:5434, database x"),
        ("postgresql://u@h", "PostgreSQL at h:5432, database (default)"),
        (
            "postgresql:///revaer",
            "PostgreSQL at the default host (PGHOST, or the local socket), database revaer",
        ),
    ],
)
def test_describes_host_port_and_database(dsn: str, described: str) -> None:
    assert describe_dsn(dsn) == described


@pytest.mark.parametrize("dsn", ["postgresql://u:12/34@h/db", "postgresql://u:a#b@h/db"])
def test_an_ambiguous_url_is_described_without_any_part_of_it(dsn: str) -> None:
    described = describe_dsn(dsn)
    assert "address is unclear" in described
    assert "12" not in described and "34" not in described and "a#b" not in described


@pytest.mark.parametrize(
    ("dsn", "reason"),
    [
        ("mysql://u@h/db", "it must start with postgresql://"),
        ("postgresql://u@h:99999/db", "its port is not a number from 1 to 65535"),
        ("postgresql://u@h:abc/db", "its port is not a number from 1 to 65535"),
    ],
)
def test_a_url_that_is_not_postgresql_is_refused_with_the_reason(dsn: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        describe_dsn(dsn)
