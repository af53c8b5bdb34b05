"""How the pipeline spaces recomputations: at most one per entity per interval, and never
from a state older than the one it last computed."""

from __future__ import annotations

import asyncio
import math

from tests.conftest import SettingsFactory
from thudo.pipeline.runner import Pipeline
from thudo.store import open_store

KEY = ("", "urn:ngsi-ld:AirQualityObserved:x")


async def test_a_deferred_state_is_dropped_once_a_newer_one_is_computed(
    make_settings: SettingsFactory,
) -> None:
    settings = make_settings(analytics_min_interval=60.0)
    pipeline = Pipeline(settings, open_store(settings))
    old = {"id": KEY[1], "state": 1}
    new = {"id": KEY[1], "state": 2}
    assert pipeline._due({KEY: ("AirQualityObserved", old)}) == [(KEY, ("AirQualityObserved", old))]
    # Within the interval: put off.
    assert pipeline._due({KEY: ("AirQualityObserved", old)}) == []
    assert KEY in pipeline._deferred
    # The interval has passed and a newer state arrives: it is computed, and the put-off
    # older state must not come back later to overwrite its results.
    pipeline._last[KEY] = -math.inf
    assert pipeline._due({KEY: ("AirQualityObserved", new)}) == [(KEY, ("AirQualityObserved", new))]
    assert KEY not in pipeline._deferred
    pipeline._release()
    assert pipeline.watch.take() == {}


async def test_a_put_off_entity_comes_back_when_its_own_interval_ends(
    make_settings: SettingsFactory,
) -> None:
    settings = make_settings(analytics_min_interval=0.2)
    pipeline = Pipeline(settings, open_store(settings))
    now = asyncio.get_running_loop().time()
    soon, later = ("", "urn:ngsi-ld:AirQualityObserved:soon"), ("", "urn:x:later")
    pipeline._last[soon] = now - 0.15  # its interval ends in 0.05 s
    pipeline._last[later] = now  # ... this one's in 0.2 s
    state = ("AirQualityObserved", None)
    assert pipeline._due({soon: state, later: state}) == []
    await asyncio.sleep(0.1)
    assert set(pipeline.watch.take()) == {soon}
    assert set(pipeline._deferred) == {later}
    await asyncio.sleep(0.2)
    assert set(pipeline.watch.take()) == {later}
    assert pipeline._deferred == {}


async def test_changes_put_off_again_and_again_keep_one_timer(
    make_settings: SettingsFactory,
) -> None:
    settings = make_settings(analytics_min_interval=60.0)
    pipeline = Pipeline(settings, open_store(settings))
    loop = asyncio.get_running_loop()
    state = ("AirQualityObserved", None)
    assert pipeline._due({KEY: state}) == [(KEY, state)]
    timers = len(loop._scheduled)  # type: ignore[attr-defined]
    for n in range(50):
        assert pipeline._due({KEY: state, ("", f"urn:x:{n}"): state})[0][0] != KEY
    # Every round put KEY off again: one timer stands for all of them.
    assert len(loop._scheduled) == timers + 1  # type: ignore[attr-defined]
    await pipeline.close()
    assert pipeline._timer is None
