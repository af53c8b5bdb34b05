"""The internal form of an entity, shared by the parser, the renderer and the stores.

An entity is kept as a plain dict with expanded names::

    {"id": "urn:…", "type": ["https://…/Vehicle"], "scope": ["/a"],        # scope optional
     "createdAt": "…", "modifiedAt": "…",
     "attrs": {"https://…/speed": [instance, …]}}

An attribute instance is a dict in normalized form: the members of clause 4.5 under their
short names (``type``, ``value``, ``observedAt``, …) and sub-attributes under their
expanded names (which always contain a colon), each a list of instances. A list holds
one instance per ``datasetId``; the default instance has none.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "ATTRIBUTE_TYPES",
    "ENTITY_MEMBERS",
    "INSTANCE_MEMBERS",
    "KEY_SEP",
    "SUB_SEP",
    "VALUE_MEMBER",
    "Entity",
    "Instance",
    "find_instance",
    "is_sub_attribute",
]

Entity = dict[str, Any]
Instance = dict[str, Any]

#: The member that carries the value of each kind of attribute (clause 4.5).
VALUE_MEMBER: dict[str, str] = {
    "Property": "value",
    "GeoProperty": "value",
    "Relationship": "object",
    "LanguageProperty": "languageMap",
    "VocabProperty": "vocab",
    "JsonProperty": "json",
    "ListProperty": "valueList",
    "ListRelationship": "objectList",
}
ATTRIBUTE_TYPES = frozenset(VALUE_MEMBER)

#: Members of an attribute instance that are not sub-attributes.
INSTANCE_MEMBERS = frozenset(
    {
        "type",
        "value",
        "object",
        "objectList",
        "objectType",
        "languageMap",
        "vocab",
        "json",
        "valueList",
        "observedAt",
        "unitCode",
        "datasetId",
        "createdAt",
        "modifiedAt",
        "deletedAt",
        "instanceId",
        "lang",
        "previousValue",
        "previousObject",
        "previousLanguageMap",
        "previousVocab",
        "previousJson",
        "previousValueList",
        "previousObjectList",
    }
)

#: Members of an entity that are not attributes.
ENTITY_MEMBERS = frozenset({"id", "type", "scope", "createdAt", "modifiedAt", "deletedAt"})


def is_sub_attribute(key: str) -> bool:
    """True if a key of an instance names a sub-attribute (an expanded IRI)."""
    return key not in INSTANCE_MEMBERS


def find_instance(instances: list[Instance], dataset_id: str | None) -> int:
    """The index of the instance with this datasetId (None: the default), or -1."""
    for i, inst in enumerate(instances):
        if inst.get("datasetId") == dataset_id:
            return i
    return -1


#: Separators of index paths: attribute → sub-attribute or member, and value → JSON key.
SUB_SEP = "\x1f"
KEY_SEP = "\x1e"
