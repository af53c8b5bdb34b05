"""Subscriptions (clause 5.2.12, 5.8): validation of the payload and its stored form.

A stored subscription keeps the names as the client wrote them, plus ``_terms``: every
name it uses mapped to its IRI under the subscription's @context. Matching therefore
needs no @context at all, and the subscription reads back in the client's own terms.
"""

from __future__ import annotations

import ipaddress
import re
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote, urlsplit

from thudo.errors import BadRequestData
from thudo.ngsild.geoquery import parse_geoq
from thudo.ngsild.jsonld import ActiveContext
from thudo.ngsild.parse import expand_name
from thudo.ngsild.patterns import check_pattern
from thudo.ngsild.projection import ENTITY_KEYS, parse_projection
from thudo.ngsild.qlang import MEMBER_NAMES, parse_q
from thudo.ngsild.scopeq import parse_scope_q
from thudo.ngsild.typeexpr import parse_type_expr
from thudo.ngsild.validate import check_datetime, check_uri, parse_datetime

__all__ = [
    "DEFAULT_TRIGGERS",
    "FORMATS",
    "TRIGGERS",
    "merge_subscription",
    "parse_subscription",
    "term_expander",
]

TRIGGERS = frozenset(
    {
        "entityCreated",
        "entityUpdated",
        "entityDeleted",
        "attributeCreated",
        "attributeUpdated",
        "attributeDeleted",
    }
)
DEFAULT_TRIGGERS = ("attributeCreated", "attributeUpdated")
FORMATS = frozenset({"normalized", "keyValues", "simplified", "concise"})
_ACCEPT = frozenset({"application/json", "application/ld+json", "application/geo+json"})
_SCHEMES = ("http://", "https://", "mqtt://", "mqtts://")
# A host name: labels of letters, digits, "_" and inner "-", separated by dots.
_HOST_NAME = re.compile(r"(?:[^\W_]|_)(?:[\w-]*\w)?(?:\.(?:[^\W_]|_)(?:[\w-]*\w)?)*\.?")
_TOP_LEVEL = frozenset(
    {
        "id",
        "type",
        "subscriptionName",
        "description",
        "entities",
        "watchedAttributes",
        "notificationTrigger",
        "timeInterval",
        "q",
        "geoQ",
        "scopeQ",
        "lang",
        "csf",
        "isActive",
        "notification",
        "expiresAt",
        "throttling",
        "temporalQ",
        "jsonldContext",
        "@context",
        "status",
        "createdAt",
        "modifiedAt",
        "datasetId",
    }
)


def term_expander(terms: dict[str, str], default_vocab: str) -> Callable[[str], str]:
    """An ``expand`` function backed by a subscription's stored ``_terms``."""

    def expand(name: str) -> str:
        if name in terms:
            return terms[name]
        if ":" in name:
            return name
        return default_vocab + name

    return expand


class _Recorder:
    """Expands names with the request context and records them in ``_terms``."""

    def __init__(self, ctx: ActiveContext) -> None:
        self.ctx = ctx
        self.terms: dict[str, str] = {}

    def __call__(self, name: str) -> str:
        iri = self.terms.get(name)
        if iri is None:
            iri = expand_name(name, self.ctx) if name not in MEMBER_NAMES else name
            self.terms[name] = iri
        return iri


def _names(raw: Any, what: str, record: _Recorder) -> list[str]:
    if not isinstance(raw, list) or not raw or not all(isinstance(n, str) for n in raw):
        raise BadRequestData(f"{what} must be a non-empty array of attribute names")
    for n in raw:
        record(n)
    return list(dict.fromkeys(raw))


def _selectors(raw: Any, record: _Recorder) -> list[dict[str, Any]]:
    if not isinstance(raw, list) or not raw:
        raise BadRequestData("entities must be a non-empty array of EntitySelectors")
    out = []
    for sel in raw:
        if not isinstance(sel, dict):
            raise BadRequestData("each EntitySelector must be an object")
        unknown = set(sel) - {"id", "idPattern", "type"}
        if unknown:
            raise BadRequestData(f"EntitySelector has unknown members {sorted(unknown)}")
        if "type" not in sel or not isinstance(sel["type"], str):
            raise BadRequestData("each EntitySelector needs a type")
        parse_type_expr(sel["type"], record)
        item: dict[str, Any] = {"type": sel["type"]}
        if sel.get("id") is not None:
            item["id"] = check_uri(sel["id"], "EntitySelector id")
        if sel.get("idPattern") is not None:
            if not isinstance(sel["idPattern"], str):
                raise BadRequestData("EntitySelector idPattern must be a string")
            item["idPattern"] = check_pattern(sel["idPattern"], "idPattern")
        out.append(item)
    return out


def _key_values(raw: Any, what: str) -> list[dict[str, str]]:
    if not isinstance(raw, list) or not all(
        isinstance(kv, dict)
        and isinstance(kv.get("key"), str)
        and isinstance(kv.get("value"), str)
        and kv["key"]
        for kv in raw
    ):
        raise BadRequestData(f"{what} must be an array of {{key, value}} strings")
    for kv in raw:
        if re.search(r"[\r\n\x00]", kv["key"] + kv["value"]):
            raise BadRequestData(f"{what} keys and values cannot contain line breaks")
    return [{"key": kv["key"], "value": kv["value"]} for kv in raw]


