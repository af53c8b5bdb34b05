"""History by default: the attribute instances that a change of an entity adds to its
temporal representation (clause 4.5.8). Every write through the core API is recorded,
so the temporal API needs no separate component."""

from __future__ import annotations

from typing import Any, NamedTuple

from thudo.ngsild.model import VALUE_MEMBER, Entity, Instance, find_instance
from thudo.ngsild.parse import NULL

__all__ = [
    "SCOPE_IRI",
    "HistoryRow",
    "deletion_marker",
    "history_rows",
    "latest_state",
    "scope_rows",
]

# The temporal representation tracks an entity's scope as a Property holding the list.
SCOPE_IRI = "https://uri.etsi.org/ngsi-ld/scope"


class HistoryRow(NamedTuple):
    """One attribute instance to record; ``deleted`` marks the deletion of the attribute.

    A named tuple: a batch of 1,000 entities makes thousands, and a frozen dataclass costs
    several times more to build."""

    attr: str
    dataset_id: str | None
    instance: Instance
    deleted: bool = False


def _by_dataset(instances: list[Instance]) -> dict[str | None, Instance]:
    return {i.get("datasetId"): i for i in instances}


def history_rows(before: Entity | None, after: Entity | None) -> list[HistoryRow]:
    """New or changed instances of ``after``, and deletion markers for what it lost."""
    if after is None:
        return []
    old_attrs = before["attrs"] if before is not None else {}
    rows: list[HistoryRow] = []
    for iri, instances in after["attrs"].items():
        was = old_attrs.get(iri)
        if was is None:  # a new attribute: every instance is new
            rows.extend(HistoryRow(iri, inst.get("datasetId"), inst) for inst in instances)
            continue
        if was == instances:
            continue
        old = _by_dataset(was)
        for inst in instances:
            ds = inst.get("datasetId")
            if old.get(ds) != inst:
                rows.append(HistoryRow(iri, ds, inst))
    for iri, instances in old_attrs.items():
        if after["attrs"].get(iri) == instances:
            continue
        new = _by_dataset(after["attrs"].get(iri, []))
        for inst in instances:
            ds = inst.get("datasetId")
            if ds not in new:
                rows.append(HistoryRow(iri, ds, deletion_marker(inst), True))
    rows.extend(scope_rows(before.get("scope") if before is not None else None, after.get("scope")))
    return rows


def scope_rows(before: list[str] | None, after: list[str] | None) -> list[HistoryRow]:
    """The instance recording a change of scope: the new list, or [] once it is deleted."""
    if before == after:
        return []
    if after:
        return [HistoryRow(SCOPE_IRI, None, {"type": "Property", "value": list(after)})]
    if before:
        return [HistoryRow(SCOPE_IRI, None, {"type": "Property", "value": []}, True)]
    return []


def deletion_marker(inst: Instance) -> Instance:
    """The instance recorded when an attribute is deleted: its value is the NGSI-LD null."""
    kind = inst.get("type", "Property")
    member = VALUE_MEMBER.get(kind, "value")
    null: Any = {"@none": NULL} if kind == "LanguageProperty" else NULL
    marker: Instance = {"type": kind, member: null}
    if inst.get("datasetId") is not None:
        marker["datasetId"] = inst["datasetId"]
    return marker


def _stamp(inst: Instance) -> str:
    return str(inst.get("observedAt") or "")


def latest_state(
    entity_id: str,
    types: list[str] | None,
    scope: list[str] | None,
    attrs: dict[str, list[Instance]],
    now: str,
    current: Entity | None,
) -> tuple[Entity, Any]:
    """The current state after instances were added to the history: per attribute and
    datasetId, the most recent instance (by observedAt) wins."""
    entity: Entity = current or {
        "id": entity_id,
        "type": list(types or []),
        "createdAt": now,
        "attrs": {},
    }
    for t in types or ():
        if t not in entity["type"]:
            entity["type"].append(t)
    if scope:
        entity["scope"] = scope
    for iri, instances in attrs.items():
        target = entity["attrs"].setdefault(iri, [])
        for inst in sorted(instances, key=_stamp):
            j = find_instance(target, inst.get("datasetId"))
            if j < 0:
                target.append(dict(inst))
            elif _stamp(inst) >= _stamp(target[j]):
                target[j] = {**inst, "createdAt": target[j].get("createdAt", now)}
    entity["modifiedAt"] = now
    return entity, None
