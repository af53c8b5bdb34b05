"""Routing: NGSI-LD paths to handlers, on the raw (still percent-encoded) path.

Entity ids, type names and @context URLs are IRIs that may hold an encoded ``/``; the
path is therefore split on ``/`` before each segment is decoded. Each route lists the
query parameters it accepts: anything else is a 400 InvalidRequest (clause 6.3.x).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import unquote

from starlette.responses import Response

from thudo.api import (
    attributes,
    batch,
    discovery,
    entities,
    ldcontexts,
    query,
    registrations,
    subscriptions,
    temporal,
)
from thudo.api.call import Call
from thudo.errors import (
    BadRequestData,
    InvalidRequest,
    MethodNotAllowed,
    OperationNotSupported,
    ResourceNotFound,
)

__all__ = ["PREFIX", "Route", "resolve"]

PREFIX = "/ngsi-ld/v1/"
Handler = Callable[..., Awaitable[Response]]


def _params(text: str) -> frozenset[str]:
    """Query parameter names written as one space-separated string."""
    return frozenset(text.split())


_QUERY = _params(
    "id type idPattern attrs q scopeQ geoproperty georel geometry coordinates options format "
    "limit offset count local datasetId join joinLevel pick omit orderBy lang csf "
    "geometryProperty expandValues containedBy entityMap collect"
)
_RETRIEVE = _params(
    "attrs geometryProperty options format lang join joinLevel pick omit local type datasetId "
    "containedBy entityMap expandValues"
)
_PURGE = _params("type id idPattern q scopeQ keep drop local")
_WRITE = _params("local options type")
_DELETE_ATTR = _params("datasetId deleteAll lang local")
_BATCH = _params("options local")
_POST_QUERY = _params("options local limit offset count format lang")
_DISCOVERY = _params("details limit offset local")
_CONTEXT_LIST = _params("details kind")


@dataclass(frozen=True, slots=True)
class Route:
    """A handler, its path arguments and the query parameters it accepts."""

    handler: Handler
    args: tuple[str, ...]
    params: frozenset[str]

    async def run(self, call: Call) -> Response:
        """Check the query parameters, then call the handler."""
        for name in call.params:
            if name not in self.params:
                raise InvalidRequest(f"unknown query parameter {name!r}")
        return await self.handler(call, *self.args)


def _not_allowed(method: str, allowed: str) -> MethodNotAllowed:
    return MethodNotAllowed(
        f"{method} is not allowed here; use {allowed}", headers={"Allow": allowed}
    )


def _pick(
    method: str, table: dict[str, tuple[Handler, frozenset[str]]], args: tuple[str, ...]
) -> Route:
    entry = table.get(method)
    if entry is None:
        raise _not_allowed(method, ", ".join(table))
    return Route(entry[0], args, entry[1])


def _nonempty(value: str, what: str) -> str:
    if not value:
        raise BadRequestData(f"the {what} in the path is empty")
    return value


def _entities(method: str, seg: list[str]) -> Route:
    n = len(seg)
    if n == 1 or (n == 2 and seg[1] == "" and method in ("GET", "POST", "DELETE")):
        return _pick(
            method,
            {
                "GET": (query.query_entities, _QUERY),
                "POST": (entities.create_entity, frozenset({"local"})),
                "DELETE": (query.purge_entities, _PURGE),
            },
            (),
        )
    if n == 2:
        eid = _nonempty(seg[1], "entity id")
        return _pick(
            method,
            {
                "GET": (entities.retrieve_entity, _RETRIEVE),
                "PUT": (entities.replace_entity_call, _WRITE),
                "PATCH": (entities.merge_entity_call, _WRITE),
                "DELETE": (entities.delete_entity, _WRITE),
            },
            (eid,),
        )
    if seg[2] != "attrs" or n > 4:
        raise ResourceNotFound("no such resource under /entities")
    eid = _nonempty(seg[1], "entity id")
    if n == 3 or seg[3] == "":
        return _pick(
            method,
            {"POST": (attributes.append_attrs, _WRITE), "PATCH": (attributes.update_attrs, _WRITE)},
            (eid,),
        )
    return _pick(
        method,
        {
            "PATCH": (attributes.partial_update_attr, _WRITE),
            "PUT": (attributes.replace_attr, _WRITE),
            "DELETE": (attributes.delete_attr, _DELETE_ATTR),
        },
        (eid, seg[3]),
    )


def _entity_operations(method: str, seg: list[str]) -> Route:
    if len(seg) == 3 and seg[2] == "":
        seg = seg[:2]  # a trailing slash, as some clients send
    if len(seg) != 2 or not seg[1]:
        raise ResourceNotFound("use /entityOperations/create|upsert|update|merge|delete|query")
    if seg[1] == "query":
        return _pick(method, {"POST": (query.query_entities_post, _POST_QUERY)}, ())
    return _pick(method, {"POST": (batch.batch_operation, _BATCH)}, (seg[1],))


def _discovery(method: str, seg: list[str], many: Handler, one: Handler) -> Route:
    if len(seg) == 1 or (len(seg) == 2 and seg[1] == ""):
        return _pick(method, {"GET": (many, _DISCOVERY)}, ())
    if len(seg) == 2:
        return _pick(method, {"GET": (one, frozenset({"local"}))}, (seg[1],))
    raise ResourceNotFound(f"no such resource under /{seg[0]}")


def _contexts(method: str, seg: list[str]) -> Route:
    if len(seg) == 1 or (len(seg) == 2 and seg[1] == ""):
        return _pick(
            method,
            {
                "GET": (ldcontexts.list_contexts, _CONTEXT_LIST),
                "POST": (ldcontexts.add_context, frozenset()),
            },
            (),
        )
    if len(seg) == 2:
        return _pick(
            method,
            {
                "GET": (ldcontexts.serve_context, frozenset({"details"})),
                "DELETE": (ldcontexts.delete_context, frozenset({"reload"})),
            },
            (seg[1],),
        )
    raise ResourceNotFound("no such resource under /jsonldContexts")


_SUB_QUERY = frozenset({"limit", "offset", "count", "options"})


def _subscriptions(method: str, seg: list[str]) -> Route:
    if len(seg) == 1 or (len(seg) == 2 and seg[1] == ""):
        return _pick(
            method,
            {
                "GET": (subscriptions.query_subscriptions, _SUB_QUERY),
                "POST": (subscriptions.create_subscription, frozenset()),
            },
            (),
        )
    if len(seg) == 2:
        return _pick(
            method,
            {
                "GET": (subscriptions.retrieve_subscription, frozenset({"options"})),
                "PATCH": (subscriptions.update_subscription, frozenset()),
                "DELETE": (subscriptions.delete_subscription, frozenset()),
            },
            (seg[1],),
        )
    raise ResourceNotFound("no such resource under /subscriptions")


_TEMPORAL_QUERY = _params(
    "id type idPattern attrs q scopeQ geoproperty georel geometry coordinates "
    "timerel timeAt endTimeAt timeproperty lastN options format aggrMethods "
    "aggrPeriodDuration limit offset count local lang datasetId pick omit orderBy"
)
_TEMPORAL_ONE = _params(
    "attrs timerel timeAt endTimeAt timeproperty lastN options format aggrMethods "
    "aggrPeriodDuration lang local datasetId pick omit"
)


def _temporal(method: str, seg: list[str]) -> Route:
    if len(seg) == 3 and seg[1] == "entityOperations" and seg[2] == "query":
        return _pick(method, {"POST": (temporal.query_temporal_post, _TEMPORAL_POST_QUERY)}, ())
    if len(seg) < 2 or seg[1] != "entities":
        raise ResourceNotFound("no such resource under /temporal; use /temporal/entities")
    n = len(seg)
    if n == 2 or (n == 3 and seg[2] == ""):
        return _pick(
            method,
            {
                "GET": (temporal.query_temporal, _TEMPORAL_QUERY),
                "POST": (temporal.create_temporal, frozenset({"local"})),
            },
            (),
        )
    eid = _nonempty(seg[2], "entity id")
    if n == 3:
        return _pick(
            method,
            {
                "GET": (temporal.retrieve_temporal, _TEMPORAL_ONE),
                "DELETE": (temporal.delete_temporal, frozenset({"local"})),
            },
            (eid,),
        )
    if seg[3] != "attrs" or n > 6:
        raise ResourceNotFound("no such resource under /temporal/entities")
    if n == 4 or (n == 5 and seg[4] == ""):
        return _pick(method, {"POST": (temporal.append_temporal_attrs, frozenset())}, (eid,))
    if n == 5:
        return _pick(
            method,
            {"DELETE": (temporal.delete_temporal_attr, frozenset({"datasetId", "deleteAll"}))},
            (eid, seg[4]),
        )
    if method == "PATCH" and (not seg[4] or not seg[5]):
        raise _not_allowed(method, "DELETE")
    return _pick(
        method,
        {
            "PATCH": (temporal.modify_temporal_instance, frozenset()),
            "DELETE": (temporal.delete_temporal_instance, frozenset()),
        },
        (eid, _nonempty(seg[4], "attribute name"), _nonempty(seg[5], "instanceId")),
    )


_TEMPORAL_POST_QUERY = _params(
    "options format limit offset count local lastN aggrMethods aggrPeriodDuration lang"
)

_CSR_QUERY = _params(
    "id type idPattern attrs q csf georel geometry coordinates geoproperty "
    "timeproperty timerel timeAt endTimeAt limit offset count options local"
)


def _registrations(method: str, seg: list[str]) -> Route:
    if len(seg) == 1 or (len(seg) == 2 and seg[1] == ""):
        return _pick(
            method,
            {
                "GET": (registrations.query_registrations, _CSR_QUERY),
                "POST": (registrations.create_registration, frozenset()),
            },
            (),
        )
    if len(seg) == 2:
        return _pick(
            method,
            {
                "GET": (registrations.retrieve_registration, _params("options")),
                "PATCH": (registrations.update_registration, frozenset()),
                "DELETE": (registrations.delete_registration, frozenset()),
            },
            (seg[1],),
        )
    raise ResourceNotFound("no such resource under /csourceRegistrations")


_LATER = frozenset(
    {
        "csourceRegistrationOperations",
        "entityMaps",
        "snapshots",
    }
)


def resolve(method: str, raw_path: str) -> Route:
    """The route for a method and a raw path under /ngsi-ld/v1/."""
    seg = [unquote(s) for s in raw_path[len(PREFIX) :].split("/")]
    head = seg[0]
    if head == "entities":
        return _entities(method, seg)
    if head == "entityOperations":
        return _entity_operations(method, seg)
    if head == "types":
        return _discovery(method, seg, discovery.retrieve_types, discovery.retrieve_type)
    if head == "attributes":
        return _discovery(method, seg, discovery.retrieve_attributes, discovery.retrieve_attribute)
    if head == "jsonldContexts":
        return _contexts(method, seg)
    if head == "subscriptions":
        return _subscriptions(method, seg)
    if head == "temporal":
        return _temporal(method, seg)
    if head == "csourceRegistrations":
        return _registrations(method, seg)
    if head == "csourceSubscriptions":
        return _pick(
            method,
            {
                "GET": (registrations.query_registration_subscriptions, _params("limit offset")),
                "POST": (registrations.query_registration_subscriptions, frozenset()),
            },
            (),
        )
    if head == "temporalOperations" and len(seg) == 2 and seg[1] == "query":
        return _pick(method, {"POST": (temporal.query_temporal_post, _TEMPORAL_POST_QUERY)}, ())
    if head in _LATER:
        raise OperationNotSupported(
            f"/{head} is not supported by this version of thudo", status=501
        )
    raise ResourceNotFound(f"there is no NGSI-LD resource {'/' + '/'.join(seg)!r}")