def _endpoint(raw: Any) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise BadRequestData("notification.endpoint must be an object with a uri")
    uri = raw.get("uri")
    if not isinstance(uri, str) or not uri.startswith(_SCHEMES):
        raise BadRequestData(
            f"notification.endpoint.uri must be an http(s):// or mqtt(s):// URI, got {uri!r}"
        )
    check_uri(uri, "notification.endpoint.uri")
    _check_endpoint_address(uri)
    out: dict[str, Any] = {"uri": uri}
    accept = raw.get("accept")
    if accept is not None:
        if not isinstance(accept, str) or accept not in _ACCEPT:
            raise BadRequestData(f"notification.endpoint.accept {accept!r} is not supported")
        out["accept"] = accept
    for key in ("receiverInfo", "notifierInfo"):
        if raw.get(key) is not None:
            out[key] = _key_values(raw[key], f"notification.endpoint.{key}")
    return out


def _check_endpoint_address(uri: str) -> None:
    """The host and port of a notification endpoint can be connected to: a host name or
    an IP address, and a port from 1 to 65535 (a URI alone allows ``http://h:99999``,
    which every delivery would then fail on)."""
    if not _connectable(uri):
        raise BadRequestData(
            f"notification.endpoint.uri {uri!r} has no valid host, or a port outside 1-65535"
        )


def _connectable(uri: str) -> bool:
    try:
        parts = urlsplit(uri)
        port, host = parts.port, parts.hostname
    except ValueError:  # a port out of range or not a number, a broken IPv6 bracket
        return False
    if not host or port == 0:
        return False
    if parts.netloc.rpartition("@")[2].startswith("["):
        try:
            ipaddress.IPv6Address(host.partition("%")[0])
        except ValueError:
            return False
        return True
    return _HOST_NAME.fullmatch(host) is not None


def _notification(raw: Any, record: _Recorder) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise BadRequestData("notification must be an object with an endpoint")
    if "endpoint" not in raw:
        raise BadRequestData("notification needs an endpoint")
    out: dict[str, Any] = {"endpoint": _endpoint(raw["endpoint"])}
    if raw.get("attributes") is not None:
        out["attributes"] = _names(raw["attributes"], "notification.attributes", record)
    fmt = raw.get("format")
    if fmt is not None:
        if not isinstance(fmt, str) or fmt not in FORMATS:
            raise BadRequestData(f"notification.format {fmt!r} is not one of {sorted(FORMATS)}")
        out["format"] = fmt
    for flag in ("showChanges", "sysAttrs"):
        if raw.get(flag) is not None:
            if not isinstance(raw[flag], bool):
                raise BadRequestData(f"notification.{flag} must be true or false")
            out[flag] = raw[flag]
    for key in ("pick", "omit"):
        if raw.get(key) is not None:
            names = raw[key] if isinstance(raw[key], list) else [raw[key]]
            if not all(isinstance(n, str) for n in names):
                raise BadRequestData(f"notification.{key} must be attribute names")
            for n in names:
                for member in parse_projection(n, f"notification.{key}"):
                    if member not in ENTITY_KEYS:
                        record(member)
            out[key] = raw[key]
    if "pick" in out and "omit" in out:
        raise BadRequestData("notification cannot have both pick and omit")
    if "attributes" in out and ("pick" in out or "omit" in out):
        raise BadRequestData("notification.attributes cannot be combined with pick or omit")
    for key in ("join", "joinLevel"):
        if raw.get(key) is not None:
            out[key] = raw[key]
    return out


#: The longest timeInterval or throttling: about 31 years, in seconds (2**70 once went
#: into the store as an integer that SQLite cannot hold).
MAX_SECONDS = 1e9


def _positive(raw: Any, what: str) -> float:
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not 0 < raw <= MAX_SECONDS:
        raise BadRequestData(
            f"{what} must be a positive number of seconds, at most {MAX_SECONDS:.0e}"
        )
    return raw


def _check_timing(sub: dict[str, Any]) -> None:
    if "timeInterval" in sub:
        if "watchedAttributes" in sub:
            raise BadRequestData("timeInterval and watchedAttributes cannot be used together")
        if "throttling" in sub:
            raise BadRequestData("timeInterval and throttling cannot be used together")


def _is_trigger(value: Any) -> bool:
    return isinstance(value, str) and value in TRIGGERS


