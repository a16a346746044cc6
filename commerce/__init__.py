"""Orders, shipments and refunds: the embedded store and the adapter to a shop backend."""

__all__: list[str] = []
