"""Connections to PostgreSQL: the pool, transactions with retries, and the mapping of
driver failures to NGSI-LD problems (an unreachable database is a quick 503).
"""

from __future__ import annotations

import contextlib
import logging
import re
import select
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, TypeVar

import orjson
import psycopg
from psycopg import AsyncConnection, errors, sql
from psycopg.abc import Buffer
from psycopg.types.string import StrDumper, StrDumperUnknown, TextLoader
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from thudo.config import Settings
from thudo.errors import BadRequestData, NgsiError, ServiceUnavailable

__all__ = ["Conn", "Database", "WriteConflict", "copy_rows", "ident", "rows_json"]

log = logging.getLogger(__name__)
T = TypeVar("T")
Conn = AsyncConnection[tuple[Any, ...]]

# Conflicts between concurrent transactions that succeed when simply tried again.
_RETRYABLE = (errors.DeadlockDetected, errors.SerializationFailure)
_ATTEMPTS = 5


def ident(name: str) -> sql.Identifier:
    """The one way an identifier enters SQL text: quoted by the driver."""
    return sql.Identifier(name)


async def copy_rows(
    conn: Conn, table: str, columns: Sequence[tuple[str, str]], rows: Sequence[Sequence[Any]]
) -> None:
    """Insert rows with COPY, the fastest way into a table: no statement to run per row and
    no JSON for the server to take apart (about a quarter of the server's time for the
    index rows of a 1,000-entity batch). ``columns`` are (name, PostgreSQL type) pairs.
    Not in pipeline mode, which has no COPY.

    Binary COPY lets psycopg's C dumpers format every value; this module's NUL-safe
    dumpers (below) are Python, called once per text, and took three times as long. So
    only rows with a NUL in a text take the text format, where those dumpers apply."""
    names = sql.SQL(", ").join(ident(name) for name, _ in columns)
    texts = [i for i, (_, kind) in enumerate(columns) if kind == "text"]
    binary = not any(_NUL in "".join([r[i] or "" for r in rows]) for i in texts)
    query = sql.SQL("COPY {} ({}) FROM STDIN{}").format(
        ident(table), names, sql.SQL(" (FORMAT binary)" if binary else "")
    )
    async with conn.cursor().copy(query) as copy:
        if binary:
            copy.set_types([kind for _, kind in columns])
        for row in rows:
            await copy.write_row(row)


def rows_json(rows: Sequence[Sequence[Any]]) -> str:
    """Rows as one JSON array of arrays, the single parameter of a statement that writes
    them all (``json_array_elements``): orjson makes it in C, where psycopg would dump an
    array parameter value by value in Python. NUL becomes its stand-in, as below."""
    data = orjson.dumps(rows)
    if b"\\u0000" in data:
        data = _ESCAPED_NUL.sub(rb"\1\\ufffe", data)
    return data.decode()


# A \u0000 escape in JSON text: one not preceded by an odd number of backslashes.
_ESCAPED_NUL = re.compile(rb"(?<!\\)((?:\\\\)*)\\u0000")


# PostgreSQL text cannot hold NUL, which JSON strings may: it is stored as U+FFFE (a
# Unicode noncharacter) and turned back on reading.
_NUL, _STAND_IN = "\x00", "\ufffe"


class _NulSafeUnknownDumper(StrDumperUnknown):
    def dump(self, obj: str) -> Buffer | None:
        return super().dump(obj.replace(_NUL, _STAND_IN) if _NUL in obj else obj)


class _NulSafeTextDumper(StrDumper):
    def dump(self, obj: str) -> Buffer | None:
        return super().dump(obj.replace(_NUL, _STAND_IN) if _NUL in obj else obj)


class _NulSafeLoader(TextLoader):
    def load(self, data: Buffer) -> bytes | str:
        text = super().load(data)
        if isinstance(text, str) and _STAND_IN in text:
            return text.replace(_STAND_IN, _NUL)
        return text


async def _configure(conn: Conn) -> None:
    conn.adapters.register_dumper(str, _NulSafeTextDumper)
    conn.adapters.register_dumper(str, _NulSafeUnknownDumper)
    conn.adapters.register_loader("text", _NulSafeLoader)


async def _check(conn: Conn) -> None:
    """Lend a connection without a round trip when nothing has come on its socket since it
    was returned: a server that ended it (a restart, pg_terminate_backend) has written to
    it or closed it, and only then does the pool's check (an empty query) run."""
    if conn.closed or _readable(conn.fileno()):
        await AsyncConnectionPool.check_connection(conn)


def _readable(fd: int) -> bool:
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    return bool(poller.poll(0))


