"""History retention on PostgreSQL drops whole monthly partitions of old instances (and
deletes the rest row by row); the rollups of the dropped months stay."""

from __future__ import annotations

from datetime import UTC, datetime

import psycopg
import pytest

from tests.store.test_outbox_history import _set
from tests.store.test_store import VOCAB
from thudo.ngsild.selection import EntitySelection
from thudo.ngsild.temporal import Aggregation, TimeFilter
from thudo.store.base import Store
from thudo.store.postgres.schema import ensure_partitions

pytestmark = pytest.mark.postgres


@pytest.fixture
def store_backend() -> str:
    return "postgres"


async def _partitions(url: str) -> list[str]:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        cur = await conn.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
            " WHERE i.inhparent = 'tinstances'::regclass ORDER BY 1"
        )
        return [str(row[0]) for row in await cur.fetchall()]


async def test_old_months_are_dropped_and_their_rollups_kept(
    store: Store, postgres_url: str
) -> None:
    async with await psycopg.AsyncConnection.connect(postgres_url, autocommit=True) as conn:
        await ensure_partitions(conn, ahead=2, now=datetime(2024, 1, 10, tzinfo=UTC))
    assert {"tinstances_2024_01", "tinstances_2024_02", "tinstances_2024_03"} <= set(
        await _partitions(postgres_url)
    )
    stamps = [
        "2024-01-05T10:00:00Z",
        "2024-01-20T10:30:00Z",
        "2024-02-11T08:00:00Z",
        "2024-03-02T09:00:00Z",
        "2024-03-20T09:00:00Z",
    ]
    for value, at in enumerate(stamps, start=1):
        await store.change("", "urn:a:1", _set(float(value), at))  # type: ignore[arg-type]

    removed = await store.purge_history("2024-03-10T00:00:00.000000Z", 100)

    # January (2 rows) and February (1) dropped whole, the March row before the 10th deleted.
    assert removed == 4
    left = set(await _partitions(postgres_url))
    assert "tinstances_2024_01" not in left and "tinstances_2024_02" not in left
    assert "tinstances_2024_03" in left
    values = await store.recent_values("", "urn:a:1", VOCAB + "t", "2000-01-01")
    assert values == [("2024-03-20T09:00:00.000000Z", 5.0)]
    daily = Aggregation(("sum",), 86400.0)
    span = TimeFilter("between", "2024-01-01T00:00:00.000000Z", "2024-04-01T00:00:00.000000Z")
    sel = EntitySelection(ids=("urn:a:1",))
    [entity], _, _ = await store.temporal_query("", sel, span, 100, daily)
    [group] = entity.aggregates[VOCAB + "t"]
    assert [v[0] for v in group["sum"]] == [1.0, 2.0, 3.0, 4.0, 5.0]
    # Nothing older is left: a second run drops and deletes nothing.
    assert await store.purge_history("2024-03-10T00:00:00.000000Z", 100) == 0
