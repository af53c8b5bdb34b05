"""The subscription resource (clause 5.8): create, retrieve, query with paging, update,
delete, validation errors as problem+json, status and tenants."""

from __future__ import annotations

import asyncio
import re
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import pytest

from tests.support import (
    API,
    CORE_URL,
    ContextServer,
    assert_problem,
    context_document,
    link,
)

SUBS = f"{API}/subscriptions"
SID = "urn:ngsi-ld:Subscription:1"
RECEIVER = "http://127.0.0.1:9/notify"


def _sub(sub_id: str | None = SID, **members: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": "Subscription",
        "entities": [{"type": "Room"}],
        "notification": {"endpoint": {"uri": RECEIVER}},
    }
    if sub_id is not None:
        body["id"] = sub_id
    body.update(members)
    return body


def _in(seconds: float) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


async def _create(client: httpx.AsyncClient, body: dict[str, Any], **kw: Any) -> httpx.Response:
    resp = await client.post(SUBS, json=body, **kw)
    assert resp.status_code == 201, resp.text
    return resp


async def _get(client: httpx.AsyncClient, sub_id: str = SID, **kw: Any) -> dict[str, Any]:
    resp = await client.get(f"{SUBS}/{sub_id}", **kw)
    assert resp.status_code == 200, resp.text
    doc: dict[str, Any] = resp.json()
    return doc


async def test_create_answers_201_with_location(client: httpx.AsyncClient) -> None:
    resp = await _create(client, _sub())
    assert resp.headers["location"] == f"{SUBS}/{SID}"
    assert resp.content == b""


async def test_create_without_id_makes_one(client: httpx.AsyncClient) -> None:
    resp = await _create(client, _sub(None))
    sub_id = resp.headers["location"].removeprefix(SUBS + "/")
    assert re.match(r"^[a-z][a-z0-9+.-]*:", sub_id), sub_id
    assert (await _get(client, sub_id))["id"] == sub_id


async def test_retrieve_gives_back_what_was_created(client: httpx.AsyncClient) -> None:
    body = _sub(
        subscriptionName="rooms",
        description="every room",
        watchedAttributes=["temperature"],
        q="temperature>20",
        notificationTrigger=["attributeUpdated"],
        throttling=5,
        notification={
            "endpoint": {"uri": RECEIVER, "accept": "application/ld+json"},
            "attributes": ["temperature"],
            "format": "keyValues",
        },
    )
    await _create(client, body)
    doc = await _get(client)
    assert doc["id"] == SID
    assert doc["type"] == "Subscription"
    for key in ("subscriptionName", "description", "entities", "watchedAttributes", "q"):
        assert doc[key] == body[key], key
    assert doc["notificationTrigger"] == ["attributeUpdated"]
    assert doc["throttling"] == 5
    assert doc["status"] == "active"
    notification = doc["notification"]
    assert notification["endpoint"]["uri"] == RECEIVER
    assert notification["endpoint"]["accept"] == "application/ld+json"
    assert notification["attributes"] == ["temperature"]
    assert notification["format"] == "keyValues"


async def test_retrieve_as_json_ld_has_a_context(client: httpx.AsyncClient) -> None:
    await _create(client, _sub())
    doc = await _get(client, headers={"Accept": "application/ld+json"})
    assert "@context" in doc


async def test_sys_attrs_on_request(client: httpx.AsyncClient) -> None:
    await _create(client, _sub())
    assert "createdAt" not in await _get(client)
    doc = await _get(client, params={"options": "sysAttrs"})
    assert "createdAt" in doc and "modifiedAt" in doc


async def test_duplicate_id_is_409(client: httpx.AsyncClient) -> None:
    await _create(client, _sub())
    resp = await client.post(SUBS, json=_sub())
    assert_problem(resp, 409, "AlreadyExists")


@pytest.mark.parametrize(
    ("method", "body"),
    [("GET", None), ("PATCH", {"q": "temperature>1"}), ("DELETE", None)],
)
async def test_unknown_subscription_is_404(
    client: httpx.AsyncClient, method: str, body: dict[str, Any] | None
) -> None:
    await _create(client, _sub())
    url = f"{SUBS}/urn:ngsi-ld:Subscription:nope"
    resp = await client.request(method, url, json=body)
    assert_problem(resp, 404, "ResourceNotFound")


async def test_delete(client: httpx.AsyncClient) -> None:
    await _create(client, _sub())
    resp = await client.delete(f"{SUBS}/{SID}")
    assert resp.status_code == 204
    assert_problem(await client.get(f"{SUBS}/{SID}"), 404, "ResourceNotFound")
    assert_problem(await client.delete(f"{SUBS}/{SID}"), 404, "ResourceNotFound")
    assert (await client.get(SUBS)).json() == []


