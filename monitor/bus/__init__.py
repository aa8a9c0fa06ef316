"""bus stage."""

__all__: list[str] = []
