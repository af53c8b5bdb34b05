"""Opening SQLite connections: pragmas, and the SQL functions thudo adds (regexp, geo)."""

from __future__ import annotations

import functools
import sqlite3
import threading

import orjson
import shapely

from thudo.errors import TooComplexQuery
from thudo.ngsild.geoquery import GeoQuery, geo_matches
from thudo.ngsild.patterns import search
from thudo.ngsild.qeval import ValueTable, matches_q
from thudo.ngsild.qlang import decode_term
from thudo.ngsild.values import K_TIME

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


def _term_match(doc: bytes, term_json: str) -> bool:
    """A q term on an attribute's createdAt/modifiedAt, which have no index rows."""
    return matches_q(decode_term(term_json), ValueTable(orjson.loads(doc)))


def _member_sort(doc: bytes, path: str, desc: int) -> str | None:
    """The sort key of orderBy on an attribute's createdAt/modifiedAt."""
    rows = ValueTable(orjson.loads(doc)).values(path)
    stamps = [txt for kind, _, txt in rows if kind == K_TIME and txt is not None]
    if not stamps:
        return None
    return max(stamps) if desc else min(stamps)


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
    conn.create_function("term_match", 2, _term_match, deterministic=True)
    conn.create_function("member_sort", 3, _member_sort, deterministic=True)
    return conn
