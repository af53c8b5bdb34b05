"""Storage backends behind one contract (``thudo.store.base``)."""

from __future__ import annotations

from thudo.config import Settings
from thudo.errors import SettingsError
from thudo.store.base import Store

__all__ = ["Store", "open_store"]


def open_store(settings: Settings) -> Store:
    """The backend named by ``database_url`` (not yet started)."""
    url = settings.database_url
    if url.startswith("sqlite:///"):
        from thudo.store.sqlite.store import SqliteStore

        return SqliteStore(settings)
    if url.startswith(("postgresql://", "postgres://")):
        try:
            from thudo.store.postgres.store import PostgresStore
        except ImportError as exc:
            raise SettingsError(
                f"database_url is a PostgreSQL URL but the driver is missing ({exc.name}):"
                " pip install 'thudo[postgres]'"
            ) from None
        return PostgresStore(settings)
    raise SettingsError(
        f"database_url={url!r}: use sqlite:///path or postgresql://user@host:port/dbname"
    )
