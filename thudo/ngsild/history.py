"""History by default: the attribute instances that a change of an entity adds to its
temporal representation (clause 4.5.8). Every write through the core API is recorded,
so the temporal API needs no separate component."""

from __future__ import annotations

from dataclasses import dataclass

from thudo.ngsild.model import Entity, Instance

__all__ = ["HistoryRow", "history_rows"]


@dataclass(frozen=True, slots=True)
class HistoryRow:
    """One attribute instance to record; ``deleted`` marks the deletion of the attribute."""

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
        old = _by_dataset(old_attrs.get(iri, []))
        for inst in instances:
            ds = inst.get("datasetId")
            if old.get(ds) != inst:
                rows.append(HistoryRow(iri, ds, inst))
    for iri, instances in old_attrs.items():
        new = _by_dataset(after["attrs"].get(iri, []))
        for inst in instances:
            ds = inst.get("datasetId")
            if ds not in new:
                rows.append(HistoryRow(iri, ds, {"type": inst.get("type", "Property")}, True))
    return rows
