"""The ASGI application: one module per NGSI-LD resource.

The entry point is ``thudo.api.app.create_app``; it is not imported here so that the
resource modules can import their siblings without cycles.
"""

__all__: list[str] = []
