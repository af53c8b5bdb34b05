"""Entity history in SQLite: recording instances with each change, and temporal queries."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

import orjson

from thudo.ngsild.history import HistoryRow, history_rows
from thudo.ngsild.model import Entity, Instance
from thudo.ngsild.selection import EntitySelection
from thudo.ngsild.temporal import Aggregation, TemporalEntity, TimeFilter
from thudo.ngsild.typeexpr import TypeAll, TypeAny, TypeExpr, TypeName
from thudo.ngsild.validate import normalize_datetime
from thudo.store.history import (
    TIME_COLUMN,
    RollupAsk,
    instance_id_row,
    instance_uri,
    numeric,
    shape_aggregates,
)
from thudo.store.sqlite import rollups
from thudo.store.sqlite.bulk import insert_many

__all__ = [
    "aggregate",
    "append_instances",
    "delete_attribute",
    "delete_history",
    "delete_instance",
    "instance_row",
    "instance_uri",
    "instances",
    "modify_instance",
    "record_change",
    "select_entities",
]

_COLUMNS = (
    "INSERT INTO tinstances (tenant, entity_id, attr, dataset_id, observed_at, created_at,"
    " modified_at, deleted_at, num, doc)"
)
_INSERT = _COLUMNS + " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
# Shared with the PostgreSQL backend (thudo.store.history); re-exported under the old names.
instance_row = instance_id_row


def _row(
    tid: int, entity_id: str, attr: str, inst: Instance, now: str, deleted: bool
) -> tuple[Any, ...]:
    """The tinstances row of an instance; the instanceId is its row number, added on read."""
    inst = dict(inst)
    inst.pop("instanceId", None)
    stamp = normalize_datetime(now)
    if deleted:
        inst["deletedAt"] = now
    inst.setdefault("createdAt", now)
    inst.setdefault("modifiedAt", now)
    observed = inst.get("observedAt")
    value = inst.get("value")
    num = numeric(value)
    return (
        tid,
        entity_id,
        attr,
        inst.get("datasetId") or "",
        normalize_datetime(observed) if isinstance(observed, str) else None,
        normalize_datetime(inst["createdAt"]) or stamp,
        normalize_datetime(inst["modifiedAt"]) or stamp,
        stamp if deleted else None,
        num,
        orjson.dumps(inst).decode(),
    )


def record_change(
    conn: sqlite3.Connection,
    tid: int,
    before: Entity | None,
    after: Entity | None,
    now: str,
    sink: list[tuple[Any, ...]] | None = None,
) -> None:
    """Record what a core change did to the entity's history. New instance rows go to
    ``sink`` when one is given (the caller inserts them with ``insert_rows``)."""
    if after is None:
        # Deleting an entity deletes its history (the delete_temporal_on_core_delete
        # convention of the ETSI conformance suite).
        if before is not None:
            delete_history(conn, tid, before["id"])
        return
    rows = _rows(tid, after["id"], history_rows(before, after), now)
    if sink is not None:
        sink.extend(rows)
    else:
        insert_rows(conn, rows)


def _rows(tid: int, entity_id: str, changes: list[HistoryRow], now: str) -> list[tuple[Any, ...]]:
    return [_row(tid, entity_id, r.attr, r.instance, now, r.deleted) for r in changes]


def insert_history(
    conn: sqlite3.Connection, tid: int, entity_id: str, changes: list[HistoryRow], now: str
) -> None:
    """Record these instances of an entity."""
    insert_rows(conn, _rows(tid, entity_id, changes, now))


def insert_rows(conn: sqlite3.Connection, rows: list[tuple[Any, ...]]) -> None:
    """Insert instance rows and count them into the rollups."""
    if rows:
        insert_many(conn, _COLUMNS, 10, rows)
        rollups.add_rows(conn, rows)


def append_instances(
    conn: sqlite3.Connection,
    tid: int,
    entity_id: str,
    attrs: dict[str, list[Instance]],
    now: str,
) -> None:
    """Add instances to an entity's history."""
    rows = [_row(tid, entity_id, a, i, now, False) for a, insts in attrs.items() for i in insts]
    # An instance with the same attribute, datasetId and observedAt replaces the old one.
    conn.executemany(
        "DELETE FROM tinstances WHERE tenant = ? AND entity_id = ? AND attr = ?"
        " AND dataset_id = ? AND observed_at = ?",
        [(r[0], r[1], r[2], r[3], r[4]) for r in rows if r[4] is not None],
    )
    conn.executemany(_INSERT, rows)
    # Replaced instances would be counted twice: recompute the buckets they touch.
    for attr in attrs:
        stamps = [r[4] for r in rows if r[2] == attr and r[4] is not None]
        rollups.refresh(conn, tid, entity_id, attr, stamps)


