"""VN_AQI, US EPA AQI and QCVN exceedances written back as data arrives, whatever writes it."""

from __future__ import annotations

import httpx

from tests.conftest import ClientFactory
from tests.pipeline.support import at, prop, upsert, wait_for
from thudo.analytics.averages import nowcast
from thudo.analytics.epa import epa_pm25_aqi
from thudo.analytics.vnaqi import hourly_vn_aqi

EID = "urn:ngsi-ld:AirQualityObserved:test-1"


def station(pm25: float, pm10: float, observed: str, **more: float) -> dict[str, object]:
    body: dict[str, object] = {
        "id": EID,
        "type": "AirQualityObserved",
        "pm25": prop(pm25, observed, "GQ"),
        "pm10": prop(pm10, observed, "GQ"),
    }
    body.update({k: prop(v, observed, "GQ") for k, v in more.items()})
    return body


async def _client(make_client: ClientFactory) -> httpx.AsyncClient:
    return await make_client(analytics_min_interval=0.01)


async def test_hourly_index_from_ngsi_ld_writes(make_client: ClientFactory) -> None:
    client = await _client(make_client)
    pm25 = [35.0, 48.0, 61.5, 80.2, 95.0, 120.4, 150.0, 101.0, 88.8, 70.0, 64.0, 140.0]
    pm10 = [60.0, 70.0, 90.0, 110.0, 130.0, 180.0, 210.0, 150.0, 120.0, 100.0, 95.0, 170.0]
    # One reading per hour for 12 hours, the newest in the current hour, each its own write.
    for i, (a, b) in enumerate(zip(pm25, pm10, strict=True)):
        await upsert(client, station(a, b, at(11 - i - 0.5 if i < 11 else -0.25), no2=40.0))
    expected = hourly_vn_aqi(pm25=pm25, pm10=pm10, no2=40.0)
    assert expected is not None
    entity = await wait_for(
        client, EID, lambda e: e.get("airQualityIndex", {}).get("value") == expected.aqi
    )
    index = entity["airQualityIndex"]
    assert index["value"] == expected.aqi
    assert index["scale"]["value"] == "VN_AQI"
    assert index["dominantPollutant"]["value"] == expected.dominant
    assert index["observedAt"] == entity["pm25"]["observedAt"]
    assert entity["airQualityLevel"]["value"] == expected.band.name_vi
    assert entity["airQualityLevel"]["nameEn"]["value"] == expected.band.name_en
    assert entity["airQualityLevel"]["colour"]["value"] == expected.band.hex
    cast = nowcast(pm25)
    assert cast is not None
    epa = entity["epaAqi"]
    assert epa["value"] == epa_pm25_aqi(cast.value).aqi
    assert "US EPA" in epa["scale"]["value"]


async def test_gaps_give_no_invented_index(make_client: ClientFactory) -> None:
    client = await _client(make_client)
    # Only one of the last three hours has data: the NowCast has no valid value.
    await upsert(client, station(80.0, 120.0, at(5.5)))
    await upsert(client, station(85.0, 125.0, at(-0.25)))
    entity = await wait_for(
        client, EID, lambda e: e.get("qcvnExceedances", {}).get("observedAt") == at(-0.25)
    )
    assert entity["qcvnExceedances"]["observedAt"] == at(-0.25)
    assert "airQualityIndex" not in entity


async def test_index_has_history(make_client: ClientFactory) -> None:
    client = await _client(make_client)
    await upsert(client, station(95.0, 93.5, at(3.5)))  # alone: no valid NowCast yet
    for hours_ago in (2.5, 1.5, 0.5):
        await upsert(client, station(60.0 + hours_ago * 10, 90.0 + hours_ago, at(hours_ago)))
        await wait_for(
            client,
            EID,
            lambda e, h=hours_ago: e.get("vnAqiHourly", {}).get("observedAt") == at(h),
        )
    r = await client.get(
        f"/ngsi-ld/v1/temporal/entities/{EID}",
        params={"attrs": "vnAqiHourly", "timerel": "after", "timeAt": at(5)},
    )
    assert r.status_code == 200, r.text
    instances = r.json()["vnAqiHourly"]
    assert len(instances) == 3  # from the second hour on, when the NowCast is valid


async def test_qcvn_exceedance_listed(make_client: ClientFactory) -> None:
    client = await _client(make_client)
    await upsert(client, station(30.0, 40.0, at(1.5), so2=400.0))
    await upsert(client, station(30.0, 40.0, at(0.5), so2=420.0))
    entity = await wait_for(
        client, EID, lambda e: e.get("qcvnExceedances", {}).get("observedAt") == at(0.5)
    )
    found = entity["qcvnExceedances"]["json"]
    assert found == [
        {"pollutant": "so2", "period": "1h", "concentration": 420.0, "limit": 350.0, "ratio": 1.2}
    ]


async def test_impossible_history_is_not_averaged_in(make_client: ClientFactory) -> None:
    client = await _client(make_client)
    # A negative O3 written straight into history (no screening on that path).
    r = await client.post(
        "/ngsi-ld/v1/temporal/entities",
        json={"id": EID, "type": "AirQualityObserved", "o3": [prop(-40.0, at(-0.1))]},
    )
    assert r.status_code in (201, 204), r.text
    await upsert(client, station(60.0, 80.0, at(1.5)))
    await upsert(client, station(62.0, 85.0, at(-0.25)))
    expected = hourly_vn_aqi(pm25=[60.0, 62.0], pm10=[80.0, 85.0])
    assert expected is not None
    entity = await wait_for(client, EID, lambda e: "airQualityIndex" in e)
    assert entity["airQualityIndex"]["value"] == expected.aqi
    assert "o3_1h" not in entity["airQualityIndex"]["subIndices"]["json"]
