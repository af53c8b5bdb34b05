"""The ``store_backend`` fixture: every store test runs against each backend in BACKENDS.

The PostgreSQL cases carry the ``postgres`` marker, run on a database created for the
session (tests/pgtest.py) and emptied before each test, and skip, saying why, where no
server answers at 127.0.0.1:5432.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from tests import pgtest
from thudo.config import Settings, load_settings
from thudo.store import open_store
from thudo.store.base import Store

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
]


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """The URL of a PostgreSQL database (with PostGIS) for this session."""
    yield from pgtest.database()


@pytest.fixture(params=BACKENDS)
def store_backend(request: pytest.FixtureRequest) -> str:
    """The name of the backend under test."""
    name: str = request.param
    if name == "postgres" and not pgtest.reachable():
        pytest.skip(pgtest.SKIP_REASON)
    return name


@pytest.fixture
def store_settings(
    store_backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Callable[..., Settings]:
    """Settings for the backend under test, on fresh storage."""
    if store_backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'store.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
        pgtest.empty_database(url)

    def build(**overrides: object) -> Settings:
        return load_settings(environ={}, database_url=url, **overrides)

    return build


@pytest.fixture
async def store(store_settings: Callable[..., Settings]) -> AsyncIterator[Store]:
    """A started store of the backend under test."""
    s = open_store(store_settings())
    await s.start()
    yield s
    await s.close()
