"""The searchable values of an entity: the rows behind q, shared by every backend.

Each attribute instance yields a marker row (its path and attribute type) and one row
per scalar in its value: numbers and booleans in ``num``, strings and date-times in
``txt``. Paths join an attribute to its sub-attributes and members with ``SUB_SEP`` and
a value to its JSON keys with ``KEY_SEP``, the same way ``q`` paths are compiled.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from thudo.ngsild.model import KEY_SEP, SUB_SEP, Entity, Instance, is_sub_attribute
from thudo.ngsild.validate import normalize_datetime

__all__ = [
    "K_ATTR",
    "K_BOOL",
    "K_NUM",
    "K_STR",
    "K_SUB",
    "K_TIME",
    "IndexRow",
    "attribute_rows",
    "geo_values",
    "index_rows",
    "q_path",
]

K_ATTR, K_NUM, K_STR, K_BOOL, K_TIME, K_SUB = range(6)
IndexRow = tuple[str, int, float | None, str | None]
_LOOKS_LIKE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")
_MAX_DEPTH = 24


def q_path(attr: str, subs: tuple[str, ...] = (), keys: tuple[str, ...] = ()) -> str:
    """The index path of an attribute, its sub-attributes or members, and JSON keys."""
    path = attr
    for s in subs:
        path += SUB_SEP + s
    for k in keys:
        path += KEY_SEP + k
    return path


#: Instance members with an index row; createdAt and modifiedAt only when asked for.
_MEMBERS = ("observedAt",)
_ALL_TIMES = ("observedAt", "createdAt", "modifiedAt")


def index_rows(entity: Entity, system_times: bool = False) -> list[IndexRow]:
    """Every index row of an entity.

    The stores leave out the rows of each attribute's createdAt and modifiedAt, which
    would double the rows for a rare kind of query (``q=attr.createdAt>…``); matching in
    memory (subscriptions) includes them.
    """
    rows: list[IndexRow] = []
    times = _ALL_TIMES if system_times else _MEMBERS
    for iri, instances in entity["attrs"].items():
        for inst in instances:
            _instance_rows(rows, iri, inst, K_ATTR, 0, times)
    return rows


def attribute_rows(
    iri: str, instances: Iterable[Instance], system_times: bool = False
) -> list[IndexRow]:
    """The index rows of one attribute (all its instances)."""
    rows: list[IndexRow] = []
    times = _ALL_TIMES if system_times else _MEMBERS
    for inst in instances:
        _instance_rows(rows, iri, inst, K_ATTR, 0, times)
    return rows


def _instance_rows(
    rows: list[IndexRow],
    path: str,
    inst: Instance,
    marker: int,
    depth: int,
    times: tuple[str, ...],
) -> None:
    kind = inst.get("type", "Property")
    rows.append((path, marker, None, kind))
    if kind in ("Property", "JsonProperty"):
        _value_rows(rows, path, inst.get("value", inst.get("json")), depth)
    elif kind == "ListProperty":
        _value_rows(rows, path, inst.get("valueList"), depth)
    elif kind == "Relationship":
        obj = inst.get("object")
        for target in obj if isinstance(obj, list) else [obj]:
            rows.append((path, K_STR, None, target))
    elif kind == "ListRelationship":
        for item in inst.get("objectList", []):
            rows.append((path, K_STR, None, item.get("object")))
    elif kind == "LanguageProperty":
        for tag, text in inst.get("languageMap", {}).items():
            _value_rows(rows, path, text, depth)
            _value_rows(rows, path + KEY_SEP + tag, text, depth)
    elif kind == "VocabProperty":
        _value_rows(rows, path, inst.get("vocab"), depth)
    for key, member in inst.items():
        if key in times:
            stamp = normalize_datetime(member) if isinstance(member, str) else None
            rows.append((path + SUB_SEP + key, K_TIME, None, stamp))
        elif key in ("unitCode", "datasetId"):
            rows.append((path + SUB_SEP + key, K_STR, None, member))
        elif is_sub_attribute(key) and depth < _MAX_DEPTH:
            for sub in member:
                _instance_rows(rows, path + SUB_SEP + key, sub, K_SUB, depth + 1, times)


def _value_rows(rows: list[IndexRow], path: str, value: Any, depth: int) -> None:
    if value is None or depth > _MAX_DEPTH:
        return
    if value is True or value is False:
        rows.append((path, K_BOOL, 1.0 if value else 0.0, None))
    elif isinstance(value, int | float):
        rows.append((path, K_NUM, float(value), None))
    elif isinstance(value, str):
        rows.append((path, K_STR, None, value))
        if _LOOKS_LIKE_TIME.match(value):
            stamp = normalize_datetime(value)
            if stamp is not None:
                rows.append((path, K_TIME, None, stamp))
    elif isinstance(value, list):
        for item in value:
            _value_rows(rows, path, item, depth + 1)
    elif isinstance(value, dict):
        if "@value" in value:
            _value_rows(rows, path, value["@value"], depth + 1)
            return
        for key, item in value.items():
            _value_rows(rows, path + KEY_SEP + key, item, depth + 1)


def geo_values(entity: Entity) -> list[tuple[str, dict[str, Any]]]:
    """The GeoJSON geometries of the entity's GeoProperties, by attribute IRI."""
    out: list[tuple[str, dict[str, Any]]] = []
    for iri, instances in entity["attrs"].items():
        for inst in instances:
            if inst.get("type") == "GeoProperty" and isinstance(inst.get("value"), dict):
                out.append((iri, inst["value"]))
    return out
