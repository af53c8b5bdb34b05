"""WAL checkpoints off the write path.

With automatic checkpoints, the writer that happens to cross the threshold copies the WAL
into the database and waits for the disk. Here the writer never checkpoints; this thread
does, every ``interval`` seconds, in PASSIVE mode, so it never blocks writers or readers.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable

__all__ = ["Checkpointer"]

log = logging.getLogger(__name__)


class Checkpointer:
    """A daemon thread that checkpoints the WAL of one database."""

    def __init__(self, connect: Callable[[], sqlite3.Connection], interval: float = 1.0) -> None:
        self._connect = connect
        self._interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start checkpointing."""
        self._thread = threading.Thread(
            target=self._run, name="thudo-sqlite-checkpoint", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop, after a last full checkpoint that also truncates the WAL."""
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join()
        self._thread = None

    def _run(self) -> None:
        conn = self._connect()
        try:
            while not self._stop.wait(self._interval):
                self._checkpoint(conn, "PASSIVE")
            self._checkpoint(conn, "TRUNCATE")
        finally:
            conn.close()

    @staticmethod
    def _checkpoint(conn: sqlite3.Connection, mode: str) -> None:
        try:
            conn.execute(f"PRAGMA wal_checkpoint({mode})").fetchone()
        except sqlite3.Error as exc:
            log.warning("WAL checkpoint (%s) failed: %s", mode, exc)
