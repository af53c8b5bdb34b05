"""Hostile input: every bad request gets a clean problem+json, never a stack trace, and never
changes what is stored (STYLE.md, "Errors and bad input")."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx
import orjson
import pytest
import pytest_asyncio

from tests import pgtest
from tests.conftest import TEST_BACKEND
from tests.support import (
    API,
    ENTITIES,
    PROBLEM_JSON,
    ContextServer,
    assert_problem,
    free_port,
    link,
    point,
    room,
)
from thudo.api.app import ThudoApp
from thudo.config import load_settings

RID = "urn:ngsi-ld:Room:1"
TENANT = "t1"
OPS = f"{API}/entityOperations"

#: Limits small enough to be crossed by a test, large enough for the seeded data.
LIMITS = {
    "max_body_bytes": 4096,
    "max_json_depth": 8,
    "context_fetch_timeout": 0.3,
    "context_max_bytes": 2048,
    "max_query_length": 512,
    "max_attributes": 20,
}

#: SQL and quoting meta-characters; each holds a quote, a space or a NUL byte.
SQL_META = [
    "x' OR '1'='1",
    'x"; DROP TABLE entities; --',
    "x/* */ UNION SELECT doc FROM entities --",
    "x'); DELETE FROM attrs; --",
    "x\x00y",
]


@dataclass(frozen=True)
class Case:
    """One hostile request and the problem it must produce."""

    id: str
    method: str
    path: str
    params: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None  # JSON value, or bytes sent as they are
    status: int = 400
    type_name: str | None = None
    mentions: str | None = None  # a part of the request the detail must name

    def request(self, client: httpx.AsyncClient) -> Any:
        headers = dict(self.headers)
        content: bytes | None = None
        if isinstance(self.body, bytes):
            content = self.body
            headers.setdefault("Content-Type", "application/json")
        elif self.body is not None:
            content = orjson.dumps(self.body)
            headers.setdefault("Content-Type", "application/json")
        return client.request(
            self.method, self.path, params=self.params, headers=headers, content=content
        )


def _nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = {"a": value}
    return value


def _body_cases() -> list[Case]:
    post = ENTITIES
    cases = [
        Case(
            "malformed-json",
            "POST",
            post,
            body=b'{"id": "urn:a:b", "type": ',
            type_name="InvalidRequest",
        ),
        Case("empty-body", "POST", post, body=b"", type_name="InvalidRequest"),
        Case("blank-body", "POST", post, body=b"  \n ", type_name="InvalidRequest"),
        Case("invalid-utf8", "POST", post, body=b'{"id": "\xff\xfe"}', type_name="InvalidRequest"),
        Case("json-scalar", "POST", post, body=42, type_name="InvalidRequest"),
        Case("json-null", "POST", post, body=b"null", type_name="InvalidRequest"),
        Case(
            "text-plain",
            "POST",
            post,
            headers={"Content-Type": "text/plain"},
            body=room("urn:x:new"),
            status=415,
            type_name="UnsupportedMediaType",
        ),
        Case(
            "form-encoded",
            "POST",
            post,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            body=b"id=urn:x:new&type=Room",
            status=415,
        ),
        Case(
            "too-large",
            "POST",
            post,
            body=room("urn:x:new", blob="x" * 5000),
            status=413,
            type_name="PayloadTooLarge",
        ),
        Case(
            "too-deep",
            "POST",
            post,
            body=room("urn:x:new", deep=_nested(20)),
            type_name="BadRequestData",
            mentions="nested",
        ),
        Case(
            "too-many-attributes",
            "POST",
            post,
            body=room("urn:x:new", **{f"a{i}": i for i in range(25)}),
            type_name="BadRequestData",
        ),
        Case(
            "type-number",
            "POST",
            post,
            body={"id": "urn:x:new", "type": 5},
            type_name="BadRequestData",
        ),
        Case(
            "type-empty-list",
            "POST",
            post,
            body={"id": "urn:x:new", "type": []},
            type_name="BadRequestData",
        ),
        Case(
            "type-with-space",
            "POST",
            post,
            body={"id": "urn:x:new", "type": "Ro om"},
            type_name="BadRequestData",
        ),
        Case(
            "merge-too-large",
            "PATCH",
            f"{ENTITIES}/{RID}",
            body={"blob": "x" * 5000},
            status=413,
        ),
        Case(
            "batch-not-an-array",
            "POST",
            f"{OPS}/upsert",
            body={"id": RID, "type": "Room"},
            type_name="InvalidRequest",
        ),
        Case("batch-malformed", "POST", f"{OPS}/create", body=b"[{", type_name="InvalidRequest"),
        Case("query-malformed", "POST", f"{OPS}/query", body=b"{]", type_name="InvalidRequest"),
        Case(
            "append-malformed",
            "POST",
            f"{ENTITIES}/{RID}/attrs",
            body=b"{,}",
            type_name="InvalidRequest",
        ),
        Case(
            "context-malformed",
            "POST",
            f"{API}/jsonldContexts",
            body=b'{"@context": ',
            type_name="InvalidRequest",
        ),
    ]
    bad_ids: list[Any] = [
        "room1",
        "",
        " urn:a:b",
        "urn:a b",
        "urn:a:<b>",
        'urn:a:"b"',
        42,
        None,
        ["urn:a:b"],
        "urn:a:\x00",
    ]
    for i, bad in enumerate(bad_ids):
        cases.append(
            Case(
                f"id-not-uri-{i}",
                "POST",
                post,
                body={"id": bad, "type": "Room"},
                type_name="BadRequestData",
            )
        )
    bad_names = ["temp<", "te mp", 'a"b', "a=b", "a;b", "a(b)", "a'b", "a\\b", "a\x00b", "", "@id"]
    for i, name in enumerate(bad_names):
        cases.append(
            Case(
                f"forbidden-attribute-name-{i}",
                "POST",
                post,
                body={"id": "urn:x:new", "type": "Room", name: {"type": "Property", "value": 1}},
                type_name="BadRequestData",
            )
        )
    reserved = [
        "value",
        "object",
        "unitCode",
        "observedAt",
        "datasetId",
        "languageMap",
        "instanceId",
    ]
    for name in reserved:
        cases.append(
            Case(
                f"reserved-name-{name}",
                "POST",
                post,
                body={"id": "urn:x:new", "type": "Room", name: {"type": "Property", "value": 1}},
                type_name="BadRequestData",
                mentions=name,
            )
        )
        cases.append(
            Case(
                f"reserved-name-append-{name}",
                "POST",
                f"{ENTITIES}/{RID}/attrs",
                body={name: {"type": "Property", "value": 1}},
                type_name="BadRequestData",
                mentions=name,
            )
        )
    return cases


def _query_cases() -> list[Case]:
    cases: list[Case] = []
    bad_q = {
        "double-op": "temperature>>5",
        "open-paren": "(temperature==1",
        "no-value": "temperature==",
        "no-name": "==5",
        "unterminated": 'name=="abc',
        "trailing-and": "temperature==1;",
        "space-in-value": "name==a b",
        "range-with-gt": "temperature>1..5",
        "list-with-lt": "temperature<1,2",
        "bad-regex": 'name!~="("',
        "bad-key": "address[]==1",
    }
    for key, q in bad_q.items():
        cases.append(
            Case(f"q-{key}", "GET", ENTITIES, params={"type": "Room", "q": q}, mentions="q")
        )
    cases.append(
        Case(
            "q-too-long",
            "GET",
            ENTITIES,
            params={"type": "Room", "q": "temperature==1;" * 40 + "temperature==1"},
            mentions="q",
        )
    )
    point_coords = json.dumps([105.8, 21.0])
    bad_geo = {
        "unknown-georel": (
            {"georel": "nearby", "geometry": "Point", "coordinates": point_coords},
            "nearby",
        ),
        "near-without-distance": (
            {"georel": "near", "geometry": "Point", "coordinates": point_coords},
            "near",
        ),
        "bad-distance": (
            {"georel": "near;maxDistance==-1", "geometry": "Point", "coordinates": point_coords},
            "maxDistance",
        ),
        "unknown-geometry": (
            {"georel": "within", "geometry": "Circle", "coordinates": point_coords},
            "Circle",
        ),
        "coordinates-not-json": (
            {"georel": "intersects", "geometry": "Point", "coordinates": "[1,"},
            "coordinates",
        ),
        "out-of-range": (
            {"georel": "intersects", "geometry": "Point", "coordinates": "[200, 100]"},
            "coordinates",
        ),
        "near-polygon": (
            {
                "georel": "near;maxDistance==10",
                "geometry": "Polygon",
                "coordinates": "[[[0,0],[1,0],[1,1],[0,0]]]",
            },
            "near",
        ),
        "open-ring": (
            {
                "georel": "within",
                "geometry": "Polygon",
                "coordinates": "[[[0,0],[1,0],[1,1],[0,1]]]",
            },
            "ring",
        ),
        "missing-geometry": ({"georel": "within", "coordinates": point_coords}, "geometry"),
        "sql-in-georel": (
            {"georel": "within' OR 1=1 --", "geometry": "Point", "coordinates": point_coords},
            "georel",
        ),
    }
    for key, (params, mention) in bad_geo.items():
        cases.append(Case(f"geo-{key}", "GET", ENTITIES, params=params, mentions=mention))
    return cases


def _meta_cases() -> list[Case]:
    cases: list[Case] = []
    for i, meta in enumerate(SQL_META):
        enc = quote(meta, safe="")
        cases += [
            Case(f"meta-id-{i}", "GET", ENTITIES, params={"id": "urn:" + meta, "type": "Room"}),
            Case(f"meta-type-{i}", "GET", ENTITIES, params={"type": "Room" + meta}),
            Case(f"meta-attrs-{i}", "GET", ENTITIES, params={"attrs": meta}),
            Case(
                f"meta-q-value-{i}", "GET", ENTITIES, params={"type": "Room", "q": "name==" + meta}
            ),
            Case(f"meta-q-name-{i}", "GET", ENTITIES, params={"type": "Room", "q": meta + "==1"}),
            Case(f"meta-scope-{i}", "GET", ENTITIES, params={"scopeQ": "/" + meta}),
            Case(f"meta-pick-{i}", "GET", f"{ENTITIES}/{RID}", params={"pick": meta}),
            Case(f"meta-options-{i}", "GET", f"{ENTITIES}/{RID}", params={"options": meta}),
            Case(
                f"meta-dataset-{i}",
                "DELETE",
                f"{ENTITIES}/{RID}/attrs/temperature",
                params={"datasetId": meta},
            ),
            Case(
                f"meta-tenant-{i}",
                "GET",
                ENTITIES,
                params={"type": "Room"},
                headers={"NGSILD-Tenant": meta},
                mentions="NGSILD-Tenant",
            ),
            Case(f"meta-path-entity-{i}", "GET", f"{ENTITIES}/urn:{enc}"),
            Case(f"meta-path-delete-{i}", "DELETE", f"{ENTITIES}/urn:{enc}"),
            Case(f"meta-path-attr-{i}", "DELETE", f"{ENTITIES}/{RID}/attrs/{enc}"),
            Case(f"meta-path-type-{i}", "GET", f"{API}/types/{enc}"),
            Case(f"meta-path-attribute-{i}", "GET", f"{API}/attributes/{enc}"),
            Case(f"meta-path-context-{i}", "GET", f"{API}/jsonldContexts/{enc}", status=404),
            Case(
                f"meta-path-context-delete-{i}", "DELETE", f"{API}/jsonldContexts/{enc}", status=404
            ),
            Case(
                f"meta-create-id-{i}",
                "POST",
                ENTITIES,
                body={"id": "urn:" + meta, "type": "Room"},
                type_name="BadRequestData",
            ),
            Case(
                f"meta-create-attr-{i}",
                "POST",
                ENTITIES,
                body={"id": "urn:x:new", "type": "Room", meta: 1},
                type_name="BadRequestData",
            ),
            Case(
                f"meta-batch-delete-{i}",
                "POST",
                f"{OPS}/delete",
                body=[RID + meta],
                status=207,
            ),
        ]
    return cases


def _misc_cases() -> list[Case]:
    return [
        Case(
            "id-pattern-invalid", "GET", ENTITIES, params={"idPattern": "("}, mentions="idPattern"
        ),
        Case(
            "id-pattern-catastrophic",
            "GET",
            ENTITIES,
            params={"idPattern": "^urn:(a|aa)*$"},
            status=403,
            type_name="TooComplexQuery",
        ),
        Case(
            "id-pattern-counted-repeat-too-large",
            "GET",
            ENTITIES,
            params={"idPattern": "a{99999999}"},
            status=403,
            type_name="TooComplexQuery",
            mentions="a{99999999}",
        ),
        Case(
            "id-pattern-nested-counted-repeats",
            "GET",
            ENTITIES,
            params={"idPattern": "((a{1000}){1000}){1000}"},
            status=403,
            type_name="TooComplexQuery",
        ),
        Case(
            "q-pattern-counted-repeat-too-large",
            "GET",
            ENTITIES,
            params={"type": "Room", "q": 'name~="x{99999999}"'},
            status=403,
            type_name="TooComplexQuery",
        ),
        Case(
            "limit-not-a-number",
            "GET",
            ENTITIES,
            params={"type": "Room", "limit": "1; DROP"},
            mentions="limit",
        ),
        Case(
            "offset-beyond-64-bits",
            "GET",
            ENTITIES,
            params={"type": "Room", "offset": "99999999999999999999"},
            mentions="offset",
        ),
        Case(
            "limit-negative",
            "GET",
            ENTITIES,
            params={"type": "Room", "limit": "-1"},
            mentions="limit",
        ),
        Case(
            "observed-at-out-of-range",
            "POST",
            ENTITIES,
            body=room(
                "urn:x:new",
                t={"type": "Property", "value": 1, "observedAt": "0001-01-01T00:00:00+01:00"},
            ),
            type_name="BadRequestData",
            mentions="observedAt",
        ),
        Case(
            "q-datetime-out-of-range",
            "GET",
            ENTITIES,
            params={"type": "Room", "q": "temperature.observedAt>0001-01-01T00:00:00+01:00"},
            mentions="q",
        ),
        Case("count-not-a-boolean", "GET", ENTITIES, params={"type": "Room", "count": "yes'"}),
        Case("accept-garbage", "GET", f"{ENTITIES}/{RID}", headers={"Accept": "';--"}, status=406),
        Case(
            "tenant-too-long",
            "GET",
            ENTITIES,
            params={"type": "Room"},
            headers={"NGSILD-Tenant": "t" * 65},
        ),
        Case(
            "tenant-path",
            "GET",
            ENTITIES,
            params={"type": "Room"},
            headers={"NGSILD-Tenant": "../etc"},
        ),
        Case(
            "link-empty-url",
            "GET",
            f"{ENTITIES}/{RID}",
            headers={"Link": '<>; rel="http://www.w3.org/ns/json-ld#context"'},
        ),
        Case(
            "link-file-scheme",
            "GET",
            f"{ENTITIES}/{RID}",
            headers={"Link": link("file:///etc/passwd")},
            status=503,
            type_name="LdContextNotAvailable",
        ),
        Case(
            "inline-context-number",
            "POST",
            ENTITIES,
            headers={"Content-Type": "application/ld+json"},
            body={"id": "urn:x:new", "type": "Room", "@context": [5]},
            type_name="BadRequestData",
        ),
        Case(
            "inline-context-cycle",
            "POST",
            ENTITIES,
            headers={"Content-Type": "application/ld+json"},
            body={"id": "urn:x:new", "type": "Room", "@context": {"a": "b:x", "b": "a:y"}},
            type_name="BadRequestData",
        ),
    ]


def _probe_cases() -> list[Case]:
    """Requests that once got a 500: found by probing a running broker with ~11,000
    hostile requests (temporal queries, subscriptions, registrations, ingestion)."""
    temporal = f"{API}/temporal/entities"
    temporal_post = f"{API}/temporal/entityOperations/query"
    aggregated = {"type": "Room", "options": "aggregatedValues", "aggrMethods": "sum"}
    query = {"type": "Query", "entities": [{"type": "Room"}]}
    cases = [
        Case("lastN-superscript", "GET", temporal, params={"type": "Room", "lastN": "\u00b2"}),
        Case("lastN-huge", "GET", temporal, params={"type": "Room", "lastN": "1" * 400}),
        Case(
            "aggr-period-past-the-calendar",
            "GET",
            temporal,
            params={**aggregated, "aggrPeriodDuration": "P8000Y"},
            mentions="aggrPeriodDuration",
        ),
        Case(
            "aggr-period-hundreds-of-digits",
            "GET",
            temporal,
            params={**aggregated, "aggrPeriodDuration": "P" + "9" * 300 + "Y"},
        ),
        Case(
            "geo-coordinates-nested-deep",
            "GET",
            ENTITIES,
            params={
                "type": "Room",
                "georel": "intersects",
                "geometry": "Point",
                "coordinates": "[" * 40 + "0" + "]" * 40,
            },
        ),
        Case("iot-device-not-an-object", "POST", "/iot/devices", body={"devices": [7]}),
    ]
    bad_members: list[tuple[str, dict[str, Any]]] = [
        ("attrs-numbers", {"attrs": [1, 2]}),
        ("entities-number", {"entities": 7}),
        ("entities-selector-list-type", {"entities": [{"type": ["Room"]}]}),
        ("q-number", {"q": 5}),
        ("q-list", {"q": ["temperature>1"]}),
        ("scopeQ-number", {"scopeQ": 7}),
        ("timeproperty-list", {"temporalQ": {"timeproperty": ["observedAt"]}}),
        ("limit-list", {"temporalQ": {"limit": [7]}}),
        ("options-list", {"temporalQ": {"options": ["temporalValues"]}}),
        ("pick-list", {"temporalQ": {"pick": ["temperature"]}}),
        ("lang-object", {"temporalQ": {"lang": {"a": 1}}}),
        ("idPattern-list", {"temporalQ": {"idPattern": ["x"]}}),
        ("format-list", {"temporalQ": {"format": ["x"]}}),
    ]
    for name, members in bad_members:
        cases.append(
            Case(f"temporal-query-{name}", "POST", temporal_post, body={**query, **members})
        )
    endpoint = {"uri": "http://127.0.0.1:9/n"}
    subscription = {"type": "Subscription", "entities": [{"type": "Room"}]}
    bad_notifications: list[tuple[str, dict[str, Any]]] = [
        ("format-list", {"endpoint": endpoint, "format": []}),
        ("accept-list", {"endpoint": {**endpoint, "accept": ["application/json"]}}),
        ("port-too-large", {"endpoint": {"uri": "http://127.0.0.1:65536/n"}}),
        ("port-negative", {"endpoint": {"uri": "http://h:-1/n"}}),
        ("mqtt-port-too-large", {"endpoint": {"uri": "mqtt://h:99999/t"}}),
        ("no-host", {"endpoint": {"uri": "http:///n"}}),
        ("host-escape", {"endpoint": {"uri": "http://%zz/n"}}),
    ]
    for name, notification in bad_notifications:
        body = {**subscription, "notification": notification}
        cases.append(Case(f"subscription-{name}", "POST", f"{API}/subscriptions", body=body))
    for key, value in (("throttling", 2**70), ("timeInterval", 1e308)):
        raw = json.dumps({**subscription, "notification": {"endpoint": endpoint}, key: value})
        path = f"{API}/subscriptions"
        cases.append(Case(f"subscription-{key}-huge", "POST", path, body=raw.encode()))
    trigger = {**subscription, "notification": {"endpoint": endpoint}, "notificationTrigger": [[]]}
    cases.append(Case("subscription-trigger-list", "POST", f"{API}/subscriptions", body=trigger))
    registration = {
        "type": "ContextSourceRegistration",
        "information": [{"entities": [{"type": "Room"}]}],
        "endpoint": "http://127.0.0.1:9/cs",
    }
    for name, members in (
        ("mode-list", {"mode": []}),
        ("location-type-list", {"location": {"type": [], "coordinates": [0, 0]}}),
    ):
        body = {**registration, **members}
        cases.append(Case(f"registration-{name}", "POST", f"{API}/csourceRegistrations", body=body))
    return cases


CASES = _body_cases() + _query_cases() + _meta_cases() + _misc_cases() + _probe_cases()


async def _seed(client: httpx.AsyncClient) -> None:
    for headers in ({}, {"NGSILD-Tenant": TENANT}):
        batch = [
            room(RID, temperature=20, name="alpha", location=point(105.8, 21.0)),
            room(
                "urn:ngsi-ld:Room:2",
                temperature=[{"type": "Property", "value": 1, "datasetId": "urn:ds:1"}],
            ),
            {"id": "urn:" + "a" * 30 + "!", "type": "Sensor"},
        ]
        resp = await client.post(f"{OPS}/create", json=batch, headers=headers)
        assert resp.status_code == 201, resp.text


@pytest.fixture
async def seeded(make_client) -> httpx.AsyncClient:
    """A broker with small limits holding the same data in two tenants."""
    client = await make_client(**LIMITS)
    await _seed(client)
    return client


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def shared(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[httpx.AsyncClient]:
    """One seeded broker for every case of the parametrized test: each case checks that
    nothing changed, so sharing it loses nothing and saves a start-up per case."""
    pg_name = None
    if TEST_BACKEND == "postgres":  # the hostile input goes to PostgreSQL too
        if not pgtest.reachable():
            pytest.skip(pgtest.SKIP_REASON)
        pg_name, url = pgtest.create_database()
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('hostile') / 't.db'}"
    app = ThudoApp(load_settings(environ={}, database_url=url, **LIMITS))
    await app.startup()
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://broker.test") as c:
            await _seed(c)
            yield c
    finally:
        await app.shutdown()
        if pg_name is not None:
            pgtest.drop_database(pg_name)


async def snapshot(client: httpx.AsyncClient) -> dict[str, Any]:
    """Everything the broker holds, as seen through the API."""
    state: dict[str, Any] = {}
    for tenant in ("", TENANT):
        headers = {"NGSILD-Tenant": tenant} if tenant else {}
        params = {"type": "Room,Sensor", "options": "sysAttrs", "limit": 1000}
        entities = await client.get(ENTITIES, params=params, headers=headers)
        types = await client.get(f"{API}/types", params={"details": "true"}, headers=headers)
        attrs = await client.get(f"{API}/attributes", params={"details": "true"}, headers=headers)
        assert entities.status_code == types.status_code == attrs.status_code == 200
        state[tenant] = [entities.json(), types.json(), attrs.json()]
    state["contexts"] = (await client.get(f"{API}/jsonldContexts")).json()
    return state


@pytest.mark.asyncio(loop_scope="module")
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
async def test_hostile_request_is_refused_cleanly(shared: httpx.AsyncClient, case: Case) -> None:
    before = await snapshot(shared)
    resp = await case.request(shared)
    assert "Traceback" not in resp.text
    assert 'File "' not in resp.text
    if case.id == "id-pattern-catastrophic" and TEST_BACKEND == "postgres":
        # PostgreSQL's regular expressions do not backtrack: the pattern is simply answered.
        assert resp.status_code == 200 and resp.json() == [], resp.text
    elif case.status == 207:
        body = resp.json()
        assert resp.status_code == 207 and body["success"] == [], resp.text
        assert body["errors"], body
    else:
        assert 400 <= resp.status_code < 600, (resp.status_code, resp.text)
        assert resp.headers["content-type"] == PROBLEM_JSON
        body = assert_problem(resp, case.status, case.type_name)
        if case.mentions is not None:
            assert case.mentions in body["detail"], body["detail"]
    assert await snapshot(shared) == before


async def test_well_formed_id_pattern_with_sql_meta_characters_matches_literally(
    seeded: httpx.AsyncClient,
) -> None:
    odd = "urn:ngsi-ld:Person:O'Brien;--"
    assert (await seeded.post(ENTITIES, json={"id": odd, "type": "Person"})).status_code == 201
    before = await snapshot(seeded)
    for pattern in ["O'Brien;--", "' OR '1'='1", "x\x00"]:
        resp = await seeded.get(ENTITIES, params={"idPattern": pattern})
        assert resp.status_code == 200, resp.text
        expected = [odd] if pattern.startswith("O'") else []
        assert [e["id"] for e in resp.json()] == expected
    assert await snapshot(seeded) == before


async def test_quoted_q_value_with_sql_meta_characters_matches_literally(
    seeded: httpx.AsyncClient,
) -> None:
    nasty = "x' OR '1'='1\"; DROP TABLE entities; --"
    await seeded.post(ENTITIES, json=room("urn:ngsi-ld:Room:9", name=nasty))
    before = await snapshot(seeded)
    escaped = nasty.replace('"', '\\"')
    resp = await seeded.get(ENTITIES, params={"type": "Room", "q": f'name=="{escaped}"'})
    assert [e["id"] for e in resp.json()] == ["urn:ngsi-ld:Room:9"]
    resp = await seeded.get(ENTITIES, params={"type": "Room", "q": "name==\"x' OR '1'='1\""})
    assert resp.json() == []
    assert await snapshot(seeded) == before


# --- remote @context failures ---------------------------------------------------------------


async def _context_failure(client: httpx.AsyncClient, url: str) -> None:
    before = await snapshot(client)
    for resp in (
        await client.get(f"{ENTITIES}/{RID}", headers={"Link": link(url)}),
        await client.post(ENTITIES, json=room("urn:x:new"), headers={"Link": link(url)}),
        await client.patch(
            f"{ENTITIES}/{RID}", json={"temperature": 99}, headers={"Link": link(url)}
        ),
        await client.post(
            ENTITIES,
            json={**room("urn:x:new"), "@context": url},
            headers={"Content-Type": "application/ld+json"},
        ),
    ):
        body = assert_problem(resp, 503, "LdContextNotAvailable")
        assert url in body["detail"]
    assert await snapshot(client) == before


async def test_unreachable_remote_context_is_503(seeded: httpx.AsyncClient) -> None:
    await _context_failure(seeded, f"http://127.0.0.1:{free_port()}/ctx.jsonld")


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8087http://127.0.0.1:8087/api/v1/context.jsonld",  # a port "8087http:"
        "http://[::1/ctx.jsonld",  # an unclosed IPv6 address
        "http://127.0.0.1:99999/ctx.jsonld",  # a port out of range
        "http:///ctx.jsonld",  # no host
    ],
)
async def test_malformed_remote_context_url_is_503(seeded: httpx.AsyncClient, url: str) -> None:
    await _context_failure(seeded, url)


async def test_slow_remote_context_is_503(
    seeded: httpx.AsyncClient, context_server: ContextServer
) -> None:
    context_server.documents["/slow.jsonld"] = b'{"@context": {}}'
    await _context_failure(seeded, context_server.url("/slow.jsonld"))


async def test_oversized_remote_context_is_503(
    seeded: httpx.AsyncClient, context_server: ContextServer
) -> None:
    terms = {f"t{i}": f"https://example.org/{i}" for i in range(200)}
    context_server.documents["/big.jsonld"] = orjson.dumps({"@context": terms})
    assert len(context_server.documents["/big.jsonld"]) > LIMITS["context_max_bytes"]
    await _context_failure(seeded, context_server.url("/big.jsonld"))


@pytest.mark.parametrize(
    "document",
    [b"not json", b'{"no": "context"}', b'{"@context": 5}', b"[1, 2]"],
    ids=["not-json", "no-context-member", "context-number", "array"],
)
async def test_invalid_remote_context_is_503(
    seeded: httpx.AsyncClient, context_server: ContextServer, document: bytes
) -> None:
    context_server.documents["/bad.jsonld"] = document
    await _context_failure(seeded, context_server.url("/bad.jsonld"))


async def test_missing_remote_context_is_503(
    seeded: httpx.AsyncClient, context_server: ContextServer
) -> None:
    await _context_failure(seeded, context_server.url("/missing.jsonld"))


async def test_a_failed_context_fetch_is_retried_later(
    seeded: httpx.AsyncClient, context_server: ContextServer
) -> None:
    url = context_server.url("/later.jsonld")
    assert_problem(await seeded.get(f"{ENTITIES}/{RID}", headers={"Link": link(url)}), 503)
    context_server.documents["/later.jsonld"] = b'{"@context": {"t": "https://example.org/t"}}'
    resp = await seeded.get(f"{ENTITIES}/{RID}", headers={"Link": link(url)})
    assert resp.status_code == 200


# --- batches mixing valid and invalid entities ------------------------------------------------


async def test_batch_mixing_valid_and_hostile_entities(seeded: httpx.AsyncClient) -> None:
    before = await snapshot(seeded)
    payload: list[Any] = [
        room("urn:ngsi-ld:Room:10", temperature=10),
        {"id": "urn:x' OR '1'='1", "type": "Room"},
        room("urn:ngsi-ld:Room:11", **{"bad name": 1}),
        "not an object",
        room(RID, temperature=666),  # exists already
        {"id": "urn:ngsi-ld:Room:12", "type": "Room", "value": {"type": "Property", "value": 1}},
        room("urn:ngsi-ld:Room:13", temperature=13),
    ]
    resp = await seeded.post(f"{OPS}/create", json=payload)
    assert resp.status_code == 207
    body = resp.json()
    assert sorted(body["success"]) == ["urn:ngsi-ld:Room:10", "urn:ngsi-ld:Room:13"]
    assert len(body["errors"]) == 5
    assert "Traceback" not in resp.text
    after = await snapshot(seeded)
    assert after[TENANT] == before[TENANT]
    ids = [e["id"] for e in after[""][0]]
    assert sorted(set(ids) - {e["id"] for e in before[""][0]}) == [
        "urn:ngsi-ld:Room:10",
        "urn:ngsi-ld:Room:13",
    ]
    kept = next(e for e in after[""][0] if e["id"] == RID)
    assert kept["temperature"]["value"] == 20
