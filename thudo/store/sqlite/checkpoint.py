"""WAL checkpoints off the write path.

With automatic checkpoints, the writer that happens to cross the threshold copies the WAL
into the database and waits for the disk. Here the writer never checkpoints; this thread
does, every ``interval`` seconds, in PASSIVE mode, so it never blocks writers or readers.

A passive checkpoint cannot finish while writes keep coming, so under sustained load the
WAL would grow without bound (the log is only rewound once it has been copied entirely).
When it holds more than ``max_bytes``, one TRUNCATE checkpoint copies the rest and empties
the file. It must get in between the writer's transactions: from this thread it waited on
the write lock, and a writer committing batch after batch left it gaps too short to catch
(the WAL grew past 1.5 GB in 45 s of batch upserts). So, given ``exclusive``, it runs on the
writer's own thread between two groups, holding the writes back while it copies.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable
from typing import Any

#: Runs a function of a connection on the writer's thread, between two groups.
Exclusive = Callable[[Callable[[sqlite3.Connection], Any]], Any]

__all__ = ["Checkpointer"]

log = logging.getLogger(__name__)


class Checkpointer:
    """A daemon thread that checkpoints the WAL of one database."""

    def __init__(
        self,
        connect: Callable[[], sqlite3.Connection],
        interval: float = 1.0,
        max_bytes: int = 64 << 20,
        exclusive: Exclusive | None = None,
    ) -> None:
        self._connect = connect
        self._exclusive = exclusive
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
                    self._complete(conn)
            self._checkpoint(conn, "TRUNCATE")
        finally:
            conn.close()

    def _complete(self, conn: sqlite3.Connection) -> None:
        """A checkpoint that copies the whole WAL and empties it."""
        if self._exclusive is None:
            self._checkpoint(conn, "TRUNCATE")
            return
        try:
            self._exclusive(lambda writer: self._checkpoint(writer, "TRUNCATE"))
        except (TimeoutError, RuntimeError) as exc:
            log.warning("the complete WAL checkpoint did not run: %s", exc)

    @staticmethod
    def _checkpoint(conn: sqlite3.Connection, mode: str) -> int:
        """Run one checkpoint; return the number of pages in the WAL (0 when unknown)."""
        try:
            row = conn.execute(f"PRAGMA wal_checkpoint({mode})").fetchone()
        except sqlite3.Error as exc:
            log.warning("WAL checkpoint (%s) failed: %s", mode, exc)
            return 0
        return int(row[1]) if row is not None and row[1] is not None else 0
