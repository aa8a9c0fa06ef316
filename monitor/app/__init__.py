"""Wiring: the stages on the bus, the HTTP endpoint, and the process that runs them together."""

__all__: list[str] = []
