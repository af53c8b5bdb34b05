"""Attribute paths stored once, as small integers, and cached in memory.

A path appears in every index row of every entity that has the attribute; as a number it
makes rows and indexes several times smaller. New paths get their number in the writer's
transaction and join the shared cache only after that transaction commits.
"""

from __future__ import annotations

import sqlite3
import threading

__all__ = ["NO_PATH", "PathIds"]

#: The number of a path that no row has (it matches nothing).
NO_PATH = -1


class PathIds:
    """path → pid, committed ones shared by every thread, new ones pending until commit."""

    def __init__(self) -> None:
        self._known: dict[str, int] = {}
        self._pending: dict[str, int] = {}
        self._lock = threading.Lock()

    def for_write(self, conn: sqlite3.Connection, path: str) -> int:
        """The number of a path, creating it (writer thread only)."""
        pid = self._known.get(path) or self._pending.get(path)
        if pid is not None:
            return pid
        row = conn.execute("SELECT pid FROM paths WHERE path = ?", (path,)).fetchone()
        if row is None:
            cur = conn.execute("INSERT INTO paths (path) VALUES (?)", (path,))
            assert cur.lastrowid is not None
            self._pending[path] = cur.lastrowid
            return cur.lastrowid
        with self._lock:
            self._known[path] = int(row[0])
        return int(row[0])

    def for_read(self, conn: sqlite3.Connection, path: str) -> int:
        """The number of a committed path, or NO_PATH."""
        pid = self._known.get(path)
        if pid is not None:
            return pid
        row = conn.execute("SELECT pid FROM paths WHERE path = ?", (path,)).fetchone()
        if row is None:
            return NO_PATH
        with self._lock:
            self._known[path] = int(row[0])
        return int(row[0])

    def committed(self) -> None:
        """The writer's transaction committed: its new paths are real."""
        if self._pending:
            with self._lock:
                self._known.update(self._pending)
            self._pending.clear()

    def rolled_back(self) -> None:
        """The writer's transaction failed: forget the numbers it handed out."""
        self._pending.clear()