def delete_history(conn: sqlite3.Connection, tid: int, entity_id: str) -> bool:
    """Delete all the instances of an entity; True if there were any."""
    cur = conn.execute(
        "DELETE FROM tinstances WHERE tenant = ? AND entity_id = ?", (tid, entity_id)
    )
    rollups.remove(conn, tid, entity_id)
    return cur.rowcount > 0


def entity_exists(conn: sqlite3.Connection, tid: int, entity_id: str) -> bool:
    """Whether the entity exists (a temporal entity is an entity with history)."""
    row = conn.execute(
        "SELECT 1 FROM entities WHERE tenant = ? AND id = ?", (tid, entity_id)
    ).fetchone()
    return row is not None


def delete_attribute(
    conn: sqlite3.Connection,
    tid: int,
    entity_id: str,
    attr: str,
    dataset_id: str | None,
    delete_all: bool,
) -> int:
    """Delete the instances of an attribute (one datasetId, the default, or all)."""
    sql = "DELETE FROM tinstances WHERE tenant = ? AND entity_id = ? AND attr = ?"
    params: list[Any] = [tid, entity_id, attr]
    if not delete_all:
        sql += " AND dataset_id = ?"
        params.append(dataset_id or "")
    count = conn.execute(sql, params).rowcount
    if delete_all:
        rollups.remove(conn, tid, entity_id, attr)
    else:
        conn.execute(
            "DELETE FROM trollups WHERE tenant = ? AND entity_id = ? AND attr = ?"
            " AND dataset_id = ?",
            (tid, entity_id, attr, dataset_id or ""),
        )
    return count


def modify_instance(
    conn: sqlite3.Connection,
    tid: int,
    entity_id: str,
    attr: str,
    instance_id: str,
    fragment: Instance,
    now: str,
) -> bool:
    """Replace the members of one instance, keeping its instanceId and creation time."""
    iid = instance_row(instance_id)
    row = conn.execute(
        "SELECT doc, observed_at FROM tinstances WHERE tenant = ? AND entity_id = ?"
        " AND attr = ? AND iid = ?",
        (tid, entity_id, attr, iid),
    ).fetchone()
    if row is None:
        return False
    old = orjson.loads(row[0])
    inst = {**old, **{k: v for k, v in fragment.items() if k not in ("createdAt", "instanceId")}}
    inst["modifiedAt"] = now
    observed = inst.get("observedAt")
    value = inst.get("value")
    num = numeric(value)
    conn.execute(
        "UPDATE tinstances SET doc = ?, observed_at = ?, modified_at = ?, num = ? WHERE iid = ?",
        (
            orjson.dumps(inst).decode(),
            normalize_datetime(observed) if isinstance(observed, str) else None,
            normalize_datetime(now),
            num,
            iid,
        ),
    )
    stamps = [s for s in (row[1], normalize_datetime(observed) if observed else None) if s]
    rollups.refresh(conn, tid, entity_id, attr, stamps)
    return True


def delete_instance(
    conn: sqlite3.Connection, tid: int, entity_id: str, attr: str, instance_id: str
) -> bool:
    """Delete one instance."""
    iid = instance_row(instance_id)
    row = conn.execute(
        "SELECT observed_at FROM tinstances WHERE tenant = ? AND entity_id = ? AND attr = ?"
        " AND iid = ?",
        (tid, entity_id, attr, iid),
    ).fetchone()
    if row is None:
        return False
    conn.execute("DELETE FROM tinstances WHERE iid = ?", (iid,))
    if row[0] is not None:
        rollups.refresh(conn, tid, entity_id, attr, [row[0]])
    return True


