"""``newsmon demo``: the whole pipeline on a bundled sample feed, offline, in seconds."""

from monitor.demo.run import DemoResult, run_demo

__all__ = ["DemoResult", "run_demo"]
