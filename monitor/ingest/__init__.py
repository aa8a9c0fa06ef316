"""ingest stage."""

__all__: list[str] = []