def _links(resp: httpx.Response) -> dict[str, str]:
    """rel → target of the Link header, ignoring the @context link."""
    out = {}
    for part in re.findall(r"<([^>]*)>([^,]*)", resp.headers.get("link", "")):
        rel = re.search(r'rel="?([^";]+)"?', part[1])
        if rel is not None:
            out[rel.group(1)] = part[0]
    return out


def _query_of(target: str) -> dict[str, str]:
    query = target.split("?", 1)[1]
    return dict(pair.split("=", 1) for pair in query.split("&"))


async def test_query_pages_with_links_and_count(client: httpx.AsyncClient) -> None:
    ids = [f"urn:ngsi-ld:Subscription:{n}" for n in range(5)]
    for sub_id in ids:
        await _create(client, _sub(sub_id))
    seen: list[str] = []
    pages = []
    for offset in (0, 2, 4):
        resp = await client.get(SUBS, params={"limit": 2, "offset": offset, "count": "true"})
        assert resp.status_code == 200, resp.text
        assert resp.headers["ngsild-results-count"] == "5"
        seen.extend(s["id"] for s in resp.json())
        pages.append(_links(resp))
    assert sorted(seen) == sorted(ids)
    assert len(seen) == len(set(seen))
    first, middle, last = pages
    assert "prev" not in first
    assert _query_of(first["next"]) == {"limit": "2", "offset": "2"}
    assert _query_of(middle["prev"]) == {"limit": "2", "offset": "0"}
    assert _query_of(middle["next"]) == {"limit": "2", "offset": "4"}
    assert _query_of(last["prev"]) == {"limit": "2", "offset": "2"}
    assert "next" not in last


async def test_query_follows_next_links_to_the_end(client: httpx.AsyncClient) -> None:
    ids = [f"urn:ngsi-ld:Subscription:{n}" for n in range(7)]
    for sub_id in ids:
        await _create(client, _sub(sub_id))
    seen: list[str] = []
    url: str | None = f"{SUBS}?limit=3"
    while url is not None:
        resp = await client.get(url)
        assert resp.status_code == 200
        seen.extend(s["id"] for s in resp.json())
        url = _links(resp).get("next")
        assert len(seen) <= len(ids)
    assert seen == ids


async def test_query_without_count_has_no_count_header(client: httpx.AsyncClient) -> None:
    await _create(client, _sub())
    resp = await client.get(SUBS)
    assert "ngsild-results-count" not in resp.headers
    assert [s["id"] for s in resp.json()] == [SID]


async def test_query_limit_over_the_maximum_is_403(client: httpx.AsyncClient) -> None:
    resp = await client.get(SUBS, params={"limit": 1_000_000})
    assert_problem(resp, 403, "TooManyResults")


async def test_update_replaces_the_members_given(client: httpx.AsyncClient) -> None:
    await _create(client, _sub(q="temperature>20", subscriptionName="old"))
    resp = await client.patch(
        f"{SUBS}/{SID}",
        json={"q": "humidity<50", "watchedAttributes": ["humidity"], "subscriptionName": "new"},
    )
    assert resp.status_code == 204, resp.text
    doc = await _get(client)
    assert doc["q"] == "humidity<50"
    assert doc["watchedAttributes"] == ["humidity"]
    assert doc["subscriptionName"] == "new"
    assert doc["entities"] == [{"type": "Room"}]


async def test_update_replaces_the_notification_whole(client: httpx.AsyncClient) -> None:
    notification = {
        "endpoint": {"uri": RECEIVER, "accept": "application/ld+json"},
        "attributes": ["temperature"],
        "format": "keyValues",
    }
    await _create(client, _sub(notification=notification))
    new = {"endpoint": {"uri": "http://127.0.0.1:9/other"}, "format": "concise"}
    resp = await client.patch(f"{SUBS}/{SID}", json={"notification": new})
    assert resp.status_code == 204, resp.text
    got = (await _get(client))["notification"]
    assert got["endpoint"]["uri"] == "http://127.0.0.1:9/other"
    assert got["format"] == "concise"
    assert "attributes" not in got
    assert got["endpoint"].get("accept", "application/json") == "application/json"


async def test_update_with_null_removes_a_member(client: httpx.AsyncClient) -> None:
    await _create(client, _sub(q="temperature>20"))
    resp = await client.patch(f"{SUBS}/{SID}", json={"q": None})
    assert resp.status_code == 204, resp.text
    assert "q" not in await _get(client)


