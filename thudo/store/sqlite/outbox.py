"""Subscriptions and the durable notification outbox, in SQL for SQLite.

Functions take a connection and run inside the caller's transaction: the writer thread
for writes, a reader connection for reads.
"""

from __future__ import annotations

import sqlite3
import time
from typing import Any

import orjson

from thudo.store.base import (
    DeliveryOutcome,
    DeliveryStats,
    Outbound,
    PendingNotification,
    SubscriptionRecord,
)
from thudo.store.sqlite.bulk import insert_many

__all__ = [
    "INSERT_OUTBOX",
    "bump_version",
    "claim",
    "claim_period",
    "counts",
    "delete_subscription",
    "insert_outbound",
    "outbound_rows",
    "read_subscriptions",
    "save_subscription",
    "settle",
]

_SUB_COLUMNS = (
    "s.doc, s.context, s.times_sent, s.times_failed, s.last_notification, s.last_success, "
    "s.last_failure, t.name"
)


def bump_version(conn: sqlite3.Connection) -> None:
    """Tell every process that the subscriptions changed."""
    conn.execute("UPDATE meta SET value = value + 1 WHERE key = 'subscriptions_version'")


def save_subscription(
    conn: sqlite3.Connection, tid: int, rec: SubscriptionRecord, create: bool
) -> bool:
    """Insert (create) or update a subscription; False when create finds the id taken."""
    doc = orjson.dumps(rec.doc)
    context = orjson.dumps(rec.context)
    if create:
        # A periodic subscription first fires one interval after its creation.
        interval = rec.doc.get("timeInterval") or 0
        cur = conn.execute(
            "INSERT OR IGNORE INTO subscriptions (tenant, id, doc, context, next_due)"
            " VALUES (?, ?, ?, ?, ?)",
            (tid, rec.doc["id"], doc, context, time.time() + interval),
        )
    else:
        cur = conn.execute(
            "UPDATE subscriptions SET doc = ?, context = ? WHERE tenant = ? AND id = ?",
            (doc, context, tid, rec.doc["id"]),
        )
    if cur.rowcount:
        bump_version(conn)
    return cur.rowcount > 0


def delete_subscription(conn: sqlite3.Connection, tid: int, sub_id: str) -> bool:
    """Delete a subscription and what it still had to send."""
    cur = conn.execute("DELETE FROM subscriptions WHERE tenant = ? AND id = ?", (tid, sub_id))
    conn.execute("DELETE FROM outbox WHERE tenant = ? AND sub_id = ?", (tid, sub_id))
    if cur.rowcount:
        bump_version(conn)
    return cur.rowcount > 0


def _record(row: tuple[Any, ...]) -> SubscriptionRecord:
    stats = DeliveryStats(row[2], row[3], row[4], row[5], row[6])
    return SubscriptionRecord(row[7], orjson.loads(row[0]), orjson.loads(row[1]), stats)


def read_subscriptions(
    conn: sqlite3.Connection,
    tid: int | None = None,
    sub_id: str | None = None,
    limit: int = -1,
    offset: int = 0,
) -> list[SubscriptionRecord]:
    """Subscriptions, optionally of one tenant or one id, oldest first."""
    sql = f"SELECT {_SUB_COLUMNS} FROM subscriptions s JOIN tenants t ON t.tid = s.tenant"
    params: list[Any] = []
    if tid is not None:
        sql += " WHERE s.tenant = ?"
        params.append(tid)
        if sub_id is not None:
            sql += " AND s.id = ?"
            params.append(sub_id)
    sql += " ORDER BY s.rowid LIMIT ? OFFSET ?"
    params.extend([limit, offset])
    return [_record(r) for r in conn.execute(sql, params)]


def outbound_rows(
    tid: int, items: list[Outbound], now_iso: str, now_ts: float
) -> list[tuple[Any, ...]]:
    """The outbox rows of these notifications (for ``INSERT_OUTBOX``)."""
    return [
        (tid, o.sub_id, o.entity_id, o.trigger, orjson.dumps(o.payload), now_iso, now_ts)
        for o in items
    ]


INSERT_OUTBOX = (
    "INSERT INTO outbox (tenant, sub_id, entity_id, trigger, payload, created_at, next_at)"
)


def insert_outbound(
    conn: sqlite3.Connection, tid: int, items: list[Outbound], now_iso: str, now_ts: float
) -> None:
    """Write notifications to the outbox (in one statement per 500: see bulk.py)."""
    insert_many(conn, INSERT_OUTBOX, 7, outbound_rows(tid, items, now_iso, now_ts))


# Sets of outbox rows go to one statement as a JSON array of row numbers: a statement is
# one step for sqlite3 (which hands the GIL over at every step), where executemany takes
# a step, and possibly a wait for the GIL, per row.


