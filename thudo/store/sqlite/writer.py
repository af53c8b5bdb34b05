"""One writer thread per process with group commit.

Writes are submitted as functions of a connection. The thread takes every job that is
waiting, runs each inside its own savepoint (so one failure does not undo the others),
commits once for the whole group, and only then resolves the callers' futures: an
acknowledged write is always a committed one.

Jobs submitted with a ``Merge`` (the store's entity changes) are run together when they
follow each other in a group with the same key: one call for the run of them, so that their
rows go to the database in a few multi-row statements instead of several per job (every
statement costs the writer a hand-over of the GIL). Creates, with some 25 rows each, gained
6-16 % from it (docs/performance.md).

Another thread can also have work run on the writer's connection between two groups
(``run_between``), ahead of the queued jobs: the checkpoint that empties the WAL, which
could not get in between the transactions of a busy writer from a connection of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

from thudo.errors import NgsiError, ServiceUnavailable

__all__ = ["Merge", "Writer"]

log = logging.getLogger(__name__)

Job = Callable[[sqlite3.Connection], Any]
#: Runs several merged jobs from their key and arguments; one result (or NgsiError) each.
MergedJob = Callable[[sqlite3.Connection, Any, list[Any]], list[Any]]


@dataclass(frozen=True, slots=True)
class Merge:
    """How a job may run together with its neighbours: jobs with equal ``key`` that follow
    each other in a group are run by one call of ``run`` with the key and their ``arg``s, in
    order.
    ``run`` must promise what an atomic job does: nothing written before it can fail with
    an NgsiError, which it returns in place of that job's result instead of raising."""

    key: Hashable
    run: MergedJob
    arg: Any


@dataclass(slots=True)
class _Item:
    fn: Job
    future: asyncio.Future[Any]
    atomic: bool = False
    merge: Merge | None = None
    result: Any = None
    error: BaseException | None = None


@dataclass(slots=True)
class _Between:
    """Work from another thread that runs on the writer's connection between two groups."""

    fn: Job
    done: threading.Event = field(default_factory=threading.Event)
    result: Any = None
    error: BaseException | None = None


_STOP = object()
#: Wakes an idle writer thread to run the work waiting for between groups.
_WAKE = object()


