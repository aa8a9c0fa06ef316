"""newsmon: streaming news-monitoring alerts (feeds -> Kafka -> NER + watchlists -> alerts)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("newsmon")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"

__all__ = ["__version__"]
