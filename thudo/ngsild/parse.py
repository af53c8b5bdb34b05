"""Turn request payloads (normalized or concise, clause 4.5) into the internal entity form.

Names are expanded through the request's active context. Every check raises
BadRequestData with a message that names the attribute and the member at fault.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from thudo.errors import BadRequestData
from thudo.ngsild.jsonld import ActiveContext
from thudo.ngsild.model import (
    ATTRIBUTE_TYPES,
    ENTITY_MEMBERS,
    INSTANCE_MEMBERS,
    VALUE_MEMBER,
    Entity,
    Instance,
)
from thudo.ngsild.validate import (
    GEOJSON_TYPES,
    check_datetime,
    check_geojson,
    check_name,
    check_uri,
    is_uri,
)

__all__ = [
    "NULL",
    "ParseOptions",
    "expand_name",
    "expand_type",
    "is_null_instance",
    "parse_attribute",
    "parse_attributes",
    "parse_entity",
    "parse_scope",
]

#: The NGSI-LD null (clause 4.5.0): deletes an attribute in merge operations.
NULL = "urn:ngsi-ld:null"
_NULL_MARK = "@null"
_GEO_NAMES = frozenset(
    {
        "https://uri.etsi.org/ngsi-ld/location",
        "https://uri.etsi.org/ngsi-ld/observationSpace",
        "https://uri.etsi.org/ngsi-ld/operationSpace",
    }
)
_LANG_TAG = re.compile(r"^(@none|[A-Za-z]{1,8}(-[A-Za-z0-9]{1,8})*)$")
_SCOPE = re.compile(r"^/[A-Za-z0-9_\-]+(/[A-Za-z0-9_\-]+)*$")
_CONCISE_KEYS = {
    "object": "Relationship",
    "objectList": "ListRelationship",
    "languageMap": "LanguageProperty",
    "vocab": "VocabProperty",
    "json": "JsonProperty",
    "valueList": "ListProperty",
}
_SYSTEM_MEMBERS = frozenset({"createdAt", "modifiedAt", "deletedAt", "instanceId"})


@dataclass(frozen=True, slots=True)
class ParseOptions:
    """How strict a parse is: nulls are allowed only in merge operations."""

    allow_null: bool = False
    max_attributes: int = 1000


def expand_name(name: Any, ctx: ActiveContext, what: str = "attribute name") -> str:
    """Check an attribute name (clause 4.6.2) and expand it to an IRI."""
    if not isinstance(name, str):
        raise BadRequestData(f"{what} must be a string")
    # The checks pass or fail alike for every kind of name: a passed one is not checked again.
    known = ctx.checked_names.get(name)
    if known is not None:
        return known
    if not is_uri(name) or "//" not in name:
        check_name(name, what)
    iri = ctx.expand(name)
    if ":" not in iri:
        raise BadRequestData(f"{what} {name!r} cannot be expanded to an IRI by the @context")
    if len(ctx.checked_names) < 100_000:
        ctx.checked_names[name] = iri
    return iri


def expand_type(name: Any, ctx: ActiveContext) -> str:
    """Check an entity type name and expand it to an IRI."""
    return expand_name(name, ctx, "entity type")


def parse_types(raw: Any, ctx: ActiveContext) -> list[str]:
    """The expanded, de-duplicated types of an entity (a string or a non-empty list)."""
    names = [raw] if isinstance(raw, str) else raw
    if not isinstance(names, list) or not names:
        raise BadRequestData("entity type must be a string or a non-empty list of strings")
    out: list[str] = []
    for n in names:
        iri = expand_type(n, ctx)
        if iri not in out:
            out.append(iri)
    return out


def parse_scope(raw: Any) -> list[str]:
    """Check an entity scope (clause 4.18): a string or a list of /a/b paths."""
    values = [raw] if isinstance(raw, str) else raw
    if not isinstance(values, list) or not values:
        raise BadRequestData("scope must be a string or a non-empty list of strings")
    out: list[str] = []
    for v in values:
        if not isinstance(v, str) or not _SCOPE.match(v):
            raise BadRequestData(f"scope {v!r} is not of the form /name/name")
        if v not in out:
            out.append(v)
    return out


def parse_entity(body: Any, ctx: ActiveContext, now: str, opts: ParseOptions) -> Entity:
    """Parse a whole entity for create, replace or upsert (clause 5.6.1)."""
    if not isinstance(body, dict):
        raise BadRequestData("an entity must be a JSON object")
    if "id" not in body:
        raise BadRequestData("the entity has no id")
    eid = check_uri(body["id"], "entity id")
    if "type" not in body:
        raise BadRequestData(f"entity {eid!r} has no type")
    entity: Entity = {"id": eid, "type": parse_types(body["type"], ctx)}
    if body.get("scope") is not None:
        entity["scope"] = parse_scope(body["scope"])
    entity["createdAt"] = now
    entity["modifiedAt"] = now
    entity["attrs"] = parse_attributes(body, ctx, now, opts)
    return entity


def parse_attributes(
    body: Any,
    ctx: ActiveContext,
    now: str,
    opts: ParseOptions,
) -> dict[str, list[Instance]]:
    """Parse the attributes of a fragment (append, update, merge)."""
    if not isinstance(body, dict):
        raise BadRequestData("the payload must be a JSON object of attributes")
    attrs: dict[str, list[Instance]] = {}
    for name, raw in body.items():
        if name == "@context" or name in ENTITY_MEMBERS:
            continue
        if name in INSTANCE_MEMBERS:
            raise BadRequestData(f"{name!r} is a reserved name and cannot be an attribute")
        iri = expand_name(name, ctx)
        if iri in attrs:
            raise BadRequestData(f"attribute {name!r} is given twice")
        attrs[iri] = parse_attribute(raw, iri, name, ctx, now, opts)
        if len(attrs) > opts.max_attributes:
            raise BadRequestData(f"more than {opts.max_attributes} attributes in one payload")
    return attrs


def is_null_instance(inst: Instance) -> bool:
    """True for an instance that asks for deletion (a null value in a merge)."""
    return inst.get(_NULL_MARK) is True


def parse_attribute(
    raw: Any, iri: str, name: str, ctx: ActiveContext, now: str, opts: ParseOptions
) -> list[Instance]:
    """Parse one attribute: a single instance or a list of instances with datasetIds."""
    if _is_instance_list(raw):
        instances = [_parse_instance(r, iri, name, ctx, now, opts, 0) for r in raw]
    else:
        instances = [_parse_instance(raw, iri, name, ctx, now, opts, 0)]
    seen: set[str | None] = set()
    for inst in instances:
        ds = inst.get("datasetId")
        if ds in seen:
            label = "the default instance" if ds is None else f"datasetId {ds!r}"
            raise BadRequestData(f"attribute {name!r} has {label} more than once")
        seen.add(ds)
    return instances


def _is_instance_list(raw: Any) -> bool:
    if not isinstance(raw, list) or not raw:
        return False
    return all(
        isinstance(r, dict)
        and ("type" in r or "datasetId" in r or any(k in r for k in _VALUE_KEYS))
        for r in raw
    )


_VALUE_KEYS = ("value", "object", "objectList", "languageMap", "vocab", "json", "valueList")


def _infer_type(raw: dict[str, Any], iri: str, name: str) -> str:
    kind = raw.get("type")
    if kind is not None:
        if kind in ATTRIBUTE_TYPES:
            return str(kind)
        if kind in GEOJSON_TYPES:
            return "GeoJSON"
        raise BadRequestData(f"attribute {name!r} has an unknown type {kind!r}")
    for key, inferred in _CONCISE_KEYS.items():
        if key in raw:
            return inferred
    if "value" in raw:
        value = raw["value"]
        if iri in _GEO_NAMES or (isinstance(value, dict) and value.get("type") in GEOJSON_TYPES):
            return "GeoProperty"
        return "Property"
    return ""


def _parse_instance(
    raw: Any,
    iri: str,
    name: str,
    ctx: ActiveContext,
    now: str,
    opts: ParseOptions,
    depth: int,
) -> Instance:
    if depth > 16:
        raise BadRequestData(f"attribute {name!r} nests sub-attributes too deeply")
    if raw is None or raw == NULL:
        return _null_instance(name, opts)
    if not isinstance(raw, dict):
        return _finish({"type": "Property", "value": raw}, now)
    kind = _infer_type(raw, iri, name)
    if kind == "GeoJSON":
        return _finish({"type": "GeoProperty", "value": check_geojson(raw, name)}, now)
    if kind == "":
        # Concise form of a Property whose value is a JSON object (clause 4.5.6).
        return _finish({"type": "Property", "value": raw}, now)
    inst: Instance = {"type": kind}
    vkey = VALUE_MEMBER[kind]
    if vkey not in raw:
        raise BadRequestData(f"attribute {name!r} is a {kind} but has no {vkey!r} member")
    value = raw[vkey]
    if value is None:
        raise BadRequestData(
            f"attribute {name!r} has a null {vkey}; use {NULL!r} to delete an attribute"
        )
    if _is_ngsi_null(value):
        return _null_instance(name, opts, raw.get("datasetId"))
    inst[vkey] = _check_value(kind, value, name, ctx)
    for key, member in raw.items():
        if key in ("type", vkey) or key in _SYSTEM_MEMBERS:
            continue
        _add_member(inst, key, member, name, ctx, now, opts, depth)
    return _finish(inst, now)


def _is_ngsi_null(value: Any) -> bool:
    """The NGSI-LD null, alone or as the only entry of a languageMap or a list."""
    if value == NULL:
        return True
    if isinstance(value, dict) and len(value) == 1:
        return bool(next(iter(value.values())) == NULL)
    return isinstance(value, list) and value == [NULL]


def _null_instance(name: str, opts: ParseOptions, dataset_id: Any = None) -> Instance:
    if not opts.allow_null:
        raise BadRequestData(f"attribute {name!r} has a null value")
    inst: Instance = {_NULL_MARK: True}
    if dataset_id is not None:
        inst["datasetId"] = check_uri(dataset_id, f"datasetId of {name!r}")
    return inst


def _finish(inst: Instance, now: str) -> Instance:
    inst["createdAt"] = now
    inst["modifiedAt"] = now
    return inst


def _add_member(
    inst: Instance,
    key: str,
    member: Any,
    name: str,
    ctx: ActiveContext,
    now: str,
    opts: ParseOptions,
    depth: int,
) -> None:
    if key == "observedAt":
        inst[key] = check_datetime(member, f"observedAt of {name!r}")
    elif key == "datasetId":
        inst[key] = check_uri(member, f"datasetId of {name!r}")
    elif key == "unitCode":
        if not isinstance(member, str):
            raise BadRequestData(f"unitCode of {name!r} must be a string")
        inst[key] = member
    elif key in ("lang", "objectType"):
        inst[key] = member
    elif key in INSTANCE_MEMBERS:
        raise BadRequestData(f"attribute {name!r} of type {inst['type']} cannot have {key!r}")
    elif key == "@context":
        return
    else:
        sub_iri = expand_name(key, ctx, "sub-attribute name")
        sub_opts = ParseOptions(allow_null=False, max_attributes=opts.max_attributes)
        if _is_instance_list(member):
            inst[sub_iri] = [
                _parse_instance(m, sub_iri, key, ctx, now, sub_opts, depth + 1) for m in member
            ]
        else:
            inst[sub_iri] = [_parse_instance(member, sub_iri, key, ctx, now, sub_opts, depth + 1)]


def _check_value(kind: str, value: Any, name: str, ctx: ActiveContext) -> Any:
    if kind == "GeoProperty":
        return check_geojson(value, f"GeoProperty {name!r}")
    if kind == "Relationship":
        if isinstance(value, list):
            if not value:
                raise BadRequestData(f"Relationship {name!r} has an empty object list")
            return [check_uri(v, f"object of Relationship {name!r}") for v in value]
        return check_uri(value, f"object of Relationship {name!r}")
    if kind == "LanguageProperty":
        return _check_language_map(value, name)
    if kind == "VocabProperty":
        return _expand_vocab(value, name, ctx)
    if kind == "ListProperty":
        if not isinstance(value, list):
            raise BadRequestData(f"valueList of ListProperty {name!r} must be an array")
        return value
    if kind == "ListRelationship":
        return _check_object_list(value, name)
    return value


def _check_language_map(value: Any, name: str) -> dict[str, Any]:
    if not isinstance(value, dict) or not value:
        raise BadRequestData(f"languageMap of {name!r} must be a non-empty JSON object")
    for tag, text in value.items():
        if not _LANG_TAG.match(tag):
            raise BadRequestData(f"languageMap of {name!r}: {tag!r} is not a language tag")
        texts = text if isinstance(text, list) else [text]
        if not all(isinstance(t, str) for t in texts):
            raise BadRequestData(f"languageMap of {name!r}: the {tag!r} entry must be text")
    return value


def _expand_vocab(value: Any, name: str, ctx: ActiveContext) -> Any:
    if isinstance(value, str):
        return ctx.expand(value)
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return [ctx.expand(v) for v in value]
    raise BadRequestData(f"vocab of VocabProperty {name!r} must be a string or strings")


def _check_object_list(value: Any, name: str) -> list[Any]:
    if not isinstance(value, list):
        raise BadRequestData(f"objectList of ListRelationship {name!r} must be an array")
    out: list[Any] = []
    for item in value:
        target = item.get("object") if isinstance(item, dict) else item
        out.append({"object": check_uri(target, f"objectList item of {name!r}")})
    return out
