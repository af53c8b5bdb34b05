"""Query parameters that shape an entity (clause 4.5, 5.7.1): options and format, sysAttrs,
attrs, pick and omit, and lang on LanguageProperties."""

from __future__ import annotations

import httpx
import pytest

from tests.support import ENTITIES, assert_problem

RID = "urn:ngsi-ld:Room:1"

ENTITY = {
    "id": RID,
    "type": "Room",
    "temperature": {"type": "Property", "value": 21, "unitCode": "CEL"},
    "humidity": {"type": "Property", "value": 40},
    "isIn": {"type": "Relationship", "object": "urn:ngsi-ld:Building:A"},
    "name": {"type": "LanguageProperty", "languageMap": {"en": "Hall", "vi": "Sảnh", "@none": "H"}},
    "location": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [1.0, 2.0]}},
    "category": {"type": "VocabProperty", "vocab": "office"},
    "config": {"type": "JsonProperty", "json": {"a": [1, 2]}},
    "readings": {"type": "ListProperty", "valueList": [1, 2, 3]},
}


@pytest.fixture
async def stored(client: httpx.AsyncClient) -> httpx.AsyncClient:
    resp = await client.post(ENTITIES, json=ENTITY)
    assert resp.status_code == 201, resp.text
    return client


async def _get(client: httpx.AsyncClient, **params: str) -> dict:
    resp = await client.get(f"{ENTITIES}/{RID}", params=params)
    assert resp.status_code == 200, resp.text
    return resp.json()


async def test_normalized_is_the_default_and_round_trips(stored: httpx.AsyncClient) -> None:
    assert await _get(stored) == ENTITY
    assert await _get(stored, options="normalized") == ENTITY
    assert await _get(stored, format="normalized") == ENTITY


@pytest.mark.parametrize(
    "params", [{"options": "keyValues"}, {"format": "keyValues"}, {"options": "simplified"}]
)
async def test_key_values(stored: httpx.AsyncClient, params: dict[str, str]) -> None:
    got = await _get(stored, **params)
    assert got["temperature"] == 21
    assert got["humidity"] == 40
    assert got["isIn"] == "urn:ngsi-ld:Building:A"
    assert got["location"] == {"type": "Point", "coordinates": [1.0, 2.0]}
    assert got["name"] == {"languageMap": {"en": "Hall", "vi": "Sảnh", "@none": "H"}}
    assert got["config"] == {"json": {"a": [1, 2]}}
    assert got["readings"] == {"valueList": [1, 2, 3]}


async def test_concise(stored: httpx.AsyncClient) -> None:
    got = await _get(stored, options="concise")
    assert got["humidity"] == 40
    assert got["temperature"] == {"value": 21, "unitCode": "CEL"}
    assert got["isIn"] == {"object": "urn:ngsi-ld:Building:A"}
    assert got["name"] == {"languageMap": {"en": "Hall", "vi": "Sảnh", "@none": "H"}}
    assert got["location"] == {"type": "Point", "coordinates": [1.0, 2.0]}
    assert got["category"] == {"vocab": "office"}


async def test_concise_payload_round_trips(client: httpx.AsyncClient) -> None:
    """What concise gives back can be sent again and means the same entity."""
    await client.post(ENTITIES, json=ENTITY)
    concise = await _get(client, options="concise")
    await client.delete(f"{ENTITIES}/{RID}")
    assert (await client.post(ENTITIES, json=concise)).status_code == 201
    assert await _get(client) == ENTITY


async def test_two_representations_at_once_are_400(stored: httpx.AsyncClient) -> None:
    resp = await stored.get(f"{ENTITIES}/{RID}", params={"options": "keyValues,concise"})
    assert_problem(resp, 400)


@pytest.mark.parametrize("params", [{"options": "bogus"}, {"format": "csv"}])
async def test_unknown_option_or_format_is_400(stored: httpx.AsyncClient, params: dict) -> None:
    body = assert_problem(await stored.get(f"{ENTITIES}/{RID}", params=params), 400)
    assert next(iter(params.values())) in body["detail"]


async def test_sys_attrs_in_normalized(stored: httpx.AsyncClient) -> None:
    got = await _get(stored, options="sysAttrs")
    assert {"createdAt", "modifiedAt"} <= set(got)
    assert {"createdAt", "modifiedAt"} <= set(got["temperature"])


async def test_sys_attrs_keep_key_values_simplified(stored: httpx.AsyncClient) -> None:
    got = await _get(stored, options="keyValues,sysAttrs")
    assert got["temperature"] == 21
    assert got["isIn"] == "urn:ngsi-ld:Building:A"


async def test_attrs_projects_attributes(stored: httpx.AsyncClient) -> None:
    got = await _get(stored, attrs="temperature,isIn")
    assert set(got) == {"id", "type", "temperature", "isIn"}


async def test_pick_keeps_only_the_named_members(stored: httpx.AsyncClient) -> None:
    got = await _get(stored, pick="id,humidity")
    assert got == {"id": RID, "humidity": {"type": "Property", "value": 40}}


async def test_omit_drops_the_named_members(stored: httpx.AsyncClient) -> None:
    got = await _get(stored, omit="type,temperature,name")
    assert "type" not in got and "temperature" not in got and "name" not in got
    assert got["humidity"]["value"] == 40


async def test_pick_and_omit_together_are_400(stored: httpx.AsyncClient) -> None:
    resp = await stored.get(f"{ENTITIES}/{RID}", params={"pick": "id", "omit": "type"})
    assert_problem(resp, 400, "BadRequestData")


@pytest.mark.parametrize(
    ("lang", "value", "tag"),
    [
        ("vi", "Sảnh", "vi"),
        ("en", "Hall", "en"),
        ("fr", "H", "@none"),
        ("fr,vi;q=0.5", "Sảnh", "vi"),
    ],
)
async def test_lang_renders_a_language_property_as_a_property(
    stored: httpx.AsyncClient, lang: str, value: str, tag: str
) -> None:
    got = await _get(stored, lang=lang)
    assert got["name"] == {"type": "Property", "value": value, "lang": tag}
    assert got["temperature"]["value"] == 21


async def test_lang_in_key_values_gives_the_text(stored: httpx.AsyncClient) -> None:
    got = await _get(stored, lang="vi", options="keyValues")
    assert got["name"] == "Sảnh"


async def test_lang_region_falls_back_to_the_language(stored: httpx.AsyncClient) -> None:
    got = await _get(stored, lang="en-GB")
    assert got["name"]["value"] == "Hall"