async def test_update_is_validated(client: httpx.AsyncClient) -> None:
    await _create(client, _sub())
    resp = await client.patch(f"{SUBS}/{SID}", json={"throttling": -1})
    assert_problem(resp, 400, "BadRequestData")
    assert "throttling" not in await _get(client)


async def test_update_cannot_make_time_interval_and_throttling_meet(
    client: httpx.AsyncClient,
) -> None:
    await _create(client, _sub(throttling=5))
    resp = await client.patch(f"{SUBS}/{SID}", json={"timeInterval": 10})
    assert_problem(resp, 400, "BadRequestData")


async def test_update_changes_modified_at(client: httpx.AsyncClient) -> None:
    await _create(client, _sub())
    before = await _get(client, params={"options": "sysAttrs"})
    await asyncio.sleep(0.01)
    await client.patch(f"{SUBS}/{SID}", json={"subscriptionName": "renamed"})
    after = await _get(client, params={"options": "sysAttrs"})
    assert after["createdAt"] == before["createdAt"]
    assert after["modifiedAt"] > before["modifiedAt"]


_NO_TARGET = {k: v for k, v in _sub().items() if k != "entities"}
_ENDPOINT = {"endpoint": {"uri": RECEIVER}}


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(_NO_TARGET, id="no-entities-no-watchedAttributes"),
        pytest.param(_sub(notificationTrigger=["entityRenamed"]), id="unknown-trigger"),
        pytest.param(_sub(notification={"endpoint": {"uri": "not a uri"}}), id="endpoint-not-uri"),
        pytest.param(
            _sub(notification={"endpoint": {"uri": "ftp://example.org/x"}}), id="endpoint-scheme"
        ),
        pytest.param(_sub(q="temperature>>"), id="bad-q"),
        pytest.param(_sub(q="(temperature>1"), id="unbalanced-q"),
        pytest.param(
            _sub(geoQ={"geometry": "Point", "coordinates": [1], "georel": "near;maxDistance==1"}),
            id="bad-geoQ-coordinates",
        ),
        pytest.param(
            _sub(geoQ={"geometry": "Point", "coordinates": [1, 2], "georel": "sideways"}),
            id="bad-georel",
        ),
        pytest.param(_sub(expiresAt="2000-01-01T00:00:00Z"), id="past-expiresAt"),
        pytest.param(_sub(expiresAt="tomorrow"), id="expiresAt-not-a-date"),
        pytest.param(
            _sub(timeInterval=10, watchedAttributes=["temperature"]),
            id="timeInterval-and-watchedAttributes",
        ),
        pytest.param(_sub(timeInterval=10, throttling=5), id="timeInterval-and-throttling"),
        pytest.param(_sub(throttling=-1), id="negative-throttling"),
        pytest.param(_sub(timeInterval=-10), id="negative-timeInterval"),
        pytest.param(
            _sub(notification={**_ENDPOINT, "pick": ["temperature"], "omit": ["humidity"]}),
            id="pick-and-omit",
        ),
        pytest.param(_sub(notification={**_ENDPOINT, "format": "verbose"}), id="unknown-format"),
        pytest.param(_sub(notification={"format": "keyValues"}), id="no-endpoint"),
        pytest.param({k: v for k, v in _sub().items() if k != "notification"}, id="no-notif"),
        pytest.param(_sub(entities=[{"id": "urn:ngsi-ld:Room:1"}]), id="selector-without-type"),
        pytest.param(_sub(entities=[{"type": "Room", "id": "no uri"}]), id="selector-id"),
        pytest.param({**_sub(), "type": "Subscriptions"}, id="wrong-type"),
        pytest.param(_sub(sub_id="not a uri"), id="id-not-uri"),
        pytest.param(_sub(isActive="yes"), id="isActive-not-boolean"),
        pytest.param(_sub(colour="red"), id="unknown-member"),
    ],
)
async def test_invalid_subscriptions_are_400(
    client: httpx.AsyncClient, body: dict[str, Any]
) -> None:
    resp = await client.post(SUBS, json=body)
    problem = assert_problem(resp, 400)
    assert problem["type"].endswith(("BadRequestData", "InvalidRequest")), problem
    assert (await client.get(SUBS)).json() == []