def _validate_field(
    key: str, value: Any, out: dict[str, Any], record: _Recorder, now: str, max_points: int
) -> None:
    if key == "entities":
        out[key] = _selectors(value, record)
    elif key == "watchedAttributes":
        out[key] = _names(value, "watchedAttributes", record)
    elif key == "notificationTrigger":
        if not isinstance(value, list) or not value or not all(_is_trigger(t) for t in value):
            raise BadRequestData(
                f"notificationTrigger must list triggers among {', '.join(sorted(TRIGGERS))}"
            )
        out[key] = list(dict.fromkeys(value))
    elif key in ("timeInterval", "throttling"):
        out[key] = _positive(value, key)
    elif key == "q":
        if not isinstance(value, str):
            raise BadRequestData("q must be a string")
        # Clients often send q as they would in a URL, percent-encoded.
        text = unquote(value) if "%" in value else value
        parse_q(text, record)
        out[key] = text
    elif key == "scopeQ":
        if not isinstance(value, str):
            raise BadRequestData("scopeQ must be a string")
        parse_scope_q(value)
        out[key] = value
    elif key == "geoQ":
        out[key] = _geoq(value, record, max_points)
    elif key == "expiresAt":
        check_datetime(value, "expiresAt")
        stamp, current = parse_datetime(value), parse_datetime(now)
        if stamp is not None and current is not None and stamp <= current:
            raise BadRequestData(f"expiresAt {value!r} is in the past")
        out[key] = value
    elif key == "isActive":
        if not isinstance(value, bool):
            raise BadRequestData("isActive must be true or false")
        out[key] = value
    elif key in ("subscriptionName", "description", "lang"):
        if not isinstance(value, str):
            raise BadRequestData(f"{key} must be a string")
        out[key] = value
    elif key == "notification":
        out[key] = _notification(value, record)
    elif key == "datasetId":
        values = value if isinstance(value, list) else [value]
        for v in values:
            if v != "@none":
                check_uri(v, "datasetId")
        out[key] = value
    elif key == "csf":
        raise BadRequestData("csf needs context source registrations, which are not supported")


def _geoq(raw: Any, record: _Recorder, max_points: int) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise BadRequestData("geoQ must be an object with geometry, coordinates and georel")
    prop = raw.get("geoproperty", "location")
    if not isinstance(prop, str):
        raise BadRequestData("geoQ.geoproperty must be an attribute name")
    parse_geoq(
        raw.get("georel"), raw.get("geometry"), raw.get("coordinates"), record(prop), max_points
    )
    return {k: raw[k] for k in ("georel", "geometry", "coordinates", "geoproperty") if k in raw}


def parse_subscription(
    body: Any, ctx: ActiveContext, now: str, max_points: int = 10_000
) -> dict[str, Any]:
    """Validate a new subscription; returns its stored form (without delivery status)."""
    if not isinstance(body, dict):
        raise BadRequestData("a subscription must be a JSON object")
    if body.get("type") != "Subscription":
        raise BadRequestData('a subscription needs "type": "Subscription"')
    sub_id = body["id"] if "id" in body else f"urn:ngsi-ld:Subscription:{uuid.uuid4()}"
    out: dict[str, Any] = {"id": check_uri(sub_id, "subscription id"), "type": "Subscription"}
    record = _Recorder(ctx)
    _fill(body, out, record, now, max_points)
    if "entities" not in out and "watchedAttributes" not in out:
        raise BadRequestData("a subscription needs entities or watchedAttributes")
    if "notification" not in out:
        raise BadRequestData("a subscription needs a notification member")
    _check_timing(out)
    out["_terms"] = record.terms
    out["createdAt"] = now
    out["modifiedAt"] = now
    return out


def _fill(
    body: dict[str, Any], out: dict[str, Any], record: _Recorder, now: str, max_points: int
) -> None:
    for key, value in body.items():
        if key not in _TOP_LEVEL:
            raise BadRequestData(f"{key!r} is not a member of a Subscription")
        if key in ("id", "type", "@context", "status", "createdAt", "modifiedAt", "jsonldContext"):
            continue
        if value is None:
            continue
        _validate_field(key, value, out, record, now, max_points)


def merge_subscription(
    current: dict[str, Any], fragment: Any, ctx: ActiveContext, now: str, max_points: int = 10_000
) -> dict[str, Any]:
    """Apply an update fragment (clause 5.8.2): given members replace, null removes."""
    if not isinstance(fragment, dict) or not fragment:
        raise BadRequestData("a subscription update must be a non-empty JSON object")
    if fragment.get("type") not in (None, "Subscription"):
        raise BadRequestData("a subscription update can only have type Subscription")
    if "id" in fragment and fragment["id"] != current["id"]:
        raise BadRequestData("the id of a subscription cannot be changed")
    record = _Recorder(ctx)
    record.terms.update(current.get("_terms", {}))
    out = {k: v for k, v in current.items()}
    for key, value in fragment.items():
        if key in out and value is None and key not in ("id", "type"):
            del out[key]
    if "notification" in fragment and fragment["notification"] is None:
        raise BadRequestData("notification cannot be removed from a subscription")
    # Members given replace the stored ones whole, notification included (clause 5.8.2).
    _fill(fragment, out, record, now, max_points)
    if "entities" not in out and "watchedAttributes" not in out:
        raise BadRequestData("a subscription needs entities or watchedAttributes")
    _check_timing(out)
    out["_terms"] = record.terms
    out["modifiedAt"] = now
    return out
