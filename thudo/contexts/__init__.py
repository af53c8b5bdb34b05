"""@context documents: fetching with limits, offline copies, and the broker's registry."""

from thudo.contexts.fetcher import ContextFetcher
from thudo.contexts.registry import ContextRegistry

__all__ = ["ContextFetcher", "ContextRegistry"]
