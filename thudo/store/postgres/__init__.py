"""The PostgreSQL 15+ / PostGIS 3 backend (``pip install 'thudo[postgres]'``).

Modules are imported lazily by ``thudo.store.open_store`` so that the SQLite default needs
no PostgreSQL driver.
"""

__all__: list[str] = []
