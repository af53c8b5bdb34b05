"""Process-level tuning of a serving process: start-up objects frozen out of the garbage
collector, and its young generation collected less often."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from thudo.runtime import settle_heap


@pytest.fixture
def restored_gc() -> Iterator[None]:
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


@pytest.mark.usefixtures("restored_gc")
def test_settling_freezes_what_lives_and_sets_the_young_threshold() -> None:
    kept = [{"n": n} for n in range(1000)]
    _, middle, old = gc.get_threshold()
    settle_heap(12_345)
    assert gc.get_threshold() == (12_345, middle, old)
    assert gc.get_freeze_count() >= len(kept)