class Writer:
    """Runs write jobs on a dedicated connection, committing them in groups."""

    def __init__(
        self,
        connect: Callable[[], sqlite3.Connection],
        max_group: int,
        after_commit: Callable[[], None] | None = None,
        after_rollback: Callable[[], None] | None = None,
    ) -> None:
        self._connect = connect
        self._max_group = max_group
        self._after_commit = after_commit
        self._after_rollback = after_rollback
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._between: queue.SimpleQueue[_Between] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._start_error: BaseException | None = None

    def start(self) -> None:
        """Start the thread and wait until its connection is open."""
        self._thread = threading.Thread(target=self._run, name="thudo-sqlite-writer", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._start_error is not None:
            raise self._start_error

    def stop(self) -> None:
        """Finish the queued jobs, then stop the thread."""
        if self._thread is not None:
            self._queue.put(_STOP)
            self._thread.join()
            self._thread = None

    def submit(
        self, fn: Job, atomic: bool = False, merge: Merge | None = None
    ) -> asyncio.Future[Any]:
        """Queue a job; the future resolves after the commit that includes it.

        An ``atomic`` job promises to write nothing before it can fail with an NgsiError,
        so it runs without a savepoint of its own. A job with a ``merge`` may run together
        with its neighbours (see ``Merge``); ``fn`` is what runs when it is alone.
        """
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queue.put(_Item(fn, future, atomic or merge is not None, merge))
        return future

    def run_between(self, fn: Job, timeout: float = 30.0) -> Any:
        """Run ``fn`` on the writer's connection, outside any transaction, once the group
        in progress has committed; called from another thread, it waits for the result.
        Other writes wait meanwhile: it is for work that must not race the writer (a
        checkpoint that empties the WAL)."""
        item = _Between(fn)
        self._between.put(item)
        self._queue.put(_WAKE)
        deadline = time.monotonic() + timeout
        while not item.done.wait(0.05):
            thread = self._thread
            if thread is None or not thread.is_alive():
                # Ended without taking it (it takes all it finds before it ends).
                raise RuntimeError("the writer has stopped")
            if time.monotonic() > deadline:
                raise TimeoutError(f"the writer did not get to it within {timeout} s")
        if item.error is not None:
            raise item.error
        return item.result

    def _run(self) -> None:
        try:
            conn = self._connect()
        except BaseException as exc:
            self._start_error = exc
            self._ready.set()
            return
        self._ready.set()
        try:
            while True:
                first = self._queue.get()
                self._run_between(conn)
                if first is _STOP:
                    return
                if first is _WAKE:
                    continue
                group = [first]
                stop = self._drain(group)
                self._run_group(conn, group)
                # Ahead of the jobs still queued: the work was asked for during the group.
                self._run_between(conn)
                if stop:
                    return
        finally:
            conn.close()
            self._refuse_waiting()

    def _drain(self, group: list[Any]) -> bool:
        while len(group) < self._max_group:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return False
            if item is _STOP:
                return True
            if item is not _WAKE:
                group.append(item)
        return False

    def _run_between(self, conn: sqlite3.Connection) -> None:
        while True:
            try:
                item = self._between.get_nowait()
            except queue.Empty:
                return
            try:
                item.result = item.fn(conn)
            except Exception as exc:
                item.error = exc
            item.done.set()

    def _refuse_waiting(self) -> None:
        """The thread is ending: work left for between groups will not run."""
        while True:
            try:
                item = self._between.get_nowait()
            except queue.Empty:
                return
            item.error = RuntimeError("the writer has stopped")
            item.done.set()

    def _run_group(self, conn: sqlite3.Connection, group: list[_Item]) -> None:
        try:
            conn.execute("BEGIN IMMEDIATE")
            start = 0
            while start < len(group):
                end = _merged_run(group, start)
                if end - start > 1:
                    self._run_merged(conn, group[start:end])
                else:
                    self._run_item(conn, group[start])
                start = end
            conn.execute("COMMIT")
            if self._after_commit is not None:
                self._after_commit()
        except Exception as exc:
            log.error(
                "SQLite write group failed: %s", exc, exc_info=not isinstance(exc, sqlite3.Error)
            )
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            if self._after_rollback is not None:
                self._after_rollback()
            failure = ServiceUnavailable("the database could not commit the write; retry later")
            for item in group:
                item.error = failure
        self._deliver(group)

    @staticmethod
    def _run_merged(conn: sqlite3.Connection, items: list[_Item]) -> None:
        merge = items[0].merge
        assert merge is not None
        # Anything but an NgsiError fails the whole group, as for any atomic job.
        args = [item.merge.arg for item in items if item.merge is not None]
        results = merge.run(conn, merge.key, args)
        for item, result in zip(items, results, strict=True):
            if isinstance(result, NgsiError):
                item.error = result
            else:
                item.result = result

    def _run_item(self, conn: sqlite3.Connection, item: _Item) -> None:
        if item.atomic:
            try:
                item.result = item.fn(conn)
            except NgsiError as exc:
                item.error = exc
            return  # anything else fails the whole group, which is then rolled back
        conn.execute("SAVEPOINT job")
        try:
            item.result = item.fn(conn)
            conn.execute("RELEASE job")
        except sqlite3.OperationalError:
            conn.execute("ROLLBACK TO job")
            conn.execute("RELEASE job")
            raise
        except BaseException as exc:
            conn.execute("ROLLBACK TO job")
            conn.execute("RELEASE job")
            if self._after_rollback is not None:
                self._after_rollback()
            if not isinstance(exc, NgsiError):
                log.exception("write job failed")
            item.error = exc

    @staticmethod
    def _deliver(group: list[_Item]) -> None:
        by_loop: dict[asyncio.AbstractEventLoop, list[_Item]] = {}
        for item in group:
            by_loop.setdefault(item.future.get_loop(), []).append(item)
        for loop, items in by_loop.items():
            # A closed loop raises RuntimeError: nobody is waiting any more.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_resolve, items)


def _merged_run(group: list[_Item], start: int) -> int:
    """The end of the run of jobs from ``start`` that merge with it (``start + 1`` if none)."""
    first = group[start].merge
    end = start + 1
    if first is None:
        return end
    while end < len(group):
        merge = group[end].merge
        if merge is None or merge.key != first.key or merge.run != first.run:
            break
        end += 1
    return end


def _resolve(items: list[_Item]) -> None:
    for item in items:
        if item.future.done():
            continue
        if item.error is not None:
            item.future.set_exception(item.error)
        else:
            item.future.set_result(item.result)