def claim(
    conn: sqlite3.Connection, limit: int, lease_s: float, now: float
) -> list[PendingNotification]:
    """Lease the due rows; a row waits while an older one for the same subscription and
    entity is pending, which keeps notifications in order per entity and subscription."""
    rows = conn.execute(
        "SELECT o.nid, t.name, o.sub_id, o.entity_id, o.trigger, o.payload, o.attempts, "
        "o.created_at FROM outbox o INDEXED BY outbox_pending JOIN tenants t ON t.tid = o.tenant "
        "WHERE o.failed = 0 AND o.next_at <= ? AND o.lease_until <= ? "
        "AND NOT EXISTS (SELECT 1 FROM outbox p WHERE p.tenant = o.tenant "
        "AND p.sub_id = o.sub_id AND p.entity_id = o.entity_id AND p.failed = 0 "
        "AND p.nid < o.nid) ORDER BY o.nid LIMIT ?",
        (now, now, limit),
    ).fetchall()
    if rows:
        conn.execute(
            "UPDATE outbox SET lease_until = ? WHERE nid IN (SELECT value FROM json_each(?))",
            (now + lease_s, orjson.dumps([r[0] for r in rows])),
        )
    return [
        PendingNotification(r[0], r[1], r[2], r[3], r[4], orjson.loads(r[5]), r[6], r[7])
        for r in rows
    ]


def settle(conn: sqlite3.Connection, outcomes: list[DeliveryOutcome]) -> None:
    """Record delivery results in the outbox and in the subscriptions' status."""
    delivered = [out for out in outcomes if out.ok]
    if delivered:
        _settle_delivered(conn, delivered)
    for out in outcomes:
        if not out.ok:
            _settle_failed(conn, out)


def _settle_delivered(conn: sqlite3.Connection, outcomes: list[DeliveryOutcome]) -> None:
    """Count the deliveries into their subscriptions, then delete the rows: two statements
    for the whole batch."""
    latest = {out.nid: out.at for out in outcomes}  # a row counts once
    pairs = orjson.dumps([[nid, at] for nid, at in latest.items()])
    conn.execute(
        "UPDATE subscriptions SET times_sent = times_sent + d.n,"
        " last_notification = max(coalesce(last_notification, ''), d.at),"
        " last_success = max(coalesce(last_success, ''), d.at)"
        " FROM (SELECT o.tenant, o.sub_id, count(*) AS n,"
        " max(json_extract(j.value, '$[1]')) AS at FROM json_each(?) AS j"
        " JOIN outbox o ON o.nid = json_extract(j.value, '$[0]')"
        " GROUP BY o.tenant, o.sub_id) AS d"
        " WHERE subscriptions.tenant = d.tenant AND subscriptions.id = d.sub_id",
        (pairs,),
    )
    conn.execute(
        "DELETE FROM outbox WHERE nid IN (SELECT value FROM json_each(?))",
        (orjson.dumps(list(latest)),),
    )


def _settle_failed(conn: sqlite3.Connection, out: DeliveryOutcome) -> None:
    row = conn.execute("SELECT tenant, sub_id FROM outbox WHERE nid = ?", (out.nid,)).fetchone()
    if row is None:
        return
    if out.retry_at is not None:
        conn.execute(
            "UPDATE outbox SET attempts = attempts + 1, next_at = ?, lease_until = 0, "
            "last_error = ? WHERE nid = ?",
            (out.retry_at, out.error, out.nid),
        )
    else:
        conn.execute(
            "UPDATE outbox SET attempts = attempts + 1, failed = 1, last_error = ? WHERE nid = ?",
            (out.error, out.nid),
        )
    conn.execute(
        "UPDATE subscriptions SET times_failed = times_failed + 1, last_notification = ?, "
        "last_failure = ? WHERE tenant = ? AND id = ?",
        (out.at, out.at, row[0], row[1]),
    )


def claim_period(
    conn: sqlite3.Connection, tid: int, sub_id: str, now: float, interval: float
) -> bool:
    """Take the current period of a periodic subscription; False if already taken."""
    cur = conn.execute(
        "UPDATE subscriptions SET next_due = ? WHERE tenant = ? AND id = ? AND next_due <= ?",
        (now + interval, tid, sub_id, now),
    )
    return cur.rowcount > 0


def counts(conn: sqlite3.Connection) -> dict[str, int]:
    """Pending and failed notifications."""
    pending, failed = conn.execute(
        "SELECT coalesce(sum(failed = 0), 0), coalesce(sum(failed = 1), 0) FROM outbox"
    ).fetchone()
    return {"pending": int(pending), "failed": int(failed)}
