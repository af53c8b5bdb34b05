"""Process-level tuning of a serving ``thudo`` process (not of in-process test apps)."""

from __future__ import annotations

import gc
import logging

__all__ = ["settle_heap"]

log = logging.getLogger(__name__)


def settle_heap(young_objects: int) -> None:
    """Move everything alive once start-up is done (modules, the core @context, compiled
    patterns) out of the garbage collector's reach: it is never garbage, and without this
    every full collection walks it again. A two-year hourly aggregation makes about 17,000
    lists, enough to trigger full collections of some 65,000 start-up objects that took up
    to 65 ms each and set that query's p95 (132 ms against a 62 ms median, measured).

    Then collect the young generation after ``young_objects`` new containers instead of
    CPython's 700: a serving process allocates and frees JSON documents by the thousand a
    second, and with the default it spent about a tenth of its time collecting (2,800 young
    and 23 full collections in 5 s of partial updates, measured); objects freed by their
    reference count, nearly all of them, are freed at once either way."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(young_objects, middle, old)
    log.debug(
        "%d start-up objects frozen out of garbage collection; young threshold %d",
        gc.get_freeze_count(),
        young_objects,
    )
