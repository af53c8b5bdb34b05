"""Schema migrations bring an older database up to date without losing what it holds."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from thudo.store.sqlite.schema import MIGRATIONS, SCHEMA_VERSION, migrate


def _at_version(path: Path, version: int) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    for script in MIGRATIONS[:version]:
        conn.executescript(script)
    conn.execute(f"PRAGMA user_version = {version:d}")
    return conn


def test_daily_rollups_are_built_from_the_hourly_ones(tmp_path: Path) -> None:
    conn = _at_version(tmp_path / "v5.db", 5)
    hourly = [
        ("2025-06-01T00:00:00.000000Z", 2, 10.0, 4.0, 6.0, 52.0),
        ("2025-06-01T13:00:00.000000Z", 1, 3.0, 3.0, 3.0, 9.0),
        ("2025-06-02T05:00:00.000000Z", 3, 30.0, 5.0, 15.0, 350.0),
    ]
    conn.executemany(
        "INSERT INTO trollups VALUES (0, 'urn:e', 'pm25', '', 'PT1H', ?, ?, ?, ?, ?, ?)", hourly
    )
    assert migrate(conn) == 5
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    daily = conn.execute(
        "SELECT bucket, n, total, lo, hi, sumsq FROM trollups WHERE period = 'P1D' ORDER BY bucket"
    ).fetchall()
    assert daily == [
        ("2025-06-01T00:00:00.000000Z", 3, 13.0, 3.0, 6.0, 61.0),
        ("2025-06-02T00:00:00.000000Z", 3, 30.0, 5.0, 15.0, 350.0),
    ]
    hourly_left = conn.execute("SELECT count(*) FROM trollups WHERE period = 'PT1H'").fetchone()
    assert hourly_left == (3,)
    conn.close()


def test_migrating_twice_changes_nothing(tmp_path: Path) -> None:
    conn = _at_version(tmp_path / "new.db", 0)
    assert migrate(conn) == 0
    assert migrate(conn) == SCHEMA_VERSION
    conn.close()