def _conninfo(url: str) -> str:
    # libpq knows postgresql:// and postgres://; nothing else is accepted by the settings.
    return url


class Database:
    """A pool of connections to one PostgreSQL database."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        s = settings
        self.pool: AsyncConnectionPool[Conn] = AsyncConnectionPool(
            _conninfo(s.database_url),
            min_size=s.postgres_pool_min,
            max_size=s.postgres_pool_max,
            timeout=s.postgres_pool_timeout,
            open=False,
            check=_check,
            configure=_configure,
            reconnect_timeout=0,
            kwargs={
                "connect_timeout": max(1, round(s.postgres_connect_timeout)),
                "options": f"-c statement_timeout={int(s.postgres_statement_timeout_ms):d}"
                " -c timezone=UTC"
                + ("" if s.postgres_synchronous_commit else " -c synchronous_commit=off"),
                "application_name": "thudo",
                "autocommit": True,
            },
            name="thudo",
        )

    async def open(self) -> None:
        """Open the pool; ServiceUnavailable if the database does not answer."""
        try:
            await self.pool.open(wait=True, timeout=self._settings.postgres_connect_timeout)
        except (PoolTimeout, psycopg.OperationalError) as exc:
            await self.pool.close()
            raise ServiceUnavailable("the database does not answer; retry later") from exc

    async def close(self) -> None:
        """Close every connection."""
        await self.pool.close()

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[Conn]:
        """A connection from the pool, in autocommit mode, with failures mapped."""
        with translated():
            async with self.pool.connection() as conn:
                yield conn

    async def read(self, fn: Callable[[Conn], Awaitable[T]]) -> T:
        """Run a read on a pooled connection (autocommit: each statement is its own).

        A read whose connection turns out dead (the server ended it, and the pool lent it
        before the news arrived on its socket) runs once more on another connection: a
        read can safely run twice, a write cannot, so writes answer 503 instead."""
        try:
            for attempt in range(2):
                with translated():
                    async with self.pool.connection() as conn:
                        try:
                            return await fn(conn)
                        except psycopg.OperationalError:
                            if attempt or not conn.broken:
                                raise
                log.info("a pooled connection was dead; the read runs on another")
        except WriteConflict:
            raise ServiceUnavailable("the database is too busy; retry later") from None
        raise AssertionError("unreachable")

    async def write(
        self, fn: Callable[[Conn], Awaitable[T]], pipeline: bool = False, atomic: bool = True
    ) -> T:
        """Run the write ``fn`` (in one transaction unless not ``atomic``), trying again
        after a deadlock, a serialization failure or a WriteConflict; it must therefore be
        safe to run more than once.

        With ``pipeline``, statements whose results ``fn`` does not read go out together
        with the next one it reads, and with the COMMIT (psycopg's pipeline mode): ``fn``
        must then fetch what it needs, not look at a cursor's rowcount. Without ``atomic``
        there is no transaction around ``fn`` (autocommit, no BEGIN and COMMIT to send):
        ``fn`` then writes in one statement, or opens a transaction itself."""
        for attempt in range(1, _ATTEMPTS + 1):
            try:
                async with self.connection() as conn:
                    if not atomic:
                        return await fn(conn)
                    if not pipeline:
                        async with conn.transaction():
                            return await fn(conn)
                    async with conn.pipeline(), conn.transaction():
                        return await fn(conn)
            except WriteConflict:
                if attempt == _ATTEMPTS:
                    raise ServiceUnavailable("the database is too busy; retry later") from None
                log.info("write conflict, attempt %s of %s", attempt, _ATTEMPTS)
        raise AssertionError("unreachable")


class WriteConflict(Exception):
    """A transaction lost a conflict with a concurrent one: it succeeds when tried again."""


@contextlib.contextmanager
def translated() -> Any:
    """Turn driver and pool failures into NGSI-LD problems."""
    try:
        yield
    except NgsiError:
        raise
    except _RETRYABLE as exc:
        raise WriteConflict() from exc
    except errors.InvalidRegularExpression as exc:
        raise BadRequestData("a regular expression (idPattern or ~=) is not valid") from exc
    except errors.QueryCanceled as exc:
        log.warning("PostgreSQL statement cancelled: %s", exc)
        raise ServiceUnavailable("the query took too long; retry later") from exc
    except PoolTimeout as exc:
        log.error("no PostgreSQL connection available: %s", exc)
        raise ServiceUnavailable("the database does not answer; retry later") from exc
    except psycopg.OperationalError as exc:
        log.error("PostgreSQL failed: %s", exc)
        raise ServiceUnavailable("the database does not answer; retry later") from exc
