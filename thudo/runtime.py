"""Process-level tuning of a serving ``thudo`` process (not of in-process test apps)."""

from __future__ import annotations

import gc
import logging

__all__ = ["settle_heap"]

log = logging.getLogger(__name__)


def settle_heap() -> None:
    """Move everything alive once start-up is done (modules, the core @context, compiled
    patterns) out of the garbage collector's reach: it is never garbage, and without this
    every full collection walks it again. A two-year hourly aggregation makes about 17,000
    lists, enough to trigger full collections of some 65,000 start-up objects that took up
    to 65 ms each and set that query's p95 (132 ms against a 62 ms median, measured)."""
    gc.collect()
    gc.freeze()
    log.debug("%d start-up objects frozen out of garbage collection", gc.get_freeze_count())
