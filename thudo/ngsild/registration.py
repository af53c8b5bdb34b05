"""Context source registrations (clause 5.2.9, 5.9): validation and matching for discovery.

thudo stores registrations and answers discovery queries over them. It does not yet
forward entity requests to the registered sources (distributed operations).
"""

from __future__ import annotations

import uuid
from typing import Any

from thudo.errors import BadRequestData
from thudo.ngsild.jsonld import ActiveContext
from thudo.ngsild.parse import expand_name
from thudo.ngsild.patterns import check_pattern, search
from thudo.ngsild.validate import check_datetime, check_geojson, check_uri, parse_datetime

__all__ = ["matches_registration", "merge_registration", "parse_registration"]

_MODES = frozenset({"inclusive", "exclusive", "redirect", "auxiliary"})
_MEMBERS = frozenset(
    {
        "id",
        "type",
        "registrationName",
        "description",
        "information",
        "tenant",
        "observationInterval",
        "managementInterval",
        "location",
        "observationSpace",
        "operationSpace",
        "expiresAt",
        "endpoint",
        "contextSourceInfo",
        "scope",
        "mode",
        "operations",
        "refreshRate",
        "management",
        "@context",
        "createdAt",
        "modifiedAt",
        "status",
        "timesSent",
        "timesFailed",
    }
)


def _information(raw: Any, ctx: ActiveContext, terms: dict[str, str]) -> list[dict[str, Any]]:
    if not isinstance(raw, list) or not raw:
        raise BadRequestData("information must be a non-empty array of RegistrationInfo")
    out = []
    for info in raw:
        if not isinstance(info, dict):
            raise BadRequestData("each RegistrationInfo must be an object")
        item: dict[str, Any] = {}
        entities = info.get("entities")
        if entities is not None:
            if not isinstance(entities, list) or not entities:
                raise BadRequestData("RegistrationInfo entities must be a non-empty array")
            item["entities"] = [_entity_info(e, ctx, terms) for e in entities]
        for key in ("propertyNames", "relationshipNames"):
            names = info.get(key)
            if names is not None:
                if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
                    raise BadRequestData(f"RegistrationInfo {key} must be an array of names")
                for n in names:
                    terms[n] = expand_name(n, ctx)
                item[key] = names
        if not item:
            raise BadRequestData(
                "a RegistrationInfo needs entities, propertyNames or relationshipNames"
            )
        out.append(item)
    return out


def _entity_info(raw: Any, ctx: ActiveContext, terms: dict[str, str]) -> dict[str, Any]:
    if not isinstance(raw, dict) or not isinstance(raw.get("type"), str):
        raise BadRequestData("each EntityInfo needs a type")
    terms[raw["type"]] = expand_name(raw["type"], ctx, "entity type")
    out: dict[str, Any] = {"type": raw["type"]}
    if raw.get("id") is not None:
        out["id"] = check_uri(raw["id"], "EntityInfo id")
    if raw.get("idPattern") is not None:
        out["idPattern"] = check_pattern(str(raw["idPattern"]), "EntityInfo idPattern")
    return out


def _check(key: str, value: Any, ctx: ActiveContext, terms: dict[str, str]) -> Any:
    if key == "information":
        return _information(value, ctx, terms)
    if key == "endpoint":
        return check_uri(value, "endpoint")
    if key in ("location", "observationSpace", "operationSpace"):
        return check_geojson(value, key)
    if key == "expiresAt":
        return check_datetime(value, "expiresAt")
    if key == "mode":
        if not isinstance(value, str) or value not in _MODES:
            raise BadRequestData(f"mode {value!r} is not one of {sorted(_MODES)}")
        return value
    if key in ("observationInterval", "managementInterval"):
        if not isinstance(value, dict) or not isinstance(value.get("startAt"), str):
            raise BadRequestData(f"{key} must be an object with startAt (and endAt)")
        return value
    if key in ("registrationName", "description", "tenant"):
        if not isinstance(value, str):
            raise BadRequestData(f"{key} must be a string")
        return value
    return value


def parse_registration(body: Any, ctx: ActiveContext, now: str) -> dict[str, Any]:
    """Validate a new registration; returns its stored form."""
    if not isinstance(body, dict):
        raise BadRequestData("a registration must be a JSON object")
    if body.get("type") != "ContextSourceRegistration":
        raise BadRequestData('a registration needs "type": "ContextSourceRegistration"')
    reg_id = body.get("id") or f"urn:ngsi-ld:ContextSourceRegistration:{uuid.uuid4()}"
    doc: dict[str, Any] = {"id": check_uri(reg_id, "registration id"), "type": body["type"]}
    terms: dict[str, str] = {}
    for key, value in body.items():
        if key not in _MEMBERS:
            raise BadRequestData(f"{key!r} is not a member of a ContextSourceRegistration")
        if key in ("id", "type", "@context", "createdAt", "modifiedAt", "status"):
            continue
        doc[key] = _check(key, value, ctx, terms)
    for required in ("information", "endpoint"):
        if required not in doc:
            raise BadRequestData(f"a registration needs {required}")
    expires = parse_datetime(doc.get("expiresAt", "")) if "expiresAt" in doc else None
    current = parse_datetime(now)
    if expires is not None and current is not None and expires <= current:
        raise BadRequestData(f"expiresAt {doc['expiresAt']!r} is in the past")
    doc["_terms"] = terms
    doc["createdAt"] = now
    doc["modifiedAt"] = now
    return doc


def merge_registration(
    current: dict[str, Any], fragment: Any, ctx: ActiveContext, now: str
) -> dict[str, Any]:
    """Apply an update fragment (clause 5.9.3)."""
    if not isinstance(fragment, dict) or not fragment:
        raise BadRequestData("a registration update must be a non-empty JSON object")
    terms = dict(current.get("_terms", {}))
    out = dict(current)
    for key, value in fragment.items():
        if key not in _MEMBERS:
            raise BadRequestData(f"{key!r} is not a member of a ContextSourceRegistration")
        if key in ("id", "type", "@context", "createdAt", "modifiedAt", "status"):
            continue
        if value is None:
            out.pop(key, None)
        else:
            out[key] = _check(key, value, ctx, terms)
    out["_terms"] = terms
    out["modifiedAt"] = now
    return out


def matches_registration(
    doc: dict[str, Any], ids: set[str] | None, types: set[str] | None, attrs: set[str] | None
) -> bool:
    """Discovery (clause 5.10): does the registration cover these ids, types, attributes?"""
    terms = doc.get("_terms", {})
    for info in doc.get("information", []):
        entities = info.get("entities") or [None]
        names = {
            terms.get(n, n) for k in ("propertyNames", "relationshipNames") for n in info.get(k, [])
        }
        if attrs is not None and names and not (names & attrs):
            continue
        for ent in entities:
            if ent is None:
                if types is None and ids is None:
                    return True
                continue
            if types is not None and terms.get(ent["type"], ent["type"]) not in types:
                continue
            if ids is not None:
                if ent.get("id") is not None and ent["id"] not in ids:
                    continue
                pattern = ent.get("idPattern")
                if pattern is not None and not any(search(pattern, i) for i in ids):
                    continue
            return True
    return False
