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
    raise SettingsError(
        f"database_url={url!r}: only sqlite:/// is available in this version "
        "(PostgreSQL support is planned)"
    )
