"""The store contract (thudo/store/base.py), exercised directly on every backend."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from thudo.config import Settings
from thudo.errors import AlreadyExists, NgsiError, NonexistentTenant, ResourceNotFound
from thudo.ngsild.geoquery import parse_geoq
from thudo.ngsild.jsonld import core_context
from thudo.ngsild.model import Entity
from thudo.ngsild.parse import ParseOptions, parse_entity
from thudo.ngsild.qlang import parse_q
from thudo.ngsild.render import LOCATION
from thudo.ngsild.scopeq import parse_scope_q
from thudo.ngsild.selection import EntitySelection
from thudo.ngsild.typeexpr import TypeAll, TypeAny, TypeName, parse_type_expr
from thudo.store import open_store
from thudo.store.base import DELETE, UNCHANGED, ContextRecord, Outcome, Store

CTX = core_context()
VOCAB = "https://uri.etsi.org/ngsi-ld/default-context/"
NOW = "2024-01-01T00:00:00.000Z"


def make(eid: str, etype: Any = "Room", **attrs: Any) -> Entity:
    """An entity in the internal form, parsed like the API does."""
    body = {"id": eid, "type": etype, **attrs}
    return parse_entity(body, CTX, NOW, ParseOptions())


def put(entity: Entity) -> Callable[[Entity | None], Outcome]:
    def change(current: Entity | None) -> Outcome:
        if current is not None:
            raise AlreadyExists(f"{entity['id']} exists")
        return entity, "created"

    return change


async def create(store: Store, *entities: Entity, tenant: str = "") -> None:
    results = await store.change_many(tenant, [(e["id"], put(e)) for e in entities])
    assert results == ["created"] * len(entities)


async def ids(store: Store, tenant: str = "", **sel: Any) -> list[str]:
    page = await store.query_entities(tenant, EntitySelection(**{"limit": 100, **sel}))
    return sorted(e["id"] for e in page.entities)


# --- change ---------------------------------------------------------------------------------


async def test_change_creates_and_get_entity_reads_back(store: Store) -> None:
    entity = make("urn:a:1", temperature=5)
    assert await store.change("", "urn:a:1", put(entity)) == "created"
    assert await store.get_entity("", "urn:a:1") == entity


async def test_get_missing_entity_is_none(store: Store) -> None:
    assert await store.get_entity("", "urn:a:none") is None


async def test_change_sees_the_current_entity_and_can_modify_it(store: Store) -> None:
    await create(store, make("urn:a:1", temperature=5))

    def bump(current: Entity | None) -> Outcome:
        assert current is not None
        current["attrs"][VOCAB + "temperature"][0]["value"] += 1
        return current, current["attrs"][VOCAB + "temperature"][0]["value"]

    assert await store.change("", "urn:a:1", bump) == 6
    got = await store.get_entity("", "urn:a:1")
    assert got is not None and got["attrs"][VOCAB + "temperature"][0]["value"] == 6


async def test_an_error_in_a_change_propagates_and_writes_nothing(store: Store) -> None:
    await create(store, make("urn:a:1", temperature=5))
    before = await store.get_entity("", "urn:a:1")

    def fail(current: Entity | None) -> Outcome:
        assert current is not None
        current["attrs"].clear()
        raise ResourceNotFound("nope")

    with pytest.raises(ResourceNotFound):
        await store.change("", "urn:a:1", fail)
    assert await store.get_entity("", "urn:a:1") == before


async def test_delete_and_unchanged_markers(store: Store) -> None:
    await create(store, make("urn:a:1"), make("urn:a:2"))
    assert await store.change("", "urn:a:1", lambda cur: (DELETE, "gone")) == "gone"
    assert await store.change("", "urn:a:2", lambda cur: (UNCHANGED, "same")) == "same"
    assert await store.get_entity("", "urn:a:1") is None
    assert await store.get_entity("", "urn:a:2") is not None
    assert await ids(store, types=TypeName(VOCAB + "Room")) == ["urn:a:2"]


async def test_concurrent_changes_are_all_committed(store: Store) -> None:
    entities = [make(f"urn:a:{i}", n=i) for i in range(60)]
    results = await asyncio.gather(*(store.change("", e["id"], put(e)) for e in entities))
    assert results == ["created"] * 60
    page = await store.query_entities(
        "", EntitySelection(types=TypeName(VOCAB + "Room"), limit=100, count=True)
    )
    assert page.count == 60


async def test_concurrent_read_modify_write_is_atomic(store: Store) -> None:
    await create(store, make("urn:a:1", n=0))

    def inc(current: Entity | None) -> Outcome:
        assert current is not None
        current["attrs"][VOCAB + "n"][0]["value"] += 1
        return current, None

    await asyncio.gather(*(store.change("", "urn:a:1", inc) for _ in range(40)))
    got = await store.get_entity("", "urn:a:1")
    assert got is not None and got["attrs"][VOCAB + "n"][0]["value"] == 40


# --- change_many ----------------------------------------------------------------------------


async def test_change_many_reports_each_item(store: Store) -> None:
    await create(store, make("urn:a:1"))
    results = await store.change_many(
        "",
        [
            ("urn:a:2", put(make("urn:a:2"))),
            ("urn:a:1", put(make("urn:a:1"))),  # exists
            ("urn:a:3", put(make("urn:a:3"))),
        ],
    )
    assert results[0] == "created" and results[2] == "created"
    assert isinstance(results[1], AlreadyExists)
    assert await ids(store, types=TypeName(VOCAB + "Room")) == ["urn:a:1", "urn:a:2", "urn:a:3"]


async def test_a_failed_item_leaves_no_partial_write(store: Store) -> None:
    def half(current: Entity | None) -> Outcome:
        raise NgsiError("boom")

    results = await store.change_many("", [("urn:a:1", put(make("urn:a:1"))), ("urn:a:2", half)])
    assert results[0] == "created"
    assert isinstance(results[1], NgsiError)
    assert await store.get_entity("", "urn:a:2") is None


async def test_change_many_on_the_same_id_sees_earlier_items(store: Store) -> None:
    results = await store.change_many(
        "", [("urn:a:1", put(make("urn:a:1"))), ("urn:a:1", put(make("urn:a:1")))]
    )
    assert results[0] == "created"
    assert isinstance(results[1], AlreadyExists)


# --- tenants --------------------------------------------------------------------------------


async def test_unknown_tenant_is_nonexistent_on_every_read(store: Store) -> None:
    with pytest.raises(NonexistentTenant):
        await store.get_entity("nobody", "urn:a:1")
    with pytest.raises(NonexistentTenant):
        await store.query_entities("nobody", EntitySelection(types=TypeName(VOCAB + "Room")))
    with pytest.raises(NonexistentTenant):
        await store.entity_types("nobody", with_attributes=False)
    with pytest.raises(NonexistentTenant):
        await store.attributes("nobody")


async def test_tenants_are_created_on_write_and_isolated(store: Store) -> None:
    await create(store, make("urn:a:1", v=1), tenant="a")
    await create(store, make("urn:a:1", v=2), tenant="b")
    assert await store.tenants() == ["a", "b"]
    got_a = await store.get_entity("a", "urn:a:1")
    got_b = await store.get_entity("b", "urn:a:1")
    assert got_a is not None and got_a["attrs"][VOCAB + "v"][0]["value"] == 1
    assert got_b is not None and got_b["attrs"][VOCAB + "v"][0]["value"] == 2
    assert await store.get_entity("", "urn:a:1") is None


async def test_a_failed_first_write_creates_no_tenant(store: Store) -> None:
    def missing(current: Entity | None) -> Outcome:
        raise ResourceNotFound("no such entity")

    with pytest.raises(ResourceNotFound):
        await store.change("ghost", "urn:a:1", missing)
    await create(store, make("urn:a:1", secret=1), tenant="other")
    with pytest.raises(NonexistentTenant):
        await store.get_entity("ghost", "urn:a:1")


# --- query_entities -------------------------------------------------------------------------


@pytest.fixture
async def city(store: Store) -> Store:
    await create(
        store,
        make(
            "urn:a:1",
            temperature={"type": "Property", "value": 10, "observedAt": "2024-01-01T00:00:00Z"},
            name="alpha",
            location={
                "type": "GeoProperty",
                "value": {"type": "Point", "coordinates": [105.8, 21.0]},
            },
            scope="/Hanoi/BaDinh",
        ),
        make(
            "urn:a:2",
            temperature=20,
            name="beta",
            location={
                "type": "GeoProperty",
                "value": {"type": "Point", "coordinates": [106.7, 20.9]},
            },
            scope="/HaiPhong",
        ),
        make("urn:b:3", ["Room", "Sensor"], temperature=30, co2=400, scope="/Hanoi"),
        make("urn:b:4", "Sensor", co2=500),
    )
    return store


async def test_select_by_ids(city: Store) -> None:
    assert await ids(city, ids=("urn:a:2", "urn:b:4", "urn:x:none")) == ["urn:a:2", "urn:b:4"]


async def test_select_by_id_pattern(city: Store) -> None:
    assert await ids(city, id_pattern="^urn:b:") == ["urn:b:3", "urn:b:4"]


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        (TypeName(VOCAB + "Room"), ["urn:a:1", "urn:a:2", "urn:b:3"]),
        (TypeAny((TypeName(VOCAB + "Sensor"), TypeName(VOCAB + "Nope"))), ["urn:b:3", "urn:b:4"]),
        (TypeAll((TypeName(VOCAB + "Room"), TypeName(VOCAB + "Sensor"))), ["urn:b:3"]),
    ],
)
async def test_select_by_types(city: Store, expr: Any, expected: list[str]) -> None:
    assert await ids(city, types=expr) == expected


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("temperature>15", ["urn:a:2", "urn:b:3"]),
        ("temperature==10..20", ["urn:a:1", "urn:a:2"]),
        ('name=="beta"|co2>450', ["urn:a:2", "urn:b:4"]),
        ("co2;temperature", ["urn:b:3"]),
        ("temperature.observedAt==2024-01-01T00:00:00Z", ["urn:a:1"]),
        ("temperature!=10", ["urn:a:2", "urn:b:3"]),
    ],
)
async def test_select_by_q(city: Store, q: str, expected: list[str]) -> None:
    assert await ids(city, q=parse_q(q, CTX.expand)) == expected


async def test_select_by_geo(city: Store) -> None:
    near = parse_geoq("near;maxDistance==5000", "Point", "[105.81, 21.0]", LOCATION)
    assert await ids(city, geo=near) == ["urn:a:1"]


async def test_select_by_scope(city: Store) -> None:
    assert await ids(city, scope=parse_scope_q("/Hanoi/#")) == ["urn:a:1", "urn:b:3"]


async def test_select_by_attrs(city: Store) -> None:
    assert await ids(city, attrs=frozenset({VOCAB + "co2"})) == ["urn:b:3", "urn:b:4"]


async def test_filters_combine_with_and(city: Store) -> None:
    got = await ids(
        city,
        types=parse_type_expr("Room", CTX.expand),
        q=parse_q("temperature>=10", CTX.expand),
        scope=parse_scope_q("/Hanoi/#"),
    )
    assert got == ["urn:a:1", "urn:b:3"]


async def test_paging_is_stable_and_counts(city: Store) -> None:
    seen: list[str] = []
    for offset in range(0, 4, 3):
        page = await city.query_entities(
            "", EntitySelection(id_pattern="^urn:", limit=3, offset=offset, count=True)
        )
        assert page.count == 4
        seen += [e["id"] for e in page.entities]
    assert sorted(seen) == ["urn:a:1", "urn:a:2", "urn:b:3", "urn:b:4"]
    assert len(set(seen)) == 4


async def test_count_is_none_unless_asked(city: Store) -> None:
    page = await city.query_entities("", EntitySelection(id_pattern="^urn:"))
    assert page.count is None


# --- discovery ------------------------------------------------------------------------------


async def test_entity_types(city: Store) -> None:
    plain = {t.type: t.count for t in await city.entity_types("", with_attributes=False)}
    assert plain == {VOCAB + "Room": 3, VOCAB + "Sensor": 2}
    detailed = {t.type: t for t in await city.entity_types("", with_attributes=True)}
    assert detailed[VOCAB + "Sensor"].attributes == {
        VOCAB + "co2": {"Property"},
        VOCAB + "temperature": {"Property"},
    }


async def test_attributes(city: Store) -> None:
    infos = {a.name: a for a in await city.attributes("")}
    assert set(infos) == {VOCAB + "temperature", VOCAB + "name", VOCAB + "co2", LOCATION}
    co2 = infos[VOCAB + "co2"]
    assert co2.count == 2
    assert co2.types == {VOCAB + "Room", VOCAB + "Sensor"}
    assert infos[LOCATION].attribute_types == {"GeoProperty"}
    [one] = await city.attributes("", VOCAB + "temperature")
    assert one.count == 3
    assert await city.attributes("", VOCAB + "nothing") == []


async def test_index_follows_updates_and_deletes(city: Store) -> None:
    def drop_co2(current: Entity | None) -> Outcome:
        assert current is not None
        del current["attrs"][VOCAB + "co2"]
        current["type"] = [VOCAB + "Room"]
        return current, None

    await city.change("", "urn:b:3", drop_co2)
    await city.change("", "urn:b:4", lambda cur: (DELETE, None))
    assert await ids(city, q=parse_q("co2", CTX.expand)) == []
    assert await ids(city, types=TypeName(VOCAB + "Sensor")) == []
    assert await city.attributes("", VOCAB + "co2") == []


# --- hostile values are data, never SQL -------------------------------------------------------


HOSTILE = ["x'; DROP TABLE entities; --", 'x" OR "1"="1', "x/**/UNION/**/SELECT", "x\\'--"]


@pytest.mark.parametrize("text", HOSTILE)
async def test_hostile_ids_types_and_names_are_stored_literally(store: Store, text: str) -> None:
    eid = "urn:h:" + text
    entity: Entity = {
        "id": eid,
        "type": ["https://ex.org/" + text],
        "createdAt": NOW,
        "modifiedAt": NOW,
        "attrs": {"https://ex.org/" + text: [{"type": "Property", "value": text}]},
    }
    await store.change(text, eid, put(entity))
    assert await store.get_entity(text, eid) == entity
    assert await ids(store, tenant=text, ids=(eid,)) == [eid]
    assert await ids(store, tenant=text, types=TypeName("https://ex.org/" + text)) == [eid]
    q = parse_q(
        f'attr=="{text.replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"',
        lambda n: "https://ex.org/" + text,
    )
    assert await ids(store, tenant=text, q=q) == [eid]
    assert [a.name for a in await store.attributes(text)] == ["https://ex.org/" + text]
    assert text in await store.tenants()


# --- contexts -------------------------------------------------------------------------------


async def test_contexts_are_saved_loaded_touched_and_deleted(store: Store) -> None:
    rec = ContextRecord("c1", "http://x/c.jsonld", "Cached", b'{"@context": {}}', NOW)
    await store.save_context(rec)
    await store.touch_contexts({"c1": (3, "2024-02-02T00:00:00.000Z")})
    [loaded] = await store.load_contexts()
    assert (loaded.id, loaded.url, loaded.kind, loaded.body) == ("c1", rec.url, "Cached", rec.body)
    assert loaded.hits == 3
    assert loaded.last_usage == "2024-02-02T00:00:00.000Z"
    assert await store.delete_context("c1") is True
    assert await store.delete_context("c1") is False
    assert await store.load_contexts() == []


# --- life cycle -----------------------------------------------------------------------------


async def test_data_survives_a_restart(store_settings: Callable[..., Settings]) -> None:
    first = open_store(store_settings())
    await first.start()
    await create(first, make("urn:a:1", v=1), tenant="t")
    await first.save_context(ContextRecord("c1", "http://x/c", "Hosted", b'{"@context": {}}', NOW))
    await first.close()
    second = open_store(store_settings())
    await second.start()
    try:
        got = await second.get_entity("t", "urn:a:1")
        assert got is not None and got["attrs"][VOCAB + "v"][0]["value"] == 1
        assert [r.id for r in await second.load_contexts()] == ["c1"]
        assert await second.tenants() == ["t"]
    finally:
        await second.close()


async def test_ping_answers_when_started(store: Store) -> None:
    await store.ping()
    page = await store.query_entities("", EntitySelection(id_pattern="."))
    assert page.entities == []
