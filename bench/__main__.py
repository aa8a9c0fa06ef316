"""Run every benchmark and print its figures."""

from __future__ import annotations

import sys

from bench.bus import bench_bus


def _print(name: str, figures: dict[str, float]) -> None:
    print(f"{name}:")
    for key, value in figures.items():
        print(f"  {key:<24} {value:>12,.1f}")
    sys.stdout.flush()


def main() -> None:
    """Run the benchmarks in order, cheapest first."""
    _print("bus (embedded tansu, kafka-python)", bench_bus())


if __name__ == "__main__":
    main()
