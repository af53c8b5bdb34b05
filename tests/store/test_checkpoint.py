"""The WAL checkpointer: passive copies, and a truncating one once the WAL is too big."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

import pytest

from thudo.store.sqlite.checkpoint import Checkpointer
from thudo.store.sqlite.writer import Writer


def _fill_wal(path: Path, rows: int) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA wal_autocheckpoint = 0")
    conn.execute("CREATE TABLE t (x BLOB)")
    for _ in range(rows):
        conn.execute("INSERT INTO t VALUES (randomblob(4000))")
    return conn


def _wal_size(path: Path) -> int:
    wal = path.with_name(path.name + "-wal")
    return wal.stat().st_size if wal.exists() else 0


def _run(path: Path, max_bytes: int, wait: float) -> int:
    checkpointer = Checkpointer(
        lambda: sqlite3.connect(path, isolation_level=None, check_same_thread=False),
        interval=0.02,
        max_bytes=max_bytes,
    )
    checkpointer.start()
    deadline = time.monotonic() + wait
    try:
        while time.monotonic() < deadline and _wal_size(path) > 0:
            time.sleep(0.02)
        return _wal_size(path)
    finally:
        checkpointer._stop.set()  # stop without the final TRUNCATE
        assert checkpointer._thread is not None
        checkpointer._thread.join()


def test_a_wal_over_the_limit_is_truncated(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    writer = _fill_wal(path, 200)
    assert _wal_size(path) > 256 << 10
    assert _run(path, max_bytes=256 << 10, wait=5.0) == 0
    assert writer.execute("SELECT count(*) FROM t").fetchone()[0] == 200
    writer.close()


def test_a_wal_under_the_limit_is_only_copied(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    writer = _fill_wal(path, 200)
    size = _wal_size(path)
    # Passive checkpoints copy the pages but leave the file for the writer to rewind.
    assert _run(path, max_bytes=64 << 20, wait=0.3) == size
    writer.close()


def test_stop_truncates_the_wal(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    writer = _fill_wal(path, 50)
    checkpointer = Checkpointer(
        lambda: sqlite3.connect(path, isolation_level=None, check_same_thread=False),
        interval=10.0,
    )
    checkpointer.start()
    checkpointer.stop()
    assert _wal_size(path) == 0
    writer.close()


async def test_the_wal_stays_bounded_while_the_writer_commits_group_after_group(
    tmp_path: Path,
) -> None:
    path = tmp_path / "t.db"
    _fill_wal(path, 0).close()

    def connect() -> sqlite3.Connection:
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA wal_autocheckpoint = 0")
        return conn

    writer = Writer(connect, max_group=8)
    writer.start()
    checkpointer = Checkpointer(
        connect, interval=0.01, max_bytes=256 << 10, exclusive=writer.run_between
    )
    checkpointer.start()
    peak = 0
    try:
        # 2,000 writes of 4 KB (8 MB) queued at once: the writer commits group after group
        # with no pause, which a checkpoint from another thread could not get in between.
        def insert(conn: sqlite3.Connection) -> None:
            conn.execute("INSERT INTO t VALUES (randomblob(4000))")

        pending = [writer.submit(insert) for _ in range(2000)]
        while not all(f.done() for f in pending):
            peak = max(peak, _wal_size(path))
            await asyncio.sleep(0.005)
        await asyncio.gather(*pending)
    finally:
        checkpointer.stop()
        writer.stop()
    assert peak < 4 << 20
    check = sqlite3.connect(path)
    assert check.execute("SELECT count(*) FROM t").fetchone()[0] == 2000
    check.close()


def test_work_for_between_groups_is_refused_once_the_writer_has_stopped(tmp_path: Path) -> None:
    writer = Writer(lambda: sqlite3.connect(tmp_path / "t.db", check_same_thread=False), 8)
    writer.start()
    assert writer.run_between(lambda conn: conn.execute("SELECT 41 + 1").fetchone()[0]) == 42
    writer.stop()
    started = time.monotonic()
    with pytest.raises(RuntimeError, match="stopped"):
        writer.run_between(lambda conn: None, timeout=30)
    assert time.monotonic() - started < 5  # told at once, not after the timeout
