"""The embedded SQLite backend."""

from thudo.store.sqlite.store import SqliteStore

__all__ = ["SqliteStore"]
