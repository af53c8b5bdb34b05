"""Render internal entities in the representations of clause 4.5: normalized, concise,
simplified (keyValues) and GeoJSON (clause 4.5.16), with projection, sysAttrs and lang.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from thudo.ngsild.jsonld import ActiveContext
from thudo.ngsild.model import INSTANCE_MEMBERS, VALUE_MEMBER, Entity, Instance
from thudo.ngsild.projection import Projection

__all__ = ["LOCATION", "RenderOptions", "render_attribute", "render_entity", "render_feature"]

LOCATION = "https://uri.etsi.org/ngsi-ld/location"
_SYS = ("createdAt", "modifiedAt")


@dataclass(frozen=True, slots=True)
class RenderOptions:
    """How to render: format, system attributes, projection and language."""

    fmt: str = "normalized"  # normalized | concise | keyValues
    sys_attrs: bool = False
    attrs: frozenset[str] | None = None  # expanded names to keep
    pick: frozenset[str] | None = None  # expanded names, plus "id"/"type"/"scope"
    omit: frozenset[str] | None = None
    lang: tuple[str, ...] | None = None  # language preference, "*" for any
    dataset_ids: frozenset[str | None] | None = None
    pick_tree: Projection | None = None  # nested projections, for joined entities
    omit_tree: Projection | None = None

    def for_linked(self, attr: str) -> RenderOptions:
        """The options for entities joined through attribute ``attr``."""
        pick = self.pick_tree.get(attr) if self.pick_tree is not None else None
        omit = self.omit_tree.get(attr) if self.omit_tree is not None else None
        return replace(
            self,
            attrs=None,
            pick=frozenset(pick) if pick is not None else None,
            omit=frozenset(k for k, v in omit.items() if v is None) if omit is not None else None,
            pick_tree=pick,
            omit_tree=omit,
        )


def _keep(name: str, opts: RenderOptions) -> bool:
    if opts.attrs is not None and name not in opts.attrs:
        return False
    if opts.pick is not None and name not in opts.pick:
        return False
    return not (opts.omit is not None and name in opts.omit)


def render_entity(entity: Entity, ctx: ActiveContext, opts: RenderOptions) -> dict[str, Any]:
    """One entity in the requested representation, names compacted by ``ctx``."""
    out: dict[str, Any] = {}
    for member in ("id", "type", "scope"):
        if member not in entity or not _keep_member(member, opts):
            continue
        if member == "type":
            types = [ctx.compact(t) for t in entity["type"]]
            out["type"] = types[0] if len(types) == 1 else types
        elif member == "scope":
            scope = entity["scope"]
            out["scope"] = scope[0] if len(scope) == 1 else scope
        else:
            out["id"] = entity["id"]
    if opts.sys_attrs:
        for key in _SYS:
            if key in entity:
                out[key] = entity[key]
    if "deletedAt" in entity:
        out["deletedAt"] = entity["deletedAt"]
    for iri, instances in entity["attrs"].items():
        if not _keep(iri, opts):
            continue
        rendered = render_attribute(instances, ctx, opts)
        if rendered is not None:
            out[ctx.compact(iri)] = rendered
    return out


def _keep_member(member: str, opts: RenderOptions) -> bool:
    if opts.pick is not None and member not in opts.pick:
        return False
    return not (opts.omit is not None and member in opts.omit)


def render_attribute(instances: list[Instance], ctx: ActiveContext, opts: RenderOptions) -> Any:
    """One attribute (all its instances) in the requested representation."""
    chosen = instances
    if opts.dataset_ids is not None:
        chosen = [i for i in instances if i.get("datasetId") in opts.dataset_ids]
        if not chosen:
            return None
    if opts.fmt == "keyValues":
        if len(chosen) == 1:
            return _simple_value(chosen[0], ctx, opts)
        # Several instances: keyed by datasetId, the default one under @none (clause 4.5.4).
        return {
            "dataset": {i.get("datasetId", "@none"): _simple_value(i, ctx, opts) for i in chosen}
        }
    parts = [_render_instance(i, ctx, opts, opts.fmt == "concise") for i in chosen]
    return parts[0] if len(parts) == 1 else parts


def _pick_language(lmap: dict[str, Any], prefs: tuple[str, ...]) -> tuple[str, Any]:
    for pref in prefs:
        if pref == "*":
            break
        if pref in lmap:
            return pref, lmap[pref]
        for tag, text in lmap.items():
            if tag.lower().split("-")[0] == pref.lower().split("-")[0]:
                return tag, text
    if "@none" in lmap:
        return "@none", lmap["@none"]
    tag = next(iter(lmap))
    return tag, lmap[tag]


def _simple_value(inst: Instance, ctx: ActiveContext, opts: RenderOptions) -> Any:
    kind = inst.get("type", "Property")
    vkey = VALUE_MEMBER.get(kind, "value")
    value = inst.get(vkey)
    if kind == "LanguageProperty":
        if opts.lang is not None and isinstance(value, dict):
            return _pick_language(value, opts.lang)[1]
        return {"languageMap": value}
    if kind == "VocabProperty":
        return {"vocab": _compact_vocab(value, ctx)}
    if kind == "JsonProperty":
        return {"json": value}
    if kind == "ListProperty":
        return {"valueList": value}
    if kind == "ListRelationship":
        return {"objectList": value}
    return value


def _compact_vocab(value: Any, ctx: ActiveContext) -> Any:
    if isinstance(value, list):
        return [ctx.compact(v) for v in value]
    return ctx.compact(value)


def _render_instance(inst: Instance, ctx: ActiveContext, opts: RenderOptions, concise: bool) -> Any:
    kind = inst.get("type", "Property")
    out: dict[str, Any] = {}
    if kind == "LanguageProperty" and opts.lang is not None:
        tag, text = _pick_language(inst["languageMap"], opts.lang)
        out = {"type": "Property", "value": text, "lang": tag}
        kind = "Property"
    else:
        out["type"] = kind
    for key, member in inst.items():
        if key == "type" or key in out:
            continue
        if key in INSTANCE_MEMBERS:
            if key in _SYS and not opts.sys_attrs:
                continue
            if key == "languageMap" and "lang" in out:
                continue
            vocab = key in ("vocab", "previousVocab") and member != "urn:ngsi-ld:null"
            out[key] = _compact_vocab(member, ctx) if vocab else member
        else:
            sub = [_render_instance(s, ctx, opts, concise) for s in member]
            out[ctx.compact(key)] = sub[0] if len(sub) == 1 else sub
    return _concise(out, kind) if concise else out


def _concise(out: dict[str, Any], kind: str) -> Any:
    """Clause 4.5.6: drop what a reader can infer from the members that remain."""
    if kind in ("Property", "GeoProperty") and "lang" not in out:
        del out["type"]
        if len(out) == 1 and "value" in out and not isinstance(out["value"], dict):
            return out["value"]
        if kind == "GeoProperty" and len(out) == 1:
            return out["value"]
        return out
    if kind in VALUE_MEMBER and kind != "Property":
        del out["type"]
    return out


def render_feature(
    entity: Entity,
    ctx: ActiveContext,
    opts: RenderOptions,
    geometry_property: str = LOCATION,
) -> dict[str, Any]:
    """One entity as a GeoJSON Feature (clause 4.5.16)."""
    body = render_entity(entity, ctx, opts)
    eid = body.pop("id", entity["id"])
    geometry = None
    for inst in entity["attrs"].get(geometry_property, []):
        if inst.get("type") == "GeoProperty":
            geometry = inst.get("value")
            break
    return {"id": eid, "type": "Feature", "geometry": geometry, "properties": body}
