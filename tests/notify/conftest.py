"""Fixtures of the notification tests: a broker with fast delivery and a receiver."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import ClientFactory
from tests.notify.support import FAST
from tests.receiver import Receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A started HTTP receiver of notifications."""
    server = Receiver()
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def broker(make_client: ClientFactory) -> httpx.AsyncClient:
    """A client of a broker that retries and gives up quickly."""
    return await make_client(**FAST)
