"""The ``store_backend`` fixture: every store test runs against each backend in BACKENDS.

PostgreSQL is planned (STYLE.md): when ``thudo/store/postgres`` exists, enabling its tests is
the one commented line in BACKENDS. Those tests carry the ``postgres`` marker and skip, saying
why, where no server answers at 127.0.0.1:5432.
"""

from __future__ import annotations

import os
import socket
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from thudo.config import Settings, load_settings
from thudo.store import open_store
from thudo.store.base import Store

POSTGRES_URL = os.environ.get(
    "THUDO_TEST_POSTGRES_URL", "postgresql://thudo@127.0.0.1:5432/thudo_test"
)

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    # pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
]


def _postgres_reachable(host: str = "127.0.0.1", port: int = 5432) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


@pytest.fixture(params=BACKENDS)
def store_backend(request: pytest.FixtureRequest) -> str:
    """The name of the backend under test."""
    name: str = request.param
    if name == "postgres" and not _postgres_reachable():
        pytest.skip("no PostgreSQL server is reachable at 127.0.0.1:5432")
    return name


@pytest.fixture
def store_settings(store_backend: str, tmp_path: Path) -> Callable[..., Settings]:
    """Settings for the backend under test, on fresh storage."""

    def build(**overrides: object) -> Settings:
        url = f"sqlite:///{tmp_path / 'store.db'}" if store_backend == "sqlite" else POSTGRES_URL
        return load_settings(environ={}, database_url=url, **overrides)

    return build


@pytest.fixture
async def store(store_settings: Callable[..., Settings]) -> AsyncIterator[Store]:
    """A started store of the backend under test."""
    s = open_store(store_settings())
    await s.start()
    yield s
    await s.close()