def _types_sql(expr: TypeExpr) -> tuple[str, list[Any]]:
    if isinstance(expr, TypeName):
        return (
            "EXISTS (SELECT 1 FROM etypes y WHERE y.eid = t.eid AND y.type = ?)",
            [expr.iri],
        )
    joiner = " OR " if isinstance(expr, TypeAny) else " AND "
    assert isinstance(expr, TypeAny | TypeAll)
    parts, params = [], []
    for item in expr.items:
        sql, p = _types_sql(item)
        parts.append(sql)
        params.extend(p)
    return "(" + joiner.join(parts) + ")", params


def _time_sql(time: TimeFilter, alias: str = "") -> tuple[str, list[Any]]:
    column = alias + TIME_COLUMN[time.timeproperty]
    start, end = time.bounds()
    parts, params = [], []
    if start is not None:
        # after is strict; between includes its start (clause 4.11).
        parts.append(f"{column} > ?" if time.timerel == "after" else f"{column} >= ?")
        params.append(start)
    if end is not None:
        parts.append(f"{column} < ?")
        params.append(end)
    return (" AND ".join(parts) if parts else "1"), params


def select_entities(
    conn: sqlite3.Connection,
    tid: int,
    sel: EntitySelection,
    time: TimeFilter,
) -> tuple[list[TemporalEntity], int | None]:
    """The temporal entities matching ids, types, attrs and having instances in time."""
    where = ["t.tenant = ?"]
    params: list[Any] = [tid]
    if sel.ids is not None:
        where.append(f"t.id IN ({','.join('?' * len(sel.ids))})")
        params.extend(sel.ids)
    if sel.id_pattern is not None:
        where.append("regexp(?, t.id)")
        params.append(sel.id_pattern)
    if sel.types is not None:
        sql, p = _types_sql(sel.types)
        where.append(sql)
        params.extend(p)
    inst_where, inst_params = _time_sql(time, "i.")
    attr_sql = ""
    if sel.attrs is not None:
        attr_sql = f" AND i.attr IN ({','.join('?' * len(sel.attrs))})"
        inst_params = [*sorted(sel.attrs), *inst_params]
    where.append(
        "EXISTS (SELECT 1 FROM tinstances i WHERE i.tenant = t.tenant AND i.entity_id = t.id"
        f"{attr_sql} AND {inst_where})"
    )
    params.extend(inst_params)
    clause = " AND ".join(where)
    rows = conn.execute(
        f"SELECT t.doc FROM entities t WHERE {clause} ORDER BY t.eid LIMIT ? OFFSET ?",
        [*params, sel.limit, sel.offset],
    ).fetchall()
    count = None
    if sel.count:
        count = int(
            conn.execute(f"SELECT count(*) FROM entities t WHERE {clause}", params).fetchone()[0]
        )
    return [_header(r[0]) for r in rows], count


def _header(doc: bytes) -> TemporalEntity:
    entity = orjson.loads(doc)
    return TemporalEntity(
        entity["id"],
        entity["type"],
        entity.get("scope"),
        entity.get("createdAt"),
        entity.get("modifiedAt"),
    )


def one_entity(conn: sqlite3.Connection, tid: int, entity_id: str) -> TemporalEntity | None:
    """A temporal entity's header (no instances)."""
    row = conn.execute(
        "SELECT doc FROM entities WHERE tenant = ? AND id = ?", (tid, entity_id)
    ).fetchone()
    return _header(row[0]) if row is not None else None


