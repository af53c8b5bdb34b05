"""The subscription resource (clause 5.8): create, retrieve, query, update, delete."""

from __future__ import annotations

import re
from typing import Any

from starlette.responses import Response

from thudo.api import media
from thudo.api.call import Call
from thudo.api.params import flag, options_set, paging
from thudo.errors import InvalidRequest, ResourceNotFound
from thudo.ngsild.jsonld import ActiveContext
from thudo.ngsild.subscription import DEFAULT_TRIGGERS, merge_subscription, parse_subscription
from thudo.ngsild.validate import check_uri, normalize_datetime, now_iso
from thudo.store.base import SubscriptionRecord

__all__ = [
    "create_subscription",
    "delete_subscription",
    "query_subscriptions",
    "retrieve_subscription",
    "update_subscription",
]

_OFFERED = (media.JSON, media.JSONLD)
_TYPE_NAME = re.compile(r"[^,;|()\s]+")


def _path(sub_id: str) -> str:
    return "/ngsi-ld/v1/subscriptions/" + sub_id


async def _jsonld_context(call: Call, body: dict[str, Any], value: Any) -> str | None:
    """The ``jsonldContext`` member: as given, or a hosted copy of an inline or multi-URL
    @context (clause 5.2.12). A single @context URL needs none."""
    given = body.get("jsonldContext")
    if given is not None:
        url = check_uri(given, "jsonldContext")
        await call.state.contexts.resolve(url)
        return url
    if value is None or isinstance(value, str):
        return None
    if isinstance(value, list) and len(value) == 1 and isinstance(value[0], str):
        return None
    return await call.context_url(value)


async def create_subscription(call: Call) -> Response:
    """POST /subscriptions: 201 with Location; 409 if the id is taken."""
    body, kind = await call.json_body()
    if not isinstance(body, dict):
        raise InvalidRequest("a subscription must be a JSON object")
    ctx, value = await call.body_context(body, kind)
    doc = parse_subscription(body, ctx, now_iso(), call.settings.max_geometry_points)
    jsonld_context = await _jsonld_context(call, body, value)
    if jsonld_context is not None:
        doc["jsonldContext"] = jsonld_context
    context = value if value is not None else None
    await call.store.save_subscription(SubscriptionRecord(call.tenant, doc, context), create=True)
    await call.state.subscriptions_changed()
    return call.no_content(201, {"Location": _path(doc["id"])})


def _status(doc: dict[str, Any], now: str) -> str:
    expires = doc.get("expiresAt")
    if expires is not None and (normalize_datetime(expires) or "") <= now:
        return "expired"
    return "active" if doc.get("isActive", True) else "paused"


def _compact_names(names: list[str], terms: dict[str, str], ctx: ActiveContext) -> list[str]:
    return [ctx.compact(terms[n]) if n in terms else n for n in names]


def _compact_type_expr(text: str, terms: dict[str, str], ctx: ActiveContext) -> str:
    return _TYPE_NAME.sub(lambda m: ctx.compact(terms.get(m.group(), m.group())), text)


def render_subscription(
    rec: SubscriptionRecord, ctx: ActiveContext, sys_attrs: bool
) -> dict[str, Any]:
    """The subscription as clients read it (clause 5.2.12), in the request's terms."""
    doc, stats = rec.doc, rec.stats
    terms = doc.get("_terms", {})
    out: dict[str, Any] = {k: v for k, v in doc.items() if not k.startswith("_")}
    if not sys_attrs:
        out.pop("createdAt", None)
        out.pop("modifiedAt", None)
    if "entities" in out:
        out["entities"] = [
            {**s, "type": _compact_type_expr(s["type"], terms, ctx)} for s in out["entities"]
        ]
    if "watchedAttributes" in out:
        out["watchedAttributes"] = _compact_names(out["watchedAttributes"], terms, ctx)
    out.setdefault("notificationTrigger", list(DEFAULT_TRIGGERS))
    out["status"] = _status(doc, normalize_datetime(now_iso()) or "")
    notification = dict(out["notification"])
    if "attributes" in notification:
        notification["attributes"] = _compact_names(notification["attributes"], terms, ctx)
    _add_stats(notification, stats)
    out["notification"] = notification
    return out


