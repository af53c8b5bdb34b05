"""How the pipeline spaces recomputations: at most one per entity per interval, and never
from a state older than the one it last computed."""

from __future__ import annotations

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
