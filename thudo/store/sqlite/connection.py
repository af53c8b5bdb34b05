"""Opening SQLite connections: pragmas, and the SQL functions thudo adds (regexp, geo)."""

from __future__ import annotations

import functools
import sqlite3
import threading

import shapely

from thudo.errors import TooComplexQuery
from thudo.ngsild.geoquery import GeoQuery, geo_matches
from thudo.ngsild.patterns import search

__all__ = ["FunctionFailure", "open_connection"]

_failure = threading.local()


class FunctionFailure:
    """Why the last SQL function call on this thread failed, so it can be reported."""

    @staticmethod
    def take() -> Exception | None:
        err: Exception | None = getattr(_failure, "error", None)
        _failure.error = None
        return err


def _regexp(pattern: str, value: object) -> bool:
    if not isinstance(value, str):
        return False
    try:
        return search(pattern, value)
    except TimeoutError:
        _failure.error = TooComplexQuery(f"the regular expression {pattern!r} takes too long")
        raise


def _geo_match(
    wkb: bytes, georel: str, geometry_json: str, max_d: float | None, min_d: float | None
) -> bool:
    query = _geo_query(georel, geometry_json, max_d, min_d)
    return geo_matches(query, _geometry(wkb))


@functools.lru_cache(maxsize=64)
def _geo_query(
    georel: str, geometry_json: str, max_d: float | None, min_d: float | None
) -> GeoQuery:
    return GeoQuery(georel, geometry_json, "", max_d, min_d)


@functools.lru_cache(maxsize=4096)
def _geometry(wkb: bytes) -> shapely.Geometry:
    return shapely.from_wkb(wkb)


def open_connection(
    path: str, busy_timeout_ms: int, cache_mib: int, readonly: bool = False
) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit) with thudo's functions."""
    uri = path.startswith("file:")
    conn = sqlite3.connect(
        path, isolation_level=None, check_same_thread=False, uri=uri, cached_statements=256
    )
    conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms):d}")
    if not readonly:
        conn.execute("PRAGMA journal_mode = WAL")
    # WAL with synchronous=NORMAL: a committed transaction survives a crash of the
    # process; a power cut may lose the last few (docs/operations.md).
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute(f"PRAGMA cache_size = {-1024 * int(cache_mib):d}")
    conn.execute("PRAGMA temp_store = MEMORY")
    conn.execute("PRAGMA foreign_keys = OFF")
    if readonly:
        conn.execute("PRAGMA query_only = ON")
    conn.create_function("regexp", 2, _regexp, deterministic=True)
    conn.create_function("geo_match", 5, _geo_match, deterministic=True)
    return conn
