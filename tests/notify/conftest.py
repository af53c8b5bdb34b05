"""Fixtures of the notification tests: a broker with fast delivery (the receiver is in
tests/conftest.py)."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import ClientFactory
from tests.notify.support import FAST


@pytest.fixture
async def broker(make_client: ClientFactory) -> httpx.AsyncClient:
    """A client of a broker that retries and gives up quickly."""
    return await make_client(**FAST)
