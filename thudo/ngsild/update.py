"""Pure changes to an internal entity: append, update, merge, replace and delete attributes.

These implement the semantics of clauses 5.6.2-5.6.18 on the internal form. The store
runs them inside its write transaction, on a copy of the stored entity, so a failure
leaves nothing half-written.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from thudo.errors import BadRequestData, ResourceNotFound
from thudo.ngsild.model import INSTANCE_MEMBERS, VALUE_MEMBER, Entity, Instance, find_instance
from thudo.ngsild.parse import is_null_instance

__all__ = [
    "UpdateResult",
    "append_attributes",
    "delete_attribute",
    "merge_entity",
    "partial_update_attribute",
    "replace_attribute",
    "replace_entity",
    "update_attributes",
]

_VALUE_MEMBERS = frozenset(VALUE_MEMBER.values())


@dataclass(slots=True)
class UpdateResult:
    """Which attributes were changed and which not, with the reason (clause 5.2.18)."""

    updated: list[str] = field(default_factory=list)
    not_updated: list[tuple[str, str]] = field(default_factory=list)


def _put_instance(
    target: list[Instance], inst: Instance, now: str, keep_created: bool = True
) -> None:
    i = find_instance(target, inst.get("datasetId"))
    if i < 0:
        target.append(inst)
        return
    if keep_created and "createdAt" in target[i]:
        inst["createdAt"] = target[i]["createdAt"]
    inst["modifiedAt"] = now
    target[i] = inst


def append_attributes(
    entity: Entity, attrs: dict[str, list[Instance]], now: str, no_overwrite: bool
) -> UpdateResult:
    """Append attributes (clause 5.6.3); existing ones are replaced unless noOverwrite."""
    result = UpdateResult()
    for iri, instances in attrs.items():
        current = entity["attrs"].setdefault(iri, [])
        changed = False
        for inst in instances:
            exists = find_instance(current, inst.get("datasetId")) >= 0
            if exists and no_overwrite:
                continue
            _put_instance(current, inst, now)
            changed = True
        if changed:
            result.updated.append(iri)
        else:
            result.not_updated.append((iri, "attribute exists and noOverwrite was requested"))
    _touch(entity, now, result)
    return result


def update_attributes(entity: Entity, attrs: dict[str, list[Instance]], now: str) -> UpdateResult:
    """Update attributes (clause 5.6.2).

    Instances that exist are replaced and null ones deleted. Instances that do not exist
    are added, as the ETSI conformance suite expects (test 011_01_03); deleting an
    instance that does not exist is reported as not updated.
    """
    result = UpdateResult()
    for iri, instances in attrs.items():
        current = entity["attrs"].setdefault(iri, [])
        changed = False
        for inst in instances:
            j = find_instance(current, inst.get("datasetId"))
            if is_null_instance(inst):
                if j >= 0:
                    del current[j]
                    changed = True
                continue
            _put_instance(current, inst, now)
            changed = True
        if not current:
            del entity["attrs"][iri]
        if changed:
            result.updated.append(iri)
        else:
            result.not_updated.append((iri, "attribute does not exist"))
    _touch(entity, now, result)
    return result


def _merge_instance(old: Instance, new: Instance, now: str) -> Instance:
    """Merge-patch one instance: given members replace, sub-attributes merge recursively."""
    if old.get("type") != new.get("type"):
        new["createdAt"] = old.get("createdAt", now)
        new["modifiedAt"] = now
        return new
    merged = dict(old)
    for key, member in new.items():
        if key == "createdAt":
            continue
        if key in INSTANCE_MEMBERS:
            merged[key] = member
        elif key in merged:
            subs = merged[key] = [dict(s) for s in merged[key]]
            for sub in member:
                j = find_instance(subs, sub.get("datasetId"))
                if j < 0:
                    subs.append(sub)
                else:
                    subs[j] = _merge_instance(subs[j], sub, now)
        else:
            merged[key] = member
    merged["modifiedAt"] = now
    return merged


def merge_entity(
    entity: Entity,
    attrs: dict[str, list[Instance]],
    now: str,
    new_types: list[str] | None = None,
    scope: list[str] | None = None,
) -> UpdateResult:
    """Merge an entity fragment (clause 5.6.17); null values delete attributes."""
    result = UpdateResult()
    for iri, instances in attrs.items():
        current = entity["attrs"].get(iri)
        for inst in instances:
            ds = inst.get("datasetId")
            j = -1 if current is None else find_instance(current, ds)
            if is_null_instance(inst):
                if current is not None and j >= 0:
                    del current[j]
                continue
            if current is None:
                current = entity["attrs"][iri] = []
            if j < 0:
                current.append(inst)
            else:
                current[j] = _merge_instance(current[j], inst, now)
        if current is not None and not current:
            del entity["attrs"][iri]
        result.updated.append(iri)
    if new_types:
        for t in new_types:
            if t not in entity["type"]:
                entity["type"].append(t)
    if scope is not None:
        entity["scope"] = scope
    entity["modifiedAt"] = now
    return result


def partial_update_attribute(
    entity: Entity, iri: str, name: str, fragment: list[Instance], now: str
) -> None:
    """Partial attribute update (clause 5.6.4): merge members into one existing instance."""
    current = entity["attrs"].get(iri)
    if current is None:
        raise ResourceNotFound(f"entity {entity['id']!r} has no attribute {name!r}")
    for inst in fragment:
        ds = inst.get("datasetId")
        j = find_instance(current, ds)
        if j < 0:
            label = "default instance" if ds is None else f"instance with datasetId {ds!r}"
            raise ResourceNotFound(f"attribute {name!r} has no {label}")
        if is_null_instance(inst):
            del current[j]
            continue
        old = current[j]
        if "type" not in inst:
            inst["type"] = old.get("type")
        elif inst.get("type") != old.get("type") and _infers_type(inst):
            inst["type"] = old["type"]
            _move_value(inst, old["type"])
        current[j] = _merge_instance(old, inst, now)
    if not current:
        del entity["attrs"][iri]
    entity["modifiedAt"] = now


def _infers_type(inst: Instance) -> bool:
    """True when the fragment's type was only inferred from a concise payload."""
    return inst.get("type") == "Property" and "value" in inst


