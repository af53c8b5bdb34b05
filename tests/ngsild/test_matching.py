"""The subscription index finds every subscription a change may concern, and q on one
entity reads the same rows whichever attributes were read first."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from thudo.ngsild.jsonld import DEFAULT_VOCAB
from thudo.ngsild.matching import CompiledSubscription, SubscriptionIndex, compile_subscription
from thudo.ngsild.qeval import ValueTable, matches_q
from thudo.ngsild.qlang import parse_q
from thudo.ngsild.values import index_rows

_T = DEFAULT_VOCAB + "Sensor"
_OTHER = DEFAULT_VOCAB + "Gauge"


def _sub(n: int, **doc: Any) -> CompiledSubscription:
    body = {"id": f"urn:ngsi-ld:Subscription:{n}", "type": "Subscription", **doc}
    body.setdefault("notification", {"endpoint": {"uri": "http://127.0.0.1:9/x"}})
    return compile_subscription("", body)


def _ids(found: list[CompiledSubscription]) -> list[str]:
    return sorted(s.id.rsplit(":", 1)[1] for s in found)


def test_subscriptions_by_id_are_found_for_their_ids_only() -> None:
    subs = [
        _sub(1, entities=[{"id": "urn:e:1", "type": "Sensor"}]),
        _sub(2, entities=[{"id": "urn:e:2", "type": "Sensor"}]),
        _sub(3, entities=[{"id": "urn:e:1", "type": "Sensor"}, {"id": "urn:e:3", "type": "Gauge"}]),
        _sub(4, entities=[{"type": "Sensor"}]),
        _sub(5, entities=[{"id": "urn:e:9", "type": "Sensor"}, {"type": "Gauge"}]),
        _sub(6, watchedAttributes=["pm25"]),
    ]
    index = SubscriptionIndex(subs)
    # 5 has a selector without an id, so it stands under both its types.
    assert _ids(index.candidates("", [_T], "urn:e:1")) == ["1", "3", "4", "5", "6"]
    assert _ids(index.candidates("", [_T], "urn:e:2")) == ["2", "4", "5", "6"]
    assert _ids(index.candidates("", [_OTHER], "urn:e:3")) == ["3", "5", "6"]
    # Found once, however many of its keys the entity has.
    assert _ids(index.candidates("", [_T, _OTHER], "urn:e:9")) == ["4", "5", "6"]
    assert _ids(index.candidates("other-tenant", [_T], "urn:e:1")) == []
    assert (("", _T) in index.types) and (("", _OTHER) in index.types)


def test_every_subscription_that_selects_an_entity_is_a_candidate() -> None:
    subs = [_sub(k, entities=[{"id": f"urn:e:{k % 7}", "type": "Sensor"}]) for k in range(30)] + [
        _sub(100 + k, entities=[{"type": "Sensor"}], q=f"zone=={k}") for k in range(5)
    ]
    index = SubscriptionIndex(subs)
    for e in range(10):
        entity = {
            "id": f"urn:e:{e}",
            "type": [_T],
            "attrs": {DEFAULT_VOCAB + "zone": [{"type": "Property", "value": e % 5}]},
        }
        table = ValueTable(entity)
        selecting = {s.id for s in subs if s.selects(entity)}
        found = {s.id for s in index.candidates("", [_T], entity["id"]) if s.selects(entity, table)}
        assert found == selecting
        assert f"urn:ngsi-ld:Subscription:{100 + e % 5}" in found
        assert (f"urn:ngsi-ld:Subscription:{e}" in found) == (e < 7)


_scalars = st.one_of(
    st.integers(0, 3), st.booleans(), st.sampled_from(["a", "b", "2024-01-01T00:00:00Z"])
)
_attrs = st.dictionaries(
    st.sampled_from(["p", "q", "r"]),
    st.lists(
        st.fixed_dictionaries(
            {
                "type": st.just("Property"),
                "value": st.one_of(
                    _scalars, st.dictionaries(st.sampled_from(["k", "m"]), _scalars, max_size=2)
                ),
            },
            optional={"observedAt": st.just("2024-05-01T10:00:00Z")},
        ),
        min_size=1,
        max_size=2,
    ),
    max_size=3,
)


@given(_attrs, st.lists(st.sampled_from(["p", "q", "r"]), max_size=3))
def test_lazy_rows_equal_the_rows_of_the_whole_entity(attrs: Any, order: list[str]) -> None:
    entity = {
        "id": "urn:e:x",
        "type": [_T],
        "attrs": {DEFAULT_VOCAB + k: v for k, v in attrs.items()},
    }
    table = ValueTable(entity)
    for name in order:  # read some attributes first, in any order
        table.values(DEFAULT_VOCAB + name)
    grouped: dict[str, list[Any]] = {}
    for path, kind, num, txt in index_rows(entity, system_times=True):
        grouped.setdefault(path, []).append((kind, num, txt))
    for path, rows in grouped.items():
        assert table.values(path) == rows
    expand = DEFAULT_VOCAB.__add__
    for q in ("p==1", 'q>3;r=="a"', "p[k]==2|q.observedAt>2024-01-01T00:00:00Z", "r"):
        node = parse_q(q, expand)
        assert matches_q(node, table) == matches_q(node, ValueTable(entity))


def test_subscriptions_with_an_equality_are_found_by_the_value_held() -> None:
    subs = [
        _sub(1, entities=[{"type": "Sensor"}], q="zone==3"),
        _sub(2, entities=[{"type": "Sensor"}], q='zone=="3"'),
        _sub(3, entities=[{"type": "Sensor"}], q="zone==1,2"),
        _sub(4, entities=[{"type": "Sensor"}], q="zone>2"),
        _sub(5, entities=[{"type": "Sensor"}], q="on==true"),
    ]
    index = SubscriptionIndex(subs)
    assert index.by_value and len(index.by_type[("", _T)]) == 1

    def found(attrs: dict[str, Any]) -> list[str]:
        entity = {"id": "urn:e:1", "type": [_T], "attrs": attrs}
        table = ValueTable(entity)
        return _ids(index.candidates("", [_T], "urn:e:1", table))

    def prop(value: Any) -> list[dict[str, Any]]:
        return [{"type": "Property", "value": value}]

    zone, on = DEFAULT_VOCAB + "zone", DEFAULT_VOCAB + "on"
    assert found({zone: prop(3)}) == ["1", "4"]
    assert found({zone: prop(3.0)}) == ["1", "4"]
    assert found({zone: prop("3")}) == ["2", "4"]
    assert found({zone: prop(2)}) == ["3", "4"]
    assert found({zone: prop(7), on: prop(True)}) == ["4", "5"]
    assert found({on: prop(1)}) == ["4"]  # a number is not a boolean
    # Without the entity's values every subscription stays a candidate.
    assert _ids(index.candidates("", [_T], "urn:e:1")) == ["1", "2", "3", "4", "5"]


_qs = st.sampled_from(
    ["p==1", "p==1,2", 'p=="a"', "p==true", "p==1;q==2", "p[k]==1", "p!=1", "p", "q==2|p==1"]
)


@given(st.lists(_qs, min_size=1, max_size=12), _attrs)
def test_the_index_never_misses_a_subscription(queries: list[str], attrs: Any) -> None:
    subs = [_sub(n, entities=[{"type": "Sensor"}], q=q) for n, q in enumerate(queries)]
    entity = {
        "id": "urn:e:x",
        "type": [_T],
        "attrs": {DEFAULT_VOCAB + k: v for k, v in attrs.items()},
    }
    table = ValueTable(entity)
    brute = {s.id for s in subs if s.selects(entity)}
    indexed = {
        s.id
        for s in SubscriptionIndex(subs).candidates("", [_T], "urn:e:x", table)
        if s.selects(entity, table)
    }
    assert indexed == brute
