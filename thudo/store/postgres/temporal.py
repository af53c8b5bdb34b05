"""Entity history in PostgreSQL: instances recorded with each change, temporal queries
and aggregations (clause 4.5.19), in the same rows as the SQLite backend."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from thudo.ngsild.history import HistoryRow, history_rows
from thudo.ngsild.model import Entity, Instance
from thudo.ngsild.selection import EntitySelection
from thudo.ngsild.temporal import Aggregation, TemporalEntity, TimeFilter
from thudo.ngsild.validate import normalize_datetime
from thudo.store.history import (
    TIME_COLUMN,
    RollupAsk,
    covers,
    instance_id_row,
    instance_uri,
    instance_values,
    numeric,
    shape_aggregates,
)
from thudo.store.postgres import rollups
from thudo.store.postgres.database import Conn, copy_rows, rows_json
from thudo.store.postgres.filters import types_condition

__all__ = [
    "aggregate",
    "append_instances",
    "copy_instances",
    "delete_attribute",
    "delete_history",
    "delete_instance",
    "entity_exists",
    "history_values",
    "insert_rows",
    "insert_statements",
    "instances",
    "modify_instance",
    "one_entity",
    "select_entities",
]

# Rows go as one JSON parameter (database.rows_json): one statement, whatever their number.
_INSERT = (
    "INSERT INTO tinstances (tenant, entity_id, attr, dataset_id, observed_at, created_at,"
    " modified_at, deleted_at, num, doc, at) SELECT (r->>0)::int, r->>1, r->>2, r->>3, r->>4,"
    " r->>5, r->>6, r->>7, (r->>8)::float8, r->>9, r->>10 FROM jsonb_array_elements(%s::jsonb)"
    " WITH ORDINALITY AS u(r, n) ORDER BY n"
)


#: The columns of an instance row (instance_values, then "at") and their types, for COPY.
_COLUMNS = (
    ("tenant", "int4"),
    ("entity_id", "text"),
    ("attr", "text"),
    ("dataset_id", "text"),
    ("observed_at", "text"),
    ("created_at", "text"),
    ("modified_at", "text"),
    ("deleted_at", "text"),
    ("num", "float8"),
    ("doc", "text"),
    ("at", "text"),
)


def _with_at(row: tuple[Any, ...]) -> tuple[Any, ...]:
    """The row and its partition key: observedAt, else createdAt."""
    return (*row, row[4] or row[5])


def history_values(
    tid: int, before: Entity | None, after: Entity, now: str
) -> list[tuple[Any, ...]]:
    """The instance rows that record a core change (the caller inserts them)."""
    return _rows(tid, after["id"], history_rows(before, after), now)


def _rows(tid: int, entity_id: str, changes: list[HistoryRow], now: str) -> list[tuple[Any, ...]]:
    return [
        _with_at(instance_values(tid, entity_id, r.attr, r.instance, now, r.deleted))
        for r in changes
    ]


async def insert_history(
    conn: Conn, tid: int, entity_id: str, changes: list[HistoryRow], now: str
) -> None:
    """Record these instances of an entity."""
    await insert_rows(conn, _rows(tid, entity_id, changes, now))


async def insert_rows(conn: Conn, rows: list[tuple[Any, ...]]) -> None:
    """Insert instance rows and count them into the rollups."""
    for sql, params in insert_statements(rows):
        await conn.execute(sql, params)


def insert_statements(rows: list[tuple[Any, ...]]) -> list[tuple[str, Sequence[Any]]]:
    """The statements that insert instance rows and count them into the rollups."""
    if not rows:
        return []
    return [(_INSERT, (rows_json(rows),)), *rollups.add_statements(rows)]


async def copy_instances(conn: Conn, rows: list[tuple[Any, ...]]) -> None:
    """Insert many instance rows with COPY (in their order: instance ids follow it) and
    count them into the rollups; outside pipeline mode."""
    if rows:
        await copy_rows(conn, "tinstances", _COLUMNS, rows)
        for sql, params in rollups.add_statements(rows):
            await conn.execute(sql, params)


async def append_instances(
    conn: Conn, tid: int, entity_id: str, attrs: dict[str, list[Instance]], now: str
) -> None:
    """Add instances to an entity's history; one with the same attribute, datasetId and
    observedAt as a stored one replaces it."""
    rows = [
        _with_at(instance_values(tid, entity_id, a, i, now, False))
        for a, insts in attrs.items()
        for i in insts
    ]
    replaced = [(r[0], r[1], r[2], r[3], r[4]) for r in rows if r[4] is not None]
    if replaced:
        async with conn.cursor() as cur:
            await cur.executemany(
                "DELETE FROM tinstances WHERE tenant = %s AND entity_id = %s AND attr = %s"
                " AND dataset_id = %s AND observed_at = %s",
                replaced,
            )
    if rows:
        await conn.execute(_INSERT, (rows_json(rows),))
    # Replaced instances would be counted twice: recompute the buckets they touch.
    for attr in attrs:
        stamps = [r[4] for r in rows if r[2] == attr and r[4] is not None]
        await rollups.refresh(conn, tid, entity_id, attr, stamps)


async def delete_history(conn: Conn, tid: int, entity_id: str) -> bool:
    """Delete all the instances of an entity; True if there were any."""
    cur = await conn.execute(
        "DELETE FROM tinstances WHERE tenant = %s AND entity_id = %s", (tid, entity_id)
    )
    await rollups.remove(conn, tid, entity_id)
    return cur.rowcount > 0


async def entity_exists(conn: Conn, tid: int, entity_id: str) -> bool:
    """Whether the entity exists (a temporal entity is an entity with history)."""
    cur = await conn.execute(
        "SELECT 1 FROM entities WHERE tenant = %s AND id = %s", (tid, entity_id)
    )
    return await cur.fetchone() is not None


async def delete_attribute(
    conn: Conn, tid: int, entity_id: str, attr: str, dataset_id: str | None, delete_all: bool
) -> int:
    """Delete the instances of an attribute (one datasetId, the default, or all)."""
    sql = "DELETE FROM tinstances WHERE tenant = %s AND entity_id = %s AND attr = %s"
    params: list[Any] = [tid, entity_id, attr]
    if not delete_all:
        sql += " AND dataset_id = %s"
        params.append(dataset_id or "")
    count = (await conn.execute(sql, params)).rowcount
    if delete_all:
        await rollups.remove(conn, tid, entity_id, attr)
    else:
        await conn.execute(
            "DELETE FROM trollups WHERE tenant = %s AND entity_id = %s AND attr = %s"
            " AND dataset_id = %s",
            (tid, entity_id, attr, dataset_id or ""),
        )
    return count


async def modify_instance(
    conn: Conn,
    tid: int,
    entity_id: str,
    attr: str,
    instance_id: str,
    fragment: Instance,
    now: str,
) -> bool:
    """Replace the members of one instance, keeping its instanceId and creation time."""
    iid = instance_id_row(instance_id)
    cur = await conn.execute(
        "SELECT doc, observed_at, created_at FROM tinstances WHERE tenant = %s"
        " AND entity_id = %s AND attr = %s AND iid = %s FOR UPDATE",
        (tid, entity_id, attr, iid),
    )
    row = await cur.fetchone()
    if row is None:
        return False
    inst = {
        **orjson.loads(row[0]),
        **{k: v for k, v in fragment.items() if k not in ("createdAt", "instanceId")},
    }
    inst["modifiedAt"] = now
    observed = inst.get("observedAt")
    stamp = normalize_datetime(observed) if isinstance(observed, str) else None
    await conn.execute(
        "UPDATE tinstances SET doc = %s, observed_at = %s, modified_at = %s, num = %s, at = %s"
        " WHERE iid = %s",
        (
            orjson.dumps(inst).decode(),
            stamp,
            normalize_datetime(now),
            numeric(inst.get("value")),
            stamp or row[2],
            iid,
        ),
    )
    await rollups.refresh(conn, tid, entity_id, attr, [s for s in (row[1], stamp) if s])
    return True


async def delete_instance(
    conn: Conn, tid: int, entity_id: str, attr: str, instance_id: str
) -> bool:
    """Delete one instance."""
    cur = await conn.execute(
        "DELETE FROM tinstances WHERE tenant = %s AND entity_id = %s AND attr = %s"
        " AND iid = %s RETURNING observed_at",
        (tid, entity_id, attr, instance_id_row(instance_id)),
    )
    row = await cur.fetchone()
    if row is None:
        return False
    if row[0] is not None:
        await rollups.refresh(conn, tid, entity_id, attr, [row[0]])
    return True


def _time_sql(time: TimeFilter, alias: str = "") -> tuple[str, list[Any]]:
    column = alias + TIME_COLUMN[time.timeproperty]
    start, end = time.bounds()
    parts, params = [], []
    if start is not None:
        # after is strict; between includes its start (clause 4.11).
        parts.append(f"{column} > %s" if time.timerel == "after" else f"{column} >= %s")
        params.append(start)
    if end is not None:
        parts.append(f"{column} < %s")
        params.append(end)
    return (" AND ".join(parts) if parts else "true"), params


async def select_entities(
    conn: Conn, tid: int, sel: EntitySelection, time: TimeFilter
) -> tuple[list[TemporalEntity], int | None]:
    """The temporal entities matching ids, types, attrs and having instances in time."""
    where = ["t.tenant = %s"]
    params: list[Any] = [tid]
    if sel.ids is not None:
        where.append("t.id = ANY(%s)")
        params.append(list(sel.ids))
    if sel.id_pattern is not None:
        where.append("t.id ~ %s")
        params.append(sel.id_pattern)
    if sel.types is not None:
        sql, p = types_condition(sel.types, "t")
        where.append(sql)
        params.extend(p)
    inst_where, inst_params = _time_sql(time, "i.")
    attr_sql = ""
    if sel.attrs is not None:
        attr_sql = " AND i.attr = ANY(%s)"
        inst_params = [sorted(sel.attrs), *inst_params]
    where.append(
        "EXISTS (SELECT 1 FROM tinstances i WHERE i.tenant = t.tenant AND i.entity_id = t.id"
        f"{attr_sql} AND {inst_where})"
    )
    params.extend(inst_params)
    clause = " AND ".join(where)
    cur = await conn.execute(
        f"SELECT t.doc FROM entities t WHERE {clause} ORDER BY t.eid LIMIT %s OFFSET %s",
        [*params, sel.limit, sel.offset],
    )
    headers = [_header(r[0]) for r in await cur.fetchall()]
    count = None
    if sel.count:
        cur = await conn.execute(f"SELECT count(*) FROM entities t WHERE {clause}", params)
        found = await cur.fetchone()
        count = int(found[0]) if found else 0
    return headers, count


def _header(doc: str) -> TemporalEntity:
    entity = orjson.loads(doc)
    return TemporalEntity(
        entity["id"],
        entity["type"],
        entity.get("scope"),
        entity.get("createdAt"),
        entity.get("modifiedAt"),
    )


async def one_entity(conn: Conn, tid: int, entity_id: str) -> TemporalEntity | None:
    """A temporal entity's header (no instances)."""
    cur = await conn.execute(
        "SELECT doc FROM entities WHERE tenant = %s AND id = %s", (tid, entity_id)
    )
    row = await cur.fetchone()
    return _header(row[0]) if row is not None else None


