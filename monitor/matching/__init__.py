"""matching stage."""

__all__: list[str] = []
