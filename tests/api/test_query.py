"""Querying entities (clause 5.7.2): q, type expressions, scopeQ, geoQ, paging and counts,
POST /entityOperations/query, and purging (DELETE /entities)."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from tests.support import API, ENTITIES, assert_problem, point

HANOI = (105.80, 21.00)


def _entity(n: int, types: Any = "Room", **attrs: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"id": f"urn:ngsi-ld:X:{n}", "type": types}
    out.update(attrs)
    return out


def _prop(value: Any, **members: Any) -> dict[str, Any]:
    return {"type": "Property", "value": value, **members}


def _polygon(minx: float, miny: float, maxx: float, maxy: float) -> dict[str, Any]:
    ring = [[minx, miny], [maxx, miny], [maxx, maxy], [minx, maxy], [minx, miny]]
    return {"type": "Polygon", "coordinates": [ring]}


DATASET = [
    _entity(
        1,
        temperature=_prop(
            10,
            observedAt="2024-01-01T00:00:00Z",
            accuracy=_prop(0.5),
        ),
        name=_prop("alpha"),
        status=_prop("open"),
        address=_prop({"city": "Hanoi", "street": "Kim Ma"}),
        isIn={"type": "Relationship", "object": "urn:ngsi-ld:Building:A"},
        seenAt=_prop("2024-03-01T10:00:00Z"),
        location=point(*HANOI),
        scope="/Hanoi/BaDinh",
    ),
    _entity(
        2,
        temperature=_prop(20, observedAt="2024-06-01T00:00:00Z", accuracy=_prop(1.0)),
        name=_prop("beta"),
        status=_prop("closed"),
        address=_prop({"city": "Hanoi", "street": "Trang Tien"}),
        isIn={"type": "Relationship", "object": "urn:ngsi-ld:Building:B"},
        seenAt=_prop("2024-01-15T10:00:00Z"),
        location=point(105.85, 21.03),
        scope="/Hanoi/HoanKiem",
    ),
    _entity(
        3,
        temperature=_prop(30),
        name=_prop('say "hi"; -- ok'),
        status=_prop("open"),
        address=_prop({"city": "Haiphong"}),
        location=point(106.68, 20.86),
        scope="/HaiPhong",
        windy=_prop(True),
    ),
    _entity(4, "Sensor", temperature=_prop(25), location=point(105.80, 21.001), scope="/Hanoi"),
    _entity(5, ["Room", "Sensor"], co2=_prop(400)),
    _entity(
        6,
        "Building",
        location={"type": "GeoProperty", "value": _polygon(105.83, 21.02, 105.86, 21.04)},
    ),
]


@pytest.fixture
async def data(client: httpx.AsyncClient) -> httpx.AsyncClient:
    resp = await client.post(f"{API}/entityOperations/create", json=DATASET)
    assert resp.status_code == 201, resp.text
    return client


def _ids(resp: httpx.Response) -> list[int]:
    assert resp.status_code == 200, resp.text
    return sorted(int(e["id"].rsplit(":", 1)[1]) for e in resp.json())


async def _query(client: httpx.AsyncClient, **params: Any) -> list[int]:
    return _ids(await client.get(ENTITIES, params=params))


# --- q ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("temperature==20", [2]),
        ("temperature!=20", [1, 3]),
        ("temperature>20", [3]),
        ("temperature>=20", [2, 3]),
        ("temperature<20", [1]),
        ("temperature<=20", [1, 2]),
        ("temperature==10..20", [1, 2]),
        ("temperature==15..35", [2, 3]),
        ("temperature==10,30", [1, 3]),
        ("temperature!=10,30", [2]),
        ('name=="beta"', [2]),
        ('name=="say \\"hi\\"; -- ok"', [3]),
        ('status=="open";temperature>15', [3]),
        ('status=="closed"|temperature>25', [2, 3]),
        ('(status=="open"|status=="closed");temperature<25', [1, 2]),
        ('status=="open";(temperature==10|temperature==30)', [1, 3]),
        ('name~="^al"', [1]),
        ('name~="(?i)BETA"', [2]),
        ('name!~="^al"', [2, 3]),
        ("temperature.accuracy>0.7", [2]),
        ("temperature.accuracy==0.5", [1]),
        ('address[city]=="Haiphong"', [3]),
        ('address[street]=="Kim Ma"', [1]),
        ("temperature.observedAt>=2024-03-01T00:00:00Z", [2]),
        ("temperature.observedAt<2024-03-01T00:00:00Z", [1]),
        ("seenAt>2024-02-01T00:00:00Z", [1]),
        ("seenAt==2024-01-01T00:00:00Z..2024-02-01T00:00:00Z", [2]),
        ('isIn=="urn:ngsi-ld:Building:A"', [1]),
        ("windy==true", [3]),
        ("windy", [3]),
        ("address", [1, 2, 3]),
    ],
)
async def test_q_selects_the_matching_rooms(
    data: httpx.AsyncClient, q: str, expected: list[int]
) -> None:
    assert await _query(data, type="Room", q=q) == expected


async def test_q_alone_is_a_valid_filter(data: httpx.AsyncClient) -> None:
    assert await _query(data, q="temperature>=25") == [3, 4]


async def test_q_on_an_attribute_nobody_has_matches_nothing(data: httpx.AsyncClient) -> None:
    assert await _query(data, type="Room", q="pressure>0") == []


async def test_q_with_a_numeric_string_does_not_match_a_number(data: httpx.AsyncClient) -> None:
    assert await _query(data, type="Room", q='temperature=="20"') == []


async def test_invalid_q_names_the_offending_part(data: httpx.AsyncClient) -> None:
    body = assert_problem(
        await data.get(ENTITIES, params={"type": "Room", "q": "temperature>>5"}), 400
    )
    assert "q" in body["detail"] and "temperature>>5" in body["detail"]


# --- type expressions -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("Room", [1, 2, 3, 5]),
        ("Sensor", [4, 5]),
        ("Room,Sensor", [1, 2, 3, 4, 5]),
        ("Room|Building", [1, 2, 3, 5, 6]),
        ("Room;Sensor", [5]),
        ("(Room;Sensor)|Building", [5, 6]),
        ("Nothing", []),
    ],
)
async def test_type_expressions(data: httpx.AsyncClient, expr: str, expected: list[int]) -> None:
    assert await _query(data, type=expr) == expected


@pytest.mark.parametrize("name", ["Ro'om", 'Ro"om', "Ro=om", "Ro<om", "Ro\x00om", "Ro\\om"])
async def test_type_names_with_forbidden_characters_are_400(
    data: httpx.AsyncClient, name: str
) -> None:
    """Clause 4.6.2 forbids these characters in type names, in a query as in a payload."""
    assert_problem(await data.get(ENTITIES, params={"type": name}), 400)
    assert_problem(await data.get(f"{API}/types/{quote(name, safe='')}"), 400)


async def test_type_by_full_iri(data: httpx.AsyncClient) -> None:
    iri = "https://uri.etsi.org/ngsi-ld/default-context/Sensor"
    assert await _query(data, type=iri) == [4, 5]


async def test_id_list_and_id_pattern(data: httpx.AsyncClient) -> None:
    ids = "urn:ngsi-ld:X:1,urn:ngsi-ld:X:4"
    assert await _query(data, type="Room,Sensor", id=ids) == [1, 4]
    assert await _query(data, idPattern="^urn:ngsi-ld:X:[23]$") == [2, 3]


# --- scopeQ ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scope", "expected"),
    [
        ("/Hanoi/BaDinh", [1]),
        ("/Hanoi/+", [1, 2]),
        ("/Hanoi/#", [1, 2, 4]),
        ("/Hanoi", [4]),
        ("/HaiPhong,/Hanoi/BaDinh", [1, 3]),
        ("/#", [1, 2, 3, 4]),
    ],
)
async def test_scope_queries(data: httpx.AsyncClient, scope: str, expected: list[int]) -> None:
    assert await _query(data, scopeQ=scope) == expected


# --- geoQ -----------------------------------------------------------------------------------


def _geo(georel: str, geometry: str, coordinates: Any, **extra: Any) -> dict[str, Any]:
    import json

    return {"georel": georel, "geometry": geometry, "coordinates": json.dumps(coordinates), **extra}


async def test_near_max_distance_in_metres(data: httpx.AsyncClient) -> None:
    # Room 1 is at the point; the sensor 4 is about 111 m north of it.
    assert await _query(data, **_geo("near;maxDistance==50", "Point", list(HANOI))) == [1]
    assert await _query(data, **_geo("near;maxDistance==200", "Point", list(HANOI))) == [1, 4]


async def test_near_min_distance_in_metres(data: httpx.AsyncClient) -> None:
    got = await _query(data, type="Room", **_geo("near;minDistance==10000", "Point", list(HANOI)))
    assert got == [3]


async def test_within_a_polygon(data: httpx.AsyncClient) -> None:
    hanoi = _polygon(105.7, 20.9, 105.9, 21.1)["coordinates"]
    assert await _query(data, **_geo("within", "Polygon", hanoi)) == [1, 2, 4, 6]


async def test_contains_a_point(data: httpx.AsyncClient) -> None:
    assert await _query(data, **_geo("contains", "Point", [105.84, 21.03])) == [6]


async def test_intersects_a_line(data: httpx.AsyncClient) -> None:
    line = [[105.84, 21.0], [105.84, 21.1]]
    assert await _query(data, **_geo("intersects", "LineString", line)) == [6]


async def test_equals_a_point(data: httpx.AsyncClient) -> None:
    assert await _query(data, **_geo("equals", "Point", [105.85, 21.03])) == [2]


async def test_disjoint_from_a_polygon(data: httpx.AsyncClient) -> None:
    hanoi = _polygon(105.7, 20.9, 105.9, 21.1)["coordinates"]
    assert await _query(data, **_geo("disjoint", "Polygon", hanoi)) == [3]


async def test_overlaps_a_polygon(data: httpx.AsyncClient) -> None:
    half = _polygon(105.85, 21.0, 105.9, 21.1)["coordinates"]
    assert await _query(data, **_geo("overlaps", "Polygon", half)) == [6]


async def test_geo_query_on_another_geoproperty(client: httpx.AsyncClient) -> None:
    entity = _entity(7, observationSpace=point(1.0, 1.0), location=point(50.0, 50.0))
    await client.post(ENTITIES, json=entity)
    params = _geo("near;maxDistance==10", "Point", [1.0, 1.0], geoproperty="observationSpace")
    assert await _query(client, **params) == [7]
    assert await _query(client, **_geo("near;maxDistance==10", "Point", [1.0, 1.0])) == []


async def test_geo_query_with_a_missing_part_is_400(data: httpx.AsyncClient) -> None:
    body = assert_problem(
        await data.get(ENTITIES, params={"georel": "near;maxDistance==5", "geometry": "Point"}),
        400,
    )
    assert "coordinates" in body["detail"]


# --- paging and counting --------------------------------------------------------------------


def _links(resp: httpx.Response) -> dict[str, str]:
    out = {}
    for m in re.finditer(r'<([^>]*)>;\s*rel="(next|prev)"', resp.headers.get("link", "")):
        out[m.group(2)] = m.group(1)
    return out


async def test_limit_offset_pages_through_everything_once(data: httpx.AsyncClient) -> None:
    seen: list[int] = []
    offset = 0
    while True:
        resp = await data.get(
            ENTITIES, params={"type": "Room,Sensor,Building", "limit": 2, "offset": offset}
        )
        page = _ids(resp)
        seen.extend(page)
        if "next" not in _links(resp):
            break
        offset += 2
    assert sorted(seen) == [1, 2, 3, 4, 5, 6]
    assert len(seen) == len(set(seen))


async def test_next_and_prev_links(data: httpx.AsyncClient) -> None:
    resp = await data.get(ENTITIES, params={"type": "Room", "limit": 1, "offset": 1})
    links = _links(resp)
    assert set(links) == {"next", "prev"}
    assert "offset=2" in links["next"] and "limit=1" in links["next"]
    assert "offset=0" in links["prev"]
    follow = await data.get(links["next"])
    assert len(_ids(follow)) == 1


async def test_last_page_has_no_next_link(data: httpx.AsyncClient) -> None:
    resp = await data.get(ENTITIES, params={"type": "Room", "limit": 10})
    assert "next" not in _links(resp)
    assert "prev" not in _links(resp)


async def test_count_sets_the_results_count_header(data: httpx.AsyncClient) -> None:
    resp = await data.get(ENTITIES, params={"type": "Room", "count": "true", "limit": 1})
    assert resp.headers["ngsild-results-count"] == "4"
    assert len(resp.json()) == 1


async def test_count_with_limit_zero_returns_only_the_count(data: httpx.AsyncClient) -> None:
    resp = await data.get(ENTITIES, params={"type": "Sensor", "count": "true", "limit": 0})
    assert resp.status_code == 200
    assert resp.json() == []
    assert resp.headers["ngsild-results-count"] == "2"


async def test_limit_over_the_maximum_is_too_many_results(make_client) -> None:
    client = await make_client(max_page_size=5, default_page_size=5)
    resp = await client.get(ENTITIES, params={"type": "Room", "limit": 6})
    assert_problem(resp, 403, "TooManyResults")


async def test_negative_offset_is_400(data: httpx.AsyncClient) -> None:
    assert_problem(await data.get(ENTITIES, params={"type": "Room", "offset": -1}), 400)


async def test_query_without_any_filter_is_400(data: httpx.AsyncClient) -> None:
    assert_problem(await data.get(ENTITIES), 400, "BadRequestData")


# --- attrs / projection in queries ------------------------------------------------------------


async def test_attrs_selects_entities_and_attributes(data: httpx.AsyncClient) -> None:
    resp = await data.get(ENTITIES, params={"attrs": "co2,windy"})
    assert _ids(resp) == [3, 5]
    for entity in resp.json():
        assert set(entity) - {"id", "type", "scope"} <= {"co2", "windy"}


async def test_query_in_key_values(data: httpx.AsyncClient) -> None:
    resp = await data.get(
        ENTITIES, params={"type": "Room", "q": "temperature==20", "options": "keyValues"}
    )
    [entity] = resp.json()
    assert entity["temperature"] == 20
    assert entity["name"] == "beta"
    assert entity["address"] == {"city": "Hanoi", "street": "Trang Tien"}


# --- POST /entityOperations/query -----------------------------------------------------------


async def test_post_query_with_entities_q_and_geo(data: httpx.AsyncClient) -> None:
    query = {
        "type": "Query",
        "entities": [{"type": "Room"}],
        "q": "temperature>=20",
        "geoQ": {
            "georel": "near;maxDistance==20000",
            "geometry": "Point",
            "coordinates": list(HANOI),
        },
    }
    resp = await data.post(f"{API}/entityOperations/query", json=query)
    assert _ids(resp) == [2]


async def test_post_query_with_id_pattern_selector(data: httpx.AsyncClient) -> None:
    query = {"type": "Query", "entities": [{"idPattern": ".*:[45]$", "type": "Sensor"}]}
    assert _ids(await data.post(f"{API}/entityOperations/query", json=query)) == [4, 5]


async def test_post_query_members_shape_the_answer_as_the_parameters_do(
    data: httpx.AsyncClient,
) -> None:
    """pick, omit and datasetId in the body were once ignored, and csf answered 200."""
    query_url = f"{API}/entityOperations/query"
    base: dict[str, Any] = {"type": "Query", "entities": [{"type": "Room"}]}
    for members, params in (
        ({"pick": ["id", "name"]}, {"pick": "id,name"}),
        ({"omit": "temperature,address"}, {"omit": "temperature,address"}),
        ({"datasetId": ["urn:d"]}, {"datasetId": "urn:d"}),
    ):
        posted = await data.post(query_url, json={**base, **members})
        got = await data.get(ENTITIES, params={"type": "Room", **params})
        assert posted.status_code == got.status_code == 200, (posted.text, got.text)
        assert posted.json() == got.json(), members
    assert {
        k for e in (await data.post(query_url, json={**base, "pick": ["id"]})).json() for k in e
    } == {"id"}
    resp = await data.post(query_url, json={**base, "csf": "x==1"})
    assert_problem(resp, 501, "OperationNotSupported")
    resp = await data.post(query_url, json={**base, "pick": [1]})
    assert_problem(resp, 400, "BadRequestData")


async def test_post_query_must_be_a_query(data: httpx.AsyncClient) -> None:
    resp = await data.post(f"{API}/entityOperations/query", json={"type": "Room"})
    assert_problem(resp, 400, "BadRequestData")


# --- purge (DELETE /entities) -------------------------------------------------------------


async def test_purge_by_type_deletes_only_that_type(data: httpx.AsyncClient) -> None:
    assert (await data.delete(ENTITIES, params={"type": "Sensor"})).status_code == 204
    assert await _query(data, type="Room,Sensor,Building") == [1, 2, 3, 6]


async def test_purge_without_a_filter_is_400(data: httpx.AsyncClient) -> None:
    assert_problem(await data.delete(ENTITIES), 400, "BadRequestData")
    assert await _query(data, type="Room") == [1, 2, 3, 5]


# --- the indexes follow changes ---------------------------------------------------------------


async def test_geo_query_follows_a_location_update(data: httpx.AsyncClient) -> None:
    resp = await data.patch(f"{ENTITIES}/urn:ngsi-ld:X:3/attrs", json={"location": point(*HANOI)})
    assert resp.status_code == 204
    near_hanoi = await _query(
        data, type="Room", **_geo("near;maxDistance==10", "Point", list(HANOI))
    )
    assert near_hanoi == [1, 3]
    haiphong = [106.68, 20.86]
    assert await _query(data, type="Room", **_geo("near;maxDistance==10", "Point", haiphong)) == []


async def test_type_query_follows_a_merge_that_adds_a_type(data: httpx.AsyncClient) -> None:
    resp = await data.patch(f"{ENTITIES}/urn:ngsi-ld:X:1", json={"type": "Museum"})
    assert resp.status_code == 204
    assert (await data.get(f"{ENTITIES}/urn:ngsi-ld:X:1")).json()["type"] == ["Room", "Museum"]
    assert await _query(data, type="Museum") == [1]


async def test_scope_query_follows_a_scope_update(data: httpx.AsyncClient) -> None:
    resp = await data.patch(f"{ENTITIES}/urn:ngsi-ld:X:1", json={"scope": "/HaiPhong"})
    assert resp.status_code == 204
    assert await _query(data, scopeQ="/HaiPhong") == [1, 3]
    assert await _query(data, scopeQ="/Hanoi/BaDinh") == []
