"""Many rows in few statements: multi-row INSERTs for the writer thread.

Python's sqlite3 releases the GIL around every step of a statement, and ``executemany``
takes one step per row. While the event loop is busy (parsing the next request), the writer
then waits up to a GIL switch interval to get the GIL back after each row: measured on a
2-core machine, 15,000 index rows took 0.22 s alone and 12 s next to a busy thread. A
multi-row INSERT does the same work in a few steps, so the waits are few.
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Sequence
from itertools import chain
from typing import Any

__all__ = ["insert_many"]

#: Rows per statement: few statements, and far below SQLite's limit of 32,766 parameters.
_CHUNK = 500


@functools.lru_cache(maxsize=256)
def _sql(head: str, width: int, count: int) -> str:
    marks = "(" + ",".join("?" * width) + ")"
    return f"{head} VALUES {','.join([marks] * count)}"


def insert_many(
    conn: sqlite3.Connection, head: str, width: int, rows: Sequence[Sequence[Any]]
) -> None:
    """Insert ``rows`` (each ``width`` values) with ``head`` ("INSERT INTO t (a, b)")."""
    for start in range(0, len(rows), _CHUNK):
        chunk = rows[start : start + _CHUNK]
        conn.execute(_sql(head, width, len(chunk)), list(chain.from_iterable(chunk)))
