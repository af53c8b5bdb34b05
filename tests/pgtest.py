"""Throw-away PostgreSQL databases for the tests: one per session, emptied between tests.

The server is the one at ``THUDO_TEST_POSTGRES_URL`` (default: user postgres on
127.0.0.1:5432, trust authentication); each session creates ``thudo_test_<random>`` with
the PostGIS extension and drops it at the end.
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import pytest

ADMIN_URL = os.environ.get(
    "THUDO_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
SKIP_REASON = "no PostgreSQL on 127.0.0.1:5432"


def reachable() -> bool:
    """Whether a PostgreSQL server answers where the tests expect one."""
    parts = urlsplit(ADMIN_URL)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 5432), 0.5):
            return True
    except OSError:
        return False


def _url_of(name: str) -> str:
    parts = urlsplit(ADMIN_URL)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, ""))


def create_database() -> tuple[str, str]:
    """A new database with PostGIS: (name, URL)."""
    import psycopg

    name = "thudo_test_" + secrets.token_hex(4)
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = _url_of(name)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    return name, url


def database() -> Iterator[str]:
    """For a fixture to ``yield from``: the URL of a new database, dropped at the fixture's
    end; skips the test where no server answers."""
    if not reachable():
        pytest.skip(SKIP_REASON)
    name, url = create_database()
    yield url
    drop_database(name)


def drop_database(name: str) -> None:
    """Drop a test database, closing the connections still open to it."""
    import psycopg

    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def empty_database(url: str) -> None:
    """Drop every thudo table and sequence (PostGIS stays): the next store starts afresh."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(url, autocommit=True) as conn:
        tables = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
            " AND tablename <> 'spatial_ref_sys'"
        ).fetchall()
        for (table,) in tables:
            conn.execute(sql.SQL("DROP TABLE IF EXISTS {} CASCADE").format(sql.Identifier(table)))
        seqs = conn.execute(
            "SELECT sequencename FROM pg_sequences WHERE schemaname = 'public'"
        ).fetchall()
        for (seq,) in seqs:
            conn.execute(sql.SQL("DROP SEQUENCE IF EXISTS {}").format(sql.Identifier(seq)))