async def instances(
    conn: Conn,
    tid: int,
    entity_id: str,
    attrs: Sequence[str] | None,
    time: TimeFilter,
    limit: int,
) -> tuple[dict[str, list[Instance]], set[str]]:
    """Instances by attribute, oldest first, at most ``limit`` each (the most recent ones
    with lastN); also the attributes that the limit cut short."""
    column = TIME_COLUMN[time.timeproperty]
    time_sql, time_params = _time_sql(time)
    sql = (
        f"SELECT attr, doc, iid, coalesce({column}, created_at) FROM tinstances"
        f" WHERE tenant = %s AND entity_id = %s AND {time_sql}"
    )
    params: list[Any] = [tid, entity_id, *time_params]
    if attrs is not None:
        sql += " AND attr = ANY(%s)"
        params.append(list(attrs))
    # Deletion markers show only when asking by deletedAt.
    sql += (
        " AND deleted_at IS NOT NULL"
        if time.timeproperty == "deletedAt"
        else (" AND deleted_at IS NULL")
    )
    order = "DESC" if time.last_n is not None else "ASC"
    sql += f" ORDER BY attr, coalesce({column}, created_at) {order}, iid {order}"
    cur = await conn.execute(sql, params)
    return _pick(await cur.fetchall(), time, limit)


