"""Subscriptions and the durable notification outbox in PostgreSQL.

Several processes share one database: claims lease rows with ``FOR UPDATE SKIP LOCKED``
(no two processes send the same notification), a periodic subscription's period is taken
by a conditional UPDATE (once across processes), so is a throttled subscription's
window, and every change of a subscription bumps a version and sends a NOTIFY on
``thudo_subscriptions``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import orjson

from thudo.store.base import (
    DeliveryOutcome,
    DeliveryStats,
    Outbound,
    PendingNotification,
    SubscriptionRecord,
)
from thudo.store.postgres.database import Conn, rows_json

__all__ = [
    "CHANNEL",
    "admit_throttled",
    "claim",
    "claim_period",
    "counts",
    "delete_subscription",
    "insert_outbound",
    "outbound_statements",
    "read_subscriptions",
    "save_subscription",
    "settle",
    "version",
]

#: The channel that tells other processes the subscriptions changed.
CHANNEL = "thudo_subscriptions"


async def _bump_version(conn: Conn) -> None:
    cur = await conn.execute(
        "UPDATE meta SET value = value + 1 WHERE key = 'subscriptions_version' RETURNING value"
    )
    row = await cur.fetchone()
    await conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, str(row[0] if row else 0)))


async def version(conn: Conn) -> int:
    """The subscriptions version."""
    cur = await conn.execute("SELECT value FROM meta WHERE key = 'subscriptions_version'")
    row = await cur.fetchone()
    return int(row[0]) if row else 0


async def save_subscription(conn: Conn, tid: int, rec: SubscriptionRecord, create: bool) -> bool:
    """Insert (create) or update a subscription; False when create finds the id taken."""
    doc = orjson.dumps(rec.doc).decode()
    context = orjson.dumps(rec.context).decode()
    if create:
        # A periodic subscription first fires one interval after its creation.
        interval = rec.doc.get("timeInterval") or 0
        cur = await conn.execute(
            "INSERT INTO subscriptions (tenant, id, doc, context, next_due)"
            " VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
            (tid, rec.doc["id"], doc, context, time.time() + interval),
        )
    else:
        cur = await conn.execute(
            "UPDATE subscriptions SET doc = %s, context = %s WHERE tenant = %s AND id = %s",
            (doc, context, tid, rec.doc["id"]),
        )
    if cur.rowcount:
        await _bump_version(conn)
    return cur.rowcount > 0


async def delete_subscription(conn: Conn, tid: int, sub_id: str) -> bool:
    """Delete a subscription and what it still had to send."""
    cur = await conn.execute(
        "DELETE FROM subscriptions WHERE tenant = %s AND id = %s", (tid, sub_id)
    )
    await conn.execute("DELETE FROM outbox WHERE tenant = %s AND sub_id = %s", (tid, sub_id))
    if cur.rowcount:
        await _bump_version(conn)
    return cur.rowcount > 0


async def read_subscriptions(
    conn: Conn,
    tid: int | None = None,
    sub_id: str | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> list[SubscriptionRecord]:
    """Subscriptions, optionally of one tenant or one id, oldest first."""
    sql = (
        "SELECT s.doc, s.context, s.times_sent, s.times_failed, s.last_notification,"
        " s.last_success, s.last_failure, t.name FROM subscriptions s"
        " JOIN tenants t ON t.tid = s.tenant"
    )
    params: list[Any] = []
    if tid is not None:
        sql += " WHERE s.tenant = %s"
        params.append(tid)
        if sub_id is not None:
            sql += " AND s.id = %s"
            params.append(sub_id)
    sql += " ORDER BY s.seq LIMIT %s OFFSET %s"
    params.extend([limit, offset])
    cur = await conn.execute(sql, params)
    return [
        SubscriptionRecord(
            r[7],
            orjson.loads(r[0]),
            orjson.loads(r[1]),
            DeliveryStats(int(r[2]), int(r[3]), r[4], r[5], r[6]),
        )
        for r in await cur.fetchall()
    ]


async def insert_outbound(
    conn: Conn, items: Sequence[tuple[int, Outbound]], now_iso: str, now_ts: float
) -> None:
    """Write notifications (tenant, notification) to the outbox, in this order."""
    for sql, params in outbound_statements(items, now_iso, now_ts):
        await conn.execute(sql, params)


def outbound_statements(
    items: Sequence[tuple[int, Outbound]], now_iso: str, now_ts: float
) -> list[tuple[str, Sequence[Any]]]:
    """The statement that writes notifications (tenant, notification) to the outbox."""
    if not items:
        return []
    rows = [
        (tid, o.sub_id, o.entity_id, o.trigger, orjson.dumps(o.payload).decode())
        for tid, o in items
    ]
    sql = (
        "INSERT INTO outbox (tenant, sub_id, entity_id, trigger, payload, created_at, next_at)"
        " SELECT (r->>0)::int, r->>1, r->>2, r->>3, r->>4, %s, %s"
        " FROM jsonb_array_elements(%s::jsonb) WITH ORDINALITY AS u(r, n) ORDER BY n"
    )
    return [(sql, (now_iso, now_ts, rows_json(rows)))]


_CLAIM = """
WITH due AS (
    SELECT o.nid FROM outbox o
    WHERE NOT o.failed AND o.next_at <= %(now)s AND o.lease_until <= %(now)s
      AND NOT EXISTS (SELECT 1 FROM outbox p WHERE p.tenant = o.tenant
          AND p.sub_id = o.sub_id AND p.entity_id = o.entity_id AND NOT p.failed
          AND p.nid < o.nid)
    ORDER BY o.nid LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED)
