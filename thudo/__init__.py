"""thudo: an open urban data platform with an NGSI-LD context broker at its core."""

from importlib.metadata import PackageNotFoundError, version

__all__ = ["__version__"]

try:
    __version__ = version("thudo")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+local"