def _add_stats(notification: dict[str, Any], stats: Any) -> None:
    if stats.last_notification is None:
        return  # nothing was attempted yet
    notification["timesSent"] = stats.times_sent
    if stats.times_failed:
        notification["timesFailed"] = stats.times_failed
    for key, value in (
        ("lastNotification", stats.last_notification),
        ("lastSuccess", stats.last_success),
        ("lastFailure", stats.last_failure),
    ):
        if value is not None:
            notification[key] = value
    if stats.last_notification is not None:
        failed = stats.last_failure is not None and stats.last_failure == stats.last_notification
        notification["status"] = "failed" if failed else "ok"


async def retrieve_subscription(call: Call, sub_id: str) -> Response:
    """GET /subscriptions/{id}."""
    kind = media.negotiate(call.header("accept"), _OFFERED)
    check_uri(sub_id, "subscription id")
    ctx, value = await call.read_context()
    await call.state.deliveries_settled(call.tenant, sub_id)
    rec = await call.store.get_subscription(call.tenant, sub_id)
    if rec is None:
        raise ResourceNotFound(f"subscription {sub_id!r} does not exist")
    sys_attrs = "sysAttrs" in options_set(call.params)
    return await call.answer(render_subscription(rec, ctx, sys_attrs), value, kind)


async def query_subscriptions(call: Call) -> Response:
    """GET /subscriptions, paged."""
    kind = media.negotiate(call.header("accept"), _OFFERED)
    ctx, value = await call.read_context()
    limit, offset = paging(call.params, call.settings)
    records, total = await call.store.list_subscriptions(call.tenant, limit, offset)
    sys_attrs = "sysAttrs" in options_set(call.params)
    payload = [render_subscription(r, ctx, sys_attrs) for r in records]
    extra = {"NGSILD-Results-Count": str(total)} if flag(call.params, "count") else {}
    links = _page_links(limit, offset, total)
    response = await call.answer(payload, value, kind, extra=extra)
    if links:
        existing = response.headers.get("link")
        response.headers["Link"] = ",".join([*([existing] if existing else []), *links])
    return response


def _page_links(limit: int, offset: int, total: int) -> list[str]:
    """rel=prev/next links for paging through subscriptions (clause 5.5.9)."""
    base = "/ngsi-ld/v1/subscriptions"
    links = []
    if offset > 0 and limit > 0:
        prev = max(0, offset - limit)
        links.append(f'<{base}?limit={limit}&offset={prev}>;rel="prev";type="application/ld+json"')
    if limit > 0 and offset + limit < total:
        links.append(
            f'<{base}?limit={limit}&offset={offset + limit}>;rel="next";type="application/ld+json"'
        )
    return links


async def update_subscription(call: Call, sub_id: str) -> Response:
    """PATCH /subscriptions/{id}: merge the fragment into the subscription."""
    check_uri(sub_id, "subscription id")
    body, kind = await call.json_body(allow_merge_patch=True)
    if not isinstance(body, dict):
        raise InvalidRequest("a subscription update must be a JSON object")
    ctx, value = await call.body_context(body, kind)
    rec = await call.store.get_subscription(call.tenant, sub_id)
    if rec is None:
        raise ResourceNotFound(f"subscription {sub_id!r} does not exist")
    doc = merge_subscription(rec.doc, body, ctx, now_iso(), call.settings.max_geometry_points)
    if body.get("jsonldContext") is not None:
        doc["jsonldContext"] = await _jsonld_context(call, body, value)
    rec.doc = doc
    await call.store.save_subscription(rec, create=False)
    await call.state.subscriptions_changed()
    return call.no_content()


async def delete_subscription(call: Call, sub_id: str) -> Response:
    """DELETE /subscriptions/{id}."""
    check_uri(sub_id, "subscription id")
    if not await call.store.delete_subscription(call.tenant, sub_id):
        raise ResourceNotFound(f"subscription {sub_id!r} does not exist")
    await call.state.subscriptions_changed()
    return call.no_content()