def _move_value(inst: Instance, kind: str) -> None:
    target = VALUE_MEMBER.get(kind, "value")
    if target != "value" and "value" in inst:
        inst[target] = inst.pop("value")


def replace_attribute(
    entity: Entity, iri: str, name: str, instances: list[Instance], now: str
) -> None:
    """Replace an existing attribute (clause 5.6.19)."""
    current = entity["attrs"].get(iri)
    if current is None:
        raise ResourceNotFound(f"entity {entity['id']!r} has no attribute {name!r}")
    for inst in instances:
        if is_null_instance(inst):
            raise BadRequestData(f"attribute {name!r} cannot be replaced by null")
        _put_instance(current, inst, now)
    entity["modifiedAt"] = now


def delete_attribute(
    entity: Entity, iri: str, name: str, dataset_id: str | None, delete_all: bool, now: str
) -> None:
    """Delete an attribute instance, or all instances (clause 5.6.5)."""
    current = entity["attrs"].get(iri)
    if current is None:
        raise ResourceNotFound(f"entity {entity['id']!r} has no attribute {name!r}")
    if delete_all:
        del entity["attrs"][iri]
    else:
        j = find_instance(current, dataset_id)
        if j < 0:
            label = "default instance" if dataset_id is None else f"datasetId {dataset_id!r}"
            raise ResourceNotFound(f"attribute {name!r} has no {label}")
        del current[j]
        if not current:
            del entity["attrs"][iri]
    entity["modifiedAt"] = now


def replace_entity(old: Entity, new: Entity, now: str) -> Entity:
    """Replace an entity (clause 5.6.18), keeping its creation time."""
    new["createdAt"] = old.get("createdAt", now)
    new["modifiedAt"] = now
    return new


def _touch(entity: Entity, now: str, result: UpdateResult) -> None:
    if result.updated:
        entity["modifiedAt"] = now


def copy_entity(entity: Entity) -> Entity:
    """A deep copy, so that a failed change never alters the original."""
    out: Entity = copy.deepcopy(entity)
    return out


def strip_nulls(attrs: dict[str, list[Instance]]) -> dict[str, Any]:
    """Drop deletion markers from parsed attributes (for operations without null)."""
    return {k: [i for i in v if not is_null_instance(i)] for k, v in attrs.items()}
