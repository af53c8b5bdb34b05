"""Stored @contexts (clause 5.13) and other documents (context source registrations)."""

from __future__ import annotations

from typing import Any

import orjson

from thudo.errors import AlreadyExists, ResourceNotFound
from thudo.store.base import ContextRecord
from thudo.store.postgres.database import Conn

__all__ = [
    "CONTEXTS_CHANNEL",
    "delete_context",
    "delete_document",
    "get_document",
    "list_documents",
    "load_contexts",
    "save_context",
    "save_document",
    "touch_contexts",
]


#: NOTIFY channel of changes to the stored @contexts (payload: the context's id).
CONTEXTS_CHANNEL = "thudo_contexts"


async def save_context(conn: Conn, rec: ContextRecord) -> None:
    """Insert or replace a stored @context, and tell the other processes (on commit)."""
    await conn.execute(
        "INSERT INTO contexts (id, url, kind, body, created_at, last_usage, hits)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (id) DO UPDATE SET url = excluded.url,"
        " kind = excluded.kind, body = excluded.body, created_at = excluded.created_at,"
        " last_usage = excluded.last_usage, hits = excluded.hits",
        (rec.id, rec.url, rec.kind, rec.body, rec.created_at, rec.last_usage, rec.hits),
    )
    await conn.execute("SELECT pg_notify(%s, %s)", (CONTEXTS_CHANNEL, rec.id))


async def load_contexts(conn: Conn) -> list[ContextRecord]:
    """Every stored @context."""
    cur = await conn.execute(
        "SELECT id, url, kind, body, created_at, last_usage, hits FROM contexts"
    )
    return [
        ContextRecord(r[0], r[1], r[2], bytes(r[3]), r[4], r[5], int(r[6]))
        for r in await cur.fetchall()
    ]


async def delete_context(conn: Conn, context_id: str) -> bool:
    """Delete a stored @context; False if there was none. The other processes are told
    (on commit)."""
    cur = await conn.execute("DELETE FROM contexts WHERE id = %s", (context_id,))
    if cur.rowcount > 0:
        await conn.execute("SELECT pg_notify(%s, %s)", (CONTEXTS_CHANNEL, context_id))
        return True
    return False


async def touch_contexts(conn: Conn, usage: dict[str, tuple[int, str]]) -> None:
    """Add hit counts and last-usage times."""
    async with conn.cursor() as cur:
        await cur.executemany(
            "UPDATE contexts SET hits = hits + %s, last_usage = %s WHERE id = %s",
            [(hits, last, cid) for cid, (hits, last) in usage.items()],
        )


async def save_document(conn: Conn, kind: str, tid: int, doc: dict[str, Any], create: bool) -> None:
    """Store a document by its id (AlreadyExists / ResourceNotFound as appropriate)."""
    data = orjson.dumps(doc).decode()
    if create:
        cur = await conn.execute(
            "INSERT INTO documents (kind, tenant, id, doc) VALUES (%s, %s, %s, %s)"
            " ON CONFLICT DO NOTHING",
            (kind, tid, doc["id"], data),
        )
        if not cur.rowcount:
            raise AlreadyExists(f"{doc['id']!r} already exists")
        return
    cur = await conn.execute(
        "UPDATE documents SET doc = %s WHERE kind = %s AND tenant = %s AND id = %s",
        (data, kind, tid, doc["id"]),
    )
    if not cur.rowcount:
        raise ResourceNotFound(f"{doc['id']!r} does not exist")


async def get_document(conn: Conn, kind: str, tid: int, doc_id: str) -> dict[str, Any] | None:
    """One document."""
    cur = await conn.execute(
        "SELECT doc FROM documents WHERE kind = %s AND tenant = %s AND id = %s",
        (kind, tid, doc_id),
    )
    row = await cur.fetchone()
    found: dict[str, Any] | None = orjson.loads(row[0]) if row else None
    return found


async def list_documents(conn: Conn, kind: str, tid: int) -> list[dict[str, Any]]:
    """Every document of a kind in a tenant, oldest first."""
    cur = await conn.execute(
        "SELECT doc FROM documents WHERE kind = %s AND tenant = %s ORDER BY seq", (kind, tid)
    )
    return [orjson.loads(r[0]) for r in await cur.fetchall()]


async def delete_document(conn: Conn, kind: str, tid: int, doc_id: str) -> bool:
    """Delete a document; False if there was none."""
    cur = await conn.execute(
        "DELETE FROM documents WHERE kind = %s AND tenant = %s AND id = %s", (kind, tid, doc_id)
    )
    return cur.rowcount > 0
