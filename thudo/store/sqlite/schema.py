"""The SQLite schema, as numbered migrations applied in order inside one transaction each."""

from __future__ import annotations

import logging
import sqlite3

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "migrate"]

log = logging.getLogger(__name__)

_V1 = """
CREATE TABLE IF NOT EXISTS tenants (
    tid INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL
);
INSERT OR IGNORE INTO tenants (tid, name, created_at) VALUES (0, '', '');

CREATE TABLE IF NOT EXISTS entities (
    eid INTEGER PRIMARY KEY,
    tenant INTEGER NOT NULL,
    id TEXT NOT NULL,
    created_at TEXT NOT NULL,
    modified_at TEXT NOT NULL,
    doc BLOB NOT NULL,
    UNIQUE (tenant, id)
);

CREATE TABLE IF NOT EXISTS etypes (
    tenant INTEGER NOT NULL,
    type TEXT NOT NULL,
    eid INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS etypes_by_type ON etypes (tenant, type, eid);
CREATE INDEX IF NOT EXISTS etypes_by_eid ON etypes (eid, type);

CREATE TABLE IF NOT EXISTS escopes (
    tenant INTEGER NOT NULL,
    scope TEXT NOT NULL,
    eid INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS escopes_by_scope ON escopes (tenant, scope, eid);
CREATE INDEX IF NOT EXISTS escopes_by_eid ON escopes (eid);

-- Attribute paths (an IRI, then sub-attributes and keys) are stored once, as numbers.
CREATE TABLE IF NOT EXISTS paths (
    pid INTEGER PRIMARY KEY,
    path TEXT NOT NULL UNIQUE
);

-- One row per searchable value. "val" holds a number or a text (no type affinity):
-- numbers sort before texts, so one index serves both kinds of range. "root" is the path
-- of the top-level attribute, so that an attribute's rows can be replaced together.
CREATE TABLE IF NOT EXISTS attrs (
    tenant INTEGER NOT NULL,
    pid INTEGER NOT NULL,
    root INTEGER NOT NULL,
    kind INTEGER NOT NULL,
    val,
    eid INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS attrs_val ON attrs (tenant, pid, val, kind, eid);
CREATE INDEX IF NOT EXISTS attrs_by_eid ON attrs (eid, root);

CREATE TABLE IF NOT EXISTS geo (
    gid INTEGER PRIMARY KEY,
    tenant INTEGER NOT NULL,
    path TEXT NOT NULL,
    eid INTEGER NOT NULL,
    wkb BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS geo_by_eid ON geo (eid);
CREATE INDEX IF NOT EXISTS geo_by_path ON geo (tenant, path);
CREATE VIRTUAL TABLE IF NOT EXISTS geo_rtree USING rtree (gid, minx, maxx, miny, maxy);

CREATE TABLE IF NOT EXISTS contexts (
    id TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    kind TEXT NOT NULL,
    body BLOB NOT NULL,
    created_at TEXT NOT NULL,
    last_usage TEXT,
    hits INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS contexts_by_url ON contexts (url);
"""

_V2 = """
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
INSERT OR IGNORE INTO meta (key, value) VALUES ('subscriptions_version', 0);

CREATE TABLE IF NOT EXISTS subscriptions (
    tenant INTEGER NOT NULL,
    id TEXT NOT NULL,
    doc BLOB NOT NULL,
    context BLOB NOT NULL,
    times_sent INTEGER NOT NULL DEFAULT 0,
    times_failed INTEGER NOT NULL DEFAULT 0,
    last_notification TEXT,
    last_success TEXT,
    last_failure TEXT,
    next_due REAL NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant, id)
);

CREATE TABLE IF NOT EXISTS outbox (
    nid INTEGER PRIMARY KEY,
    tenant INTEGER NOT NULL,
    sub_id TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    trigger TEXT NOT NULL,
    payload BLOB NOT NULL,
    created_at TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_at REAL NOT NULL,
    lease_until REAL NOT NULL DEFAULT 0,
    failed INTEGER NOT NULL DEFAULT 0,
    last_error TEXT
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox (failed, next_at);
CREATE INDEX IF NOT EXISTS outbox_by_sub ON outbox (tenant, sub_id, entity_id, nid);
"""

_V3 = """
CREATE TABLE IF NOT EXISTS tinstances (
    iid INTEGER PRIMARY KEY,
    tenant INTEGER NOT NULL,
    entity_id TEXT NOT NULL,
    attr TEXT NOT NULL,
    dataset_id TEXT NOT NULL DEFAULT '',
    observed_at TEXT,
    created_at TEXT NOT NULL,
    modified_at TEXT NOT NULL,
    deleted_at TEXT,
    num REAL,
    doc BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS tinstances_observed
    ON tinstances (tenant, entity_id, attr, observed_at);
"""

_V4 = """
CREATE TABLE IF NOT EXISTS documents (
    kind TEXT NOT NULL,
    tenant INTEGER NOT NULL,
    id TEXT NOT NULL,
    doc BLOB NOT NULL,
    PRIMARY KEY (kind, tenant, id)
);
"""

_V5 = """
CREATE TABLE IF NOT EXISTS trollups (
    tenant INTEGER NOT NULL,
    entity_id TEXT NOT NULL,
    attr TEXT NOT NULL,
    dataset_id TEXT NOT NULL,
    period TEXT NOT NULL,
    bucket TEXT NOT NULL,
    n INTEGER NOT NULL,
    total REAL NOT NULL,
    lo REAL,
    hi REAL,
    sumsq REAL NOT NULL,
    PRIMARY KEY (tenant, entity_id, attr, dataset_id, period, bucket)
) WITHOUT ROWID;
"""

#: Each migration is a script; the index + 1 is the schema version it produces.
# Daily rollups, built from the hourly ones already kept.
_V6 = """
INSERT OR IGNORE INTO trollups (tenant, entity_id, attr, dataset_id, period, bucket, n, total,
    lo, hi, sumsq)
SELECT tenant, entity_id, attr, dataset_id, 'P1D', substr(bucket, 1, 10) || 'T00:00:00.000000Z',
    sum(n), sum(total), min(lo), max(hi), sum(sumsq)
FROM trollups WHERE period = 'PT1H'
GROUP BY tenant, entity_id, attr, dataset_id, substr(bucket, 1, 10);
"""

# Pending notifications in outbox order, so that a claim reads the oldest first and stops
# at its limit instead of sorting the whole backlog (failed rows are left out).
_V7 = """
CREATE INDEX IF NOT EXISTS outbox_pending ON outbox (nid) WHERE failed = 0;
"""

MIGRATIONS: tuple[str, ...] = (_V1, _V2, _V3, _V4, _V5, _V6, _V7)
SCHEMA_VERSION = len(MIGRATIONS)


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the database up to SCHEMA_VERSION; returns the version found before."""
    found = int(conn.execute("PRAGMA user_version").fetchone()[0])
    if found > SCHEMA_VERSION:
        raise RuntimeError(
            f"database schema version {found} is newer than this thudo ({SCHEMA_VERSION})"
        )
    for version in range(found, SCHEMA_VERSION):
        log.info("applying SQLite schema migration %s", version + 1)
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in _statements(MIGRATIONS[version]):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {version + 1:d}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return found


def _statements(script: str) -> list[str]:
    return [s.strip() for s in script.split(";\n") if s.strip()]
