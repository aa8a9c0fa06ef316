"""``newsmon demo``: the whole pipeline on a bundled sample feed, offline, in seconds."""

from monitor.demo.run import DemoResult, isolated_settings, run_demo

__all__ = ["DemoResult", "isolated_settings", "run_demo"]
