"""Entity types and attributes in use (clauses 5.7.5-5.7.9), read from the index tables."""

from __future__ import annotations

from typing import Any

from thudo.ngsild.values import K_ATTR
from thudo.store.base import AttributeInfo, TypeInfo
from thudo.store.postgres.database import Conn

__all__ = ["attributes", "entity_types"]


async def entity_types(conn: Conn, tid: int, with_attributes: bool) -> list[TypeInfo]:
    """Every type with its number of entities, and optionally its attributes."""
    cur = await conn.execute(
        "SELECT type, count(*) FROM etypes WHERE tenant = %s GROUP BY type ORDER BY type", (tid,)
    )
    infos = {t: TypeInfo(t, int(n)) for t, n in await cur.fetchall()}
    if with_attributes:
        cur = await conn.execute(
            "SELECT DISTINCT t.type, a.path, a.txt FROM etypes t JOIN attrs a ON a.eid = t.eid"
            f" WHERE t.tenant = %s AND a.tenant = %s AND a.kind = {K_ATTR}",
            (tid, tid),
        )
        for t, path, kind in await cur.fetchall():
            infos[t].attributes.setdefault(path, set()).add(kind)
    return list(infos.values())


async def attributes(conn: Conn, tid: int, name: str | None) -> list[AttributeInfo]:
    """Every attribute name (or one), with its entity count, entity and attribute types."""
    sql = (
        "SELECT a.path, count(DISTINCT a.eid), array_agg(DISTINCT t.type),"
        " array_agg(DISTINCT a.txt) FROM attrs a JOIN etypes t ON t.eid = a.eid"
        f" WHERE a.tenant = %s AND a.kind = {K_ATTR}"
    )
    params: list[Any] = [tid]
    if name is not None:
        sql += " AND a.path = %s"
        params.append(name)
    cur = await conn.execute(sql + " GROUP BY a.path ORDER BY a.path", params)
    return [
        AttributeInfo(path, int(n), set(types), set(kinds))
        for path, n, types, kinds in await cur.fetchall()
    ]