def _pick(
    rows: Sequence[Sequence[Any]], time: TimeFilter, limit: int
) -> tuple[dict[str, list[Instance]], set[str]]:
    out: dict[str, list[Instance]] = {}
    truncated: set[str] = set()
    last: dict[str, str] = {}
    for attr, doc, iid, stamp in rows:
        bucket = out.setdefault(attr, [])
        if time.last_n is not None and len(bucket) >= time.last_n:
            continue
        # Instances that share the time stamp at the limit come along, so that the next
        # page, which starts after that time, loses none of them.
        if len(bucket) >= limit and stamp != last.get(attr):
            truncated.add(attr)
            continue
        last[attr] = stamp
        inst = orjson.loads(doc)
        inst["instanceId"] = instance_uri(iid)
        bucket.append(inst)
    if time.last_n is not None:
        for bucket in out.values():
            bucket.reverse()
    return out, truncated


async def aggregate(
    conn: Conn,
    tid: int,
    entity_id: str,
    attrs: Sequence[str] | None,
    time: TimeFilter,
    aggr: Aggregation,
) -> dict[str, list[dict[str, Any]]]:
    """aggregatedValues: per attribute and datasetId, [value, start, end] per period."""
    column = TIME_COLUMN[time.timeproperty]
    time_sql, time_params = _time_sql(time)
    base = (
        "tenant = %s AND entity_id = %s AND deleted_at IS NULL"
        f" AND {column} IS NOT NULL AND {time_sql}"
    )
    params: list[Any] = [tid, entity_id, *time_params]
    if attrs is not None:
        base += " AND attr = ANY(%s)"
        params.append(list(attrs))
    origin, _ = time.bounds()
    if origin is None:  # periods count from the first instance (a scan: only when needed)
        cur = await conn.execute(f"SELECT min({column}) FROM tinstances WHERE {base}", params)
        found = await cur.fetchone()
        origin = found[0] if found else None
    if origin is None:
        return {}
    period = covers(aggr, time, origin)
    if period is not None:
        ask = RollupAsk(tid, entity_id, attrs, time, aggr, origin, period)
        return await rollups.aggregate(conn, ask)
    rows = await _raw_aggregate(conn, tid, entity_id, base, params, column, origin, aggr)
    return shape_aggregates(rows, origin, aggr, time)