UPDATE outbox SET lease_until = %(until)s FROM due, tenants t
WHERE outbox.nid = due.nid AND t.tid = outbox.tenant
RETURNING outbox.nid, t.name, outbox.sub_id, outbox.entity_id, outbox.trigger,
    outbox.payload, outbox.attempts, outbox.created_at
"""


async def claim(conn: Conn, limit: int, lease_s: float, now: float) -> list[PendingNotification]:
    """Lease the due rows; a row waits while an older one for the same subscription and
    entity is pending, which keeps notifications in order per entity and subscription."""
    cur = await conn.execute(_CLAIM, {"now": now, "limit": limit, "until": now + lease_s})
    rows = sorted(await cur.fetchall(), key=lambda r: r[0])
    return [
        PendingNotification(r[0], r[1], r[2], r[3], r[4], orjson.loads(r[5]), r[6], r[7])
        for r in rows
    ]


async def settle(conn: Conn, outcomes: list[DeliveryOutcome]) -> None:
    """Record delivery results in the outbox and in the subscriptions' status."""
    for out in outcomes:
        if out.ok:
            sql = "DELETE FROM outbox WHERE nid = %s RETURNING tenant, sub_id"
            params: tuple[Any, ...] = (out.nid,)
        elif out.retry_at is not None:
            sql = (
                "UPDATE outbox SET attempts = attempts + 1, next_at = %s, lease_until = 0,"
                " last_error = %s WHERE nid = %s RETURNING tenant, sub_id"
            )
            params = (out.retry_at, out.error, out.nid)
        else:
            sql = (
                "UPDATE outbox SET attempts = attempts + 1, failed = true, last_error = %s"
                " WHERE nid = %s RETURNING tenant, sub_id"
            )
            params = (out.error, out.nid)
        row = await (await conn.execute(sql, params)).fetchone()
        if row is None:
            continue
        counter, last = (
            ("times_sent", "last_success") if out.ok else ("times_failed", "last_failure")
        )
        await conn.execute(
            f"UPDATE subscriptions SET {counter} = {counter} + 1,"
            f" last_notification = greatest(last_notification, %s),"
            f" {last} = greatest({last}, %s) WHERE tenant = %s AND id = %s",
            (out.at, out.at, row[0], row[1]),
        )


async def claim_period(conn: Conn, tid: int, sub_id: str, now: float, interval: float) -> bool:
    """Take the current period of a periodic subscription; False if already taken.

    The next period starts one interval after this one was due, not after the claim, so
    that the lag of whichever process polls first does not stretch the period."""
    cur = await conn.execute(
        "UPDATE subscriptions SET next_due = GREATEST(next_due + %(i)s, %(now)s)"
        " WHERE tenant = %(tid)s AND id = %(id)s AND next_due <= %(now)s",
        {"i": interval, "now": now, "tid": tid, "id": sub_id},
    )
    return cur.rowcount > 0


_ADMIT = """
UPDATE subscriptions SET throttled_at = extract(epoch FROM clock_timestamp())
WHERE tenant = %s AND id = %s AND (throttled_at IS NULL
    OR throttled_at <= extract(epoch FROM clock_timestamp()) - %s)
RETURNING 1
"""


async def admit_throttled(conn: Conn, tid: int, items: list[Outbound]) -> list[Outbound]:
    """Drop the notifications of throttled subscriptions whose window is not over.

    The conditional UPDATE runs in the write transaction: a concurrent one for the same
    subscription waits for it, then sees the new time, so one process sends per window;
    a rollback gives the window back."""
    kept: list[Outbound] = []
    for item in items:
        if item.throttling:
            # Fetched, not counted: the rowcount is unknown in pipeline mode.
            cur = await conn.execute(_ADMIT, (tid, item.sub_id, item.throttling))
            if await cur.fetchone() is None:
                continue
        kept.append(item)
    return kept


async def counts(conn: Conn) -> dict[str, int]:
    """Pending and failed notifications."""
    cur = await conn.execute(
        "SELECT count(*) FILTER (WHERE NOT failed), count(*) FILTER (WHERE failed) FROM outbox"
    )
    row = await cur.fetchone()
    return {"pending": int(row[0]), "failed": int(row[1])} if row else {}
