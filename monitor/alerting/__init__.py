"""alerting stage."""

__all__: list[str] = []