async def _raw_aggregate(
    conn: Conn,
    tid: int,
    entity_id: str,
    base: str,
    params: list[Any],
    column: str,
    origin: str,
    aggr: Aggregation,
) -> list[tuple[Any, ...]]:
    """Aggregation rows computed from the instances themselves."""
    bucket = "0"
    bucket_params: list[Any] = []
    if aggr.period_s:
        # Whole seconds, as in SQLite: boundary instances fall in the right period.
        bucket = (
            f"floor((floor(extract(epoch FROM {column}::timestamptz))"
            " - floor(extract(epoch FROM %s::timestamptz))) / %s)::bigint"
        )
        bucket_params = [origin, aggr.period_s]
    # min and max order numbers, then texts; booleans, arrays, objects (geometries) and
    # numbers left out of aggregation (history.numeric) have no place in that order.
    text = (
        "CASE WHEN jsonb_typeof(doc::jsonb -> 'value') = 'string' THEN doc::jsonb ->> 'value' END"
    )
    sql = (
        f"SELECT attr, dataset_id, {bucket} AS b, count(*), count(DISTINCT doc::jsonb -> 'value'),"
        f" sum(num), avg(num), min(num), max(num), sum(num * num), min({text}), max({text})"
        f" FROM tinstances WHERE {base} GROUP BY attr, dataset_id, b"
        " ORDER BY attr, dataset_id, b"
    )
    cur = await conn.execute(sql, [*bucket_params, *params])
    kinds: dict[tuple[str, str], Any] = {}
    out: list[tuple[Any, ...]] = []
    for row in await cur.fetchall():
        key = (row[0], row[1])
        if key not in kinds:
            found = await conn.execute(
                "SELECT doc::jsonb ->> 'type' FROM tinstances WHERE tenant = %s"
                " AND entity_id = %s AND attr = %s AND dataset_id = %s AND deleted_at IS NULL"
                " LIMIT 1",
                (tid, entity_id, row[0], row[1]),
            )
            first = await found.fetchone()
            kinds[key] = first[0] if first else None
        # Numbers sort before texts, as in SQLite: min is numeric when there is a number.
        low = row[7] if row[7] is not None else row[10]
        high = row[11] if row[11] is not None else row[8]
        out.append((*row[:7], low, high, row[9], kinds[key]))
    return out
