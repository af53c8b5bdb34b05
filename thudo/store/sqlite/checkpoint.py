"""WAL checkpoints off the write path.

With automatic checkpoints, the writer that happens to cross the threshold copies the WAL
into the database and waits for the disk. Here the writer never checkpoints; this thread
does, every ``interval`` seconds, in PASSIVE mode, so it never blocks writers or readers.

A passive checkpoint cannot finish while writes keep coming, so under sustained load the
WAL would grow without bound (the log is only rewound once it has been copied entirely).
When it holds more than ``max_bytes``, the thread runs one TRUNCATE checkpoint instead:
that waits for the writer and readers in flight, copies the rest and empties the file.
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

    def __init__(
        self,
        connect: Callable[[], sqlite3.Connection],
        interval: float = 1.0,
        max_bytes: int = 64 << 20,
    ) -> None:
        self._connect = connect
        self._interval = interval
        self._max_bytes = max_bytes
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
            page_size = int(conn.execute("PRAGMA page_size").fetchone()[0])
            max_frames = max(1, self._max_bytes // page_size)
            while not self._stop.wait(self._interval):
                frames = self._checkpoint(conn, "PASSIVE")
                if frames > max_frames:
                    log.info("WAL holds %d pages; checkpointing it completely", frames)
                    self._checkpoint(conn, "TRUNCATE")
            self._checkpoint(conn, "TRUNCATE")
        finally:
            conn.close()

    @staticmethod
    def _checkpoint(conn: sqlite3.Connection, mode: str) -> int:
        """Run one checkpoint; return the number of pages in the WAL (0 when unknown)."""
        try:
            row = conn.execute(f"PRAGMA wal_checkpoint({mode})").fetchone()
        except sqlite3.Error as exc:
            log.warning("WAL checkpoint (%s) failed: %s", mode, exc)
            return 0
        return int(row[1]) if row is not None and row[1] is not None else 0