def instances(
    conn: sqlite3.Connection,
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
        f" WHERE tenant = ? AND entity_id = ? AND {time_sql}"
    )
    params: list[Any] = [tid, entity_id, *time_params]
    if attrs is not None:
        sql += f" AND attr IN ({','.join('?' * len(attrs))})"
        params.extend(attrs)
    # Deletion markers show only when asking by deletedAt.
    sql += (
        " AND deleted_at IS NOT NULL"
        if time.timeproperty == "deletedAt"
        else " AND deleted_at IS NULL"
    )
    order = "DESC" if time.last_n is not None else "ASC"
    sql += f" ORDER BY attr, coalesce({column}, created_at) {order}, iid {order}"
    out: dict[str, list[Instance]] = {}
    truncated: set[str] = set()
    last: dict[str, str] = {}
    for attr, doc, iid, stamp in conn.execute(sql, params):
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


def aggregate(
    conn: sqlite3.Connection,
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
        "tenant = ? AND entity_id = ? AND deleted_at IS NULL"
        f" AND {column} IS NOT NULL AND {time_sql}"
    )
    params: list[Any] = [tid, entity_id, *time_params]
    if attrs is not None:
        base += f" AND attr IN ({','.join('?' * len(attrs))})"
        params.extend(attrs)
    start, _ = time.bounds()
    origin = start
    if origin is None:  # periods count from the first instance (a scan: only when needed)
        origin_row = conn.execute(
            f"SELECT min({column}) FROM tinstances WHERE {base}", params
        ).fetchone()
        origin = origin_row[0] if origin_row else None
    if origin is None:
        return {}
    period = rollups.covers(aggr, time, origin)
    if period is not None:
        ask = RollupAsk(tid, entity_id, attrs, time, aggr, origin, period)
        return rollups.aggregate(conn, ask)
    # Whole seconds: julianday() arithmetic would put boundary instances a period early.
    epoch = f"(CAST(strftime('%s', {column}) AS INTEGER) - CAST(strftime('%s', ?) AS INTEGER))"
    bucket = f"CAST({epoch} / ? AS INTEGER)" if aggr.period_s else "0"
    bucket_params: list[Any] = [origin, aggr.period_s] if aggr.period_s else []
    # Only what was asked for is computed: reading values out of the JSON documents
    # (distinctCount, min/max of non-numbers) is what makes a raw aggregation slow.
    value = "json_extract(doc, '$.value')"
    # min and max order numbers, then texts; booleans, arrays, objects (geometries) and
    # numbers left out of aggregation (history.numeric) have no place in that order.
    ordered = f"CASE json_type(doc, '$.value') WHEN 'text' THEN {value} END"
    wanted = set(aggr.methods)
    columns = {
        "distinctCount": f"count(DISTINCT {value})",
        "sum": "sum(num)",
        "avg": "avg(num)",
        "min": f"min(coalesce(num, {ordered}))",
        "max": f"max(coalesce(num, {ordered}))",
        "sumsq": "sum(num * num)",
    }
    needs = {
        "distinctCount": {"distinctCount"},
        "sum": {"sum", "stddev"},
        "avg": {"avg"},
        "min": {"min"},
        "max": {"max"},
        "sumsq": {"sumsq", "stddev"},
    }
    selected = ", ".join(
        columns[name] if needs[name] & wanted else "NULL"
        for name in ("distinctCount", "sum", "avg", "min", "max", "sumsq")
    )
    sql = (
        f"SELECT attr, dataset_id, {bucket} AS b, count(*), {selected}, NULL"
        f" FROM tinstances WHERE {base}"
        " GROUP BY attr, dataset_id, b ORDER BY attr, dataset_id, b"
    )
    rows = conn.execute(sql, [*bucket_params, *params]).fetchall()
    kinds: dict[tuple[str, str], Any] = {}
    for row in rows:
        key = (row[0], row[1])
        if key not in kinds:
            found = conn.execute(
                "SELECT json_extract(doc, '$.type') FROM tinstances WHERE tenant = ?"
                " AND entity_id = ? AND attr = ? AND dataset_id = ? AND deleted_at IS NULL"
                " LIMIT 1",
                (tid, entity_id, row[0], row[1]),
            ).fetchone()
            kinds[key] = found[0] if found else None
    rows = [(*row[:-1], kinds[(row[0], row[1])]) for row in rows]
    return shape_aggregates(rows, origin, aggr, time)
