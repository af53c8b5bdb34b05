"""Schema administration for ``thudo db upgrade`` and ``thudo db status``, on either backend."""

from __future__ import annotations

import asyncio
import sqlite3
from dataclasses import dataclass

from thudo.config import Settings
from thudo.errors import SettingsError

__all__ = ["SchemaStatus", "schema_status", "upgrade_schema"]


@dataclass(frozen=True, slots=True)
class SchemaStatus:
    """The schema version a database is at, and the one this thudo brings."""

    backend: str
    current: int
    latest: int

    @property
    def pending(self) -> list[int]:
        """The versions still to apply."""
        return list(range(self.current + 1, self.latest + 1))


def schema_status(settings: Settings) -> SchemaStatus:
    """Where the database's schema stands (it is not changed)."""
    if _is_postgres(settings):
        return asyncio.run(_postgres(settings, upgrade=False))
    from thudo.store.sqlite.schema import SCHEMA_VERSION

    conn = sqlite3.connect(settings.sqlite_path)
    try:
        current = int(conn.execute("PRAGMA user_version").fetchone()[0])
    finally:
        conn.close()
    return SchemaStatus("sqlite", current, SCHEMA_VERSION)


def upgrade_schema(settings: Settings) -> tuple[SchemaStatus, SchemaStatus]:
    """Apply the missing migrations; the status before and after."""
    if _is_postgres(settings):
        before = asyncio.run(_postgres(settings, upgrade=False))
        return before, asyncio.run(_postgres(settings, upgrade=True))
    from thudo.store.sqlite.connection import open_connection
    from thudo.store.sqlite.schema import SCHEMA_VERSION, migrate

    s = settings
    conn = open_connection(s.sqlite_path, s.sqlite_busy_timeout_ms, s.sqlite_cache_mib)
    try:
        found = migrate(conn)
    finally:
        conn.close()
    return SchemaStatus("sqlite", found, SCHEMA_VERSION), SchemaStatus(
        "sqlite", SCHEMA_VERSION, SCHEMA_VERSION
    )


def _is_postgres(settings: Settings) -> bool:
    return settings.database_url.startswith(("postgresql://", "postgres://"))


async def _postgres(settings: Settings, upgrade: bool) -> SchemaStatus:
    try:
        from thudo.store.postgres.database import Database
        from thudo.store.postgres.schema import SCHEMA_VERSION, applied_versions, migrate
    except ImportError as exc:
        raise SettingsError(
            f"database_url is a PostgreSQL URL but the driver is missing ({exc.name}):"
            " pip install 'thudo[postgres]'"
        ) from None
    db = Database(settings.replace(postgres_pool_min=1, postgres_pool_max=1))
    await db.open()
    try:
        async with db.connection() as conn:
            if upgrade:
                await migrate(conn)
            versions = await applied_versions(conn)
    finally:
        await db.close()
    return SchemaStatus("postgresql", max(versions, default=0), SCHEMA_VERSION)
