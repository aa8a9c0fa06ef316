"""Run the benchmarks, print a table of figures against the targets, store them in bench/results/.

    python -m bench                      # everything (make bench): writes bench/results/latest.json
    python -m bench matching ingest      # a subset: its figures replace their namesakes in latest.json
    python -m bench --quick              # small sizes, one run each, for development: a temporary folder

Every figure is the median of ``--runs`` runs (3 by default); variants compared with each other run in
the same process, in turn. The pipeline benchmark also writes ``profile-pipeline.txt`` beside the results.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from bench.results import Figure, load, merge, table, write

RESULTS = Path(__file__).resolve().parent / "results"


def _bus(quick: bool, runs: int, out: Path) -> list[Figure]:
    from bench.bus import figures

    return figures(quick, runs)


def _bus_kafka(quick: bool, runs: int, out: Path) -> list[Figure]:
    """Run the bus benchmark on Apache Kafka (needs Java 17+ and Maven: `make kafka`)."""
    from bench.bus import kafka_figures

    return kafka_figures(quick, runs)


def _pipeline_kafka(quick: bool, runs: int, out: Path) -> list[Figure]:
    """Run the pipeline benchmark on Apache Kafka (needs Java 17+ and Maven: `make kafka`)."""
    from bench.pipeline import kafka_figures

    return kafka_figures(quick, runs)


def _matching(quick: bool, runs: int, out: Path) -> list[Figure]:
    from bench.matching import figures

    return figures(quick, runs)


def _alerting(quick: bool, runs: int, out: Path) -> list[Figure]:
    from bench.alerting import figures

    return figures(quick, runs)


def _ingest(quick: bool, runs: int, out: Path) -> list[Figure]:
    from bench.ingest import figures

    return figures(quick, runs)


def _ingest_cpu(quick: bool, runs: int, out: Path) -> list[Figure]:
    from bench.ingest_cpu import figures

    return figures(quick, runs)


def _publication(quick: bool, runs: int, out: Path) -> list[Figure]:
    """Run the simulated publisher (publication to alert, polled and pushed feeds): every item a sample."""
    from bench.publication import figures

    return figures(quick)


def _pipeline(quick: bool, runs: int, out: Path) -> list[Figure]:
    from bench.pipeline import figures

    return figures(quick, runs, profile_to=out / "profile-pipeline.txt")


def _soak(quick: bool, runs: int, out: Path) -> list[Figure]:
    """Run bench/soak.py (another area's long-running test), which is never part of the default run."""
    soak = importlib.import_module("bench.soak")
    run = getattr(soak, "figures", None) or getattr(soak, "bench_soak", None) or soak.main
    result = run(quick) if run.__name__ == "figures" else run()
    if isinstance(result, dict):
        return [Figure(f"soak_{k}", float(v), "", "bench/soak.py") for k, v in result.items()]
    return list(result or [])


#: Benchmarks by name, cheapest first: the default run is all of them but the long ones (``_OPTIONAL``).
BENCHMARKS: dict[str, Callable[[bool, int, Path], list[Figure]]] = {
    "bus": _bus,
    "matching": _matching,
    "alerting": _alerting,
    "ingest": _ingest,
    "ingest_cpu": _ingest_cpu,
    "pipeline": _pipeline,
}
BENCHMARKS["bus_kafka"] = _bus_kafka
BENCHMARKS["pipeline_kafka"] = _pipeline_kafka
BENCHMARKS["publication"] = _publication
if (Path(__file__).resolve().parent / "soak.py").is_file():
    BENCHMARKS["soak"] = _soak
_OPTIONAL = {"soak", "bus_kafka", "pipeline_kafka", "publication"}


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n", 1)[0])
    p.add_argument(
        "names",
        nargs="*",
        metavar="NAME",
        help=f"benchmarks to run (default: all but {', '.join(sorted(_OPTIONAL))}): {', '.join(BENCHMARKS)}",
    )
    p.add_argument(
        "--quick", action="store_true", help="small sizes and one run each; results in a temp folder"
    )
    p.add_argument("--runs", type=int, default=None, help="runs per figure (default 3; 1 with --quick)")
    p.add_argument("--out", type=Path, default=None, help="results folder (default bench/results)")
    return p


def _header(names: list[str], quick: bool, runs: int) -> str:
    load = os.getloadavg()
    return (
        f"newsmon bench: {', '.join(names)}{' (quick)' if quick else ''}, {runs} run(s) per figure;"
        f" {os.cpu_count()} cores, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
        f" at {datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
    )


def main(argv: list[str] | None = None) -> int:
    """Run the named benchmarks (all by default), print the table and write the results."""
    args = _parser().parse_args(argv)
    unknown = [n for n in args.names if n not in BENCHMARKS]
    if unknown:
        print(f"unknown benchmark(s) {unknown}; valid names are {list(BENCHMARKS)}", file=sys.stderr)
        return 2
    names = args.names or [n for n in BENCHMARKS if n not in _OPTIONAL]
    runs = args.runs or (1 if args.quick else 3)
    out = args.out or (Path(tempfile.mkdtemp(prefix="newsmon-bench-quick-")) if args.quick else RESULTS)
    out.mkdir(parents=True, exist_ok=True)
    # Library loggers print to stdout by default; the figures are what this command is for.
    from monitor.logs import configure_logging

    configure_logging("WARNING", "console")
    print(_header(names, args.quick, runs), flush=True)
    figures: list[Figure] = []
    for name in names:
        started = time.monotonic()
        print(f"-- {name} ...", flush=True)
        got = BENCHMARKS[name](args.quick, runs, out)
        figures += got
        print(f"-- {name}: {len(got)} figures in {time.monotonic() - started:.0f} s", flush=True)
        print(table(got), flush=True)
    path = out / ("quick.json" if args.quick else "latest.json")
    write(path, merge(load(path), figures))
    load_end = os.getloadavg()
    print(f"\n{table(figures)}\n\nwritten to {path}; load average now {load_end[0]:.2f} {load_end[1]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