async def test_invalid_json_is_400(client: httpx.AsyncClient) -> None:
    resp = await client.post(
        SUBS, content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert_problem(resp, 400, "InvalidRequest")


async def test_status_active_paused_and_expired(client: httpx.AsyncClient) -> None:
    await _create(client, _sub("urn:ngsi-ld:Subscription:on"))
    await _create(client, _sub("urn:ngsi-ld:Subscription:off", isActive=False))
    await _create(client, _sub("urn:ngsi-ld:Subscription:soon", expiresAt=_in(1.0)))
    assert (await _get(client, "urn:ngsi-ld:Subscription:on"))["status"] == "active"
    assert (await _get(client, "urn:ngsi-ld:Subscription:off"))["status"] == "paused"
    deadline = time.monotonic() + 5
    status = ""
    while time.monotonic() < deadline:
        status = (await _get(client, "urn:ngsi-ld:Subscription:soon"))["status"]
        if status == "expired":
            break
        assert status == "active"
        await asyncio.sleep(0.05)
    assert status == "expired"


async def test_pausing_and_resuming(client: httpx.AsyncClient) -> None:
    await _create(client, _sub())
    await client.patch(f"{SUBS}/{SID}", json={"isActive": False})
    assert (await _get(client))["status"] == "paused"
    await client.patch(f"{SUBS}/{SID}", json={"isActive": True})
    assert (await _get(client))["status"] == "active"


async def test_extending_expires_at_makes_it_active_again(client: httpx.AsyncClient) -> None:
    await _create(client, _sub(expiresAt=_in(3600)))
    resp = await client.patch(f"{SUBS}/{SID}", json={"expiresAt": _in(7200)})
    assert resp.status_code == 204, resp.text
    assert (await _get(client))["status"] == "active"


async def test_tenants_are_isolated(client: httpx.AsyncClient) -> None:
    a, b = {"NGSILD-Tenant": "a"}, {"NGSILD-Tenant": "b"}
    await _create(client, _sub(), headers=a)
    await _create(client, _sub("urn:ngsi-ld:Subscription:b"), headers=b)
    assert [s["id"] for s in (await client.get(SUBS, headers=a)).json()] == [SID]
    assert [s["id"] for s in (await client.get(SUBS, headers=b)).json()] == [
        "urn:ngsi-ld:Subscription:b"
    ]
    assert_problem(await client.get(f"{SUBS}/{SID}", headers=b), 404)
    assert_problem(await client.delete(f"{SUBS}/{SID}", headers=b), 404)
    assert (await client.get(SUBS)).json() == []
    # The same id in another tenant is another subscription.
    await _create(client, _sub(), headers=b)
    assert (await client.delete(f"{SUBS}/{SID}", headers=b)).status_code == 204
    assert (await _get(client, SID, headers=a))["id"] == SID


async def test_unknown_tenant_is_404(client: httpx.AsyncClient) -> None:
    resp = await client.get(SUBS, headers={"NGSILD-Tenant": "nobody"})
    assert_problem(resp, 404, "NonexistentTenant")


async def test_default_notification_trigger_is_shown(client: httpx.AsyncClient) -> None:
    await _create(client, _sub())
    doc = await _get(client)
    assert sorted(doc["notificationTrigger"]) == ["attributeCreated", "attributeUpdated"]


async def test_names_read_back_in_the_readers_context(
    client: httpx.AsyncClient, context_server: ContextServer
) -> None:
    vocab = "https://example.org/hanoi/"
    terms = {"Room": vocab + "Room", "temperature": vocab + "temperature"}
    context_server.documents["/ctx.jsonld"] = context_document(terms)
    with_context = {"Link": link(context_server.url("/ctx.jsonld"))}
    await _create(client, _sub(watchedAttributes=["temperature"]), headers=with_context)
    doc = await _get(client, headers=with_context)
    assert doc["entities"] == [{"type": "Room"}]
    assert doc["watchedAttributes"] == ["temperature"]
    plain = await _get(client)
    assert plain["entities"] == [{"type": vocab + "Room"}]
    assert plain["watchedAttributes"] == [vocab + "temperature"]


async def test_json_ld_body_needs_a_context(client: httpx.AsyncClient) -> None:
    resp = await client.post(
        SUBS, content=orjson.dumps(_sub()), headers={"Content-Type": "application/ld+json"}
    )
    assert_problem(resp, 400)


async def test_json_ld_body_with_a_context(client: httpx.AsyncClient) -> None:
    body = {**_sub(), "@context": CORE_URL}
    resp = await client.post(
        SUBS, content=orjson.dumps(body), headers={"Content-Type": "application/ld+json"}
    )
    assert resp.status_code == 201, resp.text
    assert (await _get(client))["entities"] == [{"type": "Room"}]


async def test_update_to_a_past_expires_at_is_400(client: httpx.AsyncClient) -> None:
    await _create(client, _sub())
    resp = await client.patch(f"{SUBS}/{SID}", json={"expiresAt": "2001-01-01T00:00:00Z"})
    assert_problem(resp, 400, "BadRequestData")
    assert (await _get(client))["status"] == "active"
