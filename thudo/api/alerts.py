"""Alerts for people: the public warning feed (CAP 1.2 and Atom) and the operators' actions.

- ``GET /alerts``: the tenant's alerts as JSON (``?status=active|acknowledged|resolved``).
- ``GET /alerts/rules``: the alert rules in force; ``POST`` adds one (the TOML fields as
  JSON), ``DELETE /alerts/rules/{id}`` removes one added that way.
- ``GET /alerts/feed.atom``: an Atom feed embedding each alert's CAP message.
- ``GET /alerts/{id}/cap``: one alert as a CAP 1.2 message.
- ``POST /alerts/{id}/acknowledge`` and ``/resolve`` with ``{"by": "<who>"}``.

The alerts themselves are NGSI-LD ``Alert`` entities, so subscriptions deliver them too.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, unquote

import orjson
from starlette.responses import Response

from thudo.analytics.alerting import Alert, AlertStatus
from thudo.analytics.cap import CAP_MEDIA_TYPE, Publisher, atom_feed, cap_message
from thudo.api.call import Call
from thudo.api.reply import Reply
from thudo.errors import BadRequestData, InvalidRequest, MethodNotAllowed, ResourceNotFound
from thudo.pipeline.alerts import AlertKeeper

__all__ = ["ALERTS_PREFIX", "handle_alerts"]

ALERTS_PREFIX = "/alerts"
_ATOM = "application/atom+xml"


def _allow(method: str, allowed: str) -> None:
    if method not in allowed.split(", "):
        raise MethodNotAllowed(
            f"{method} is not allowed here; use {allowed}", headers={"Allow": allowed}
        )


def _json(body: Any) -> Response:
    return Reply(orjson.dumps(body), 200, media_type="application/json")


def _publisher(call: Call) -> Publisher:
    s = call.settings
    try:
        return Publisher(sender=s.cap_sender, status=s.cap_status, web=call.base_url)  # type: ignore[arg-type]
    except ValueError as exc:
        raise InvalidRequest(f"the CAP publisher settings are invalid: {exc}") from None


async def handle_alerts(call: Call, path: str, keeper: AlertKeeper | None) -> Response:
    """Dispatch one /alerts request."""
    if keeper is None:
        raise ResourceNotFound("alerts are off (analytics_enabled = false)")
    raw = path[len(ALERTS_PREFIX) :].strip("/")
    segments = [unquote(s) for s in raw.split("/")] if raw else []
    method = call.request.method
    if not segments:
        _allow(method, "GET")
        return _json([_summary(a) for a in await _filtered(call, keeper)])
    if segments == ["rules"]:
        _allow(method, "GET, POST")
        if method == "POST":
            body, _ = await call.json_body()
            rule = await keeper.add_rule(body)
            return Reply(orjson.dumps(_rule(rule)), 201, media_type="application/json")
        return _json([_rule(r) for r in keeper.rules])
    if len(segments) == 2 and segments[0] == "rules":
        _allow(method, "DELETE")
        await keeper.remove_rule(segments[1])
        return Reply(b"", 204)
    if segments == ["feed.atom"]:
        _allow(method, "GET")
        return await _feed(call, keeper)
    if len(segments) == 2 and segments[1] == "cap":
        _allow(method, "GET")
        alert = await _one(call, keeper, segments[0])
        return Reply(cap_message(alert, _publisher(call)), 200, media_type=CAP_MEDIA_TYPE)
    if len(segments) == 2 and segments[1] in ("acknowledge", "resolve"):
        _allow(method, "POST")
        by = await _who(call)
        done = await keeper.act(call.tenant, segments[0], segments[1], by)
        return _json(_summary(done))
    raise ResourceNotFound(f"there is nothing at {path!r}")


async def _who(call: Call) -> str:
    body, _ = await call.json_body()
    by = body.get("by") if isinstance(body, dict) else None
    if not isinstance(by, str) or not by.strip() or len(by) > 200:
        raise BadRequestData('the payload must be {"by": "<who acts>"} (1-200 characters)')
    return by.strip()


async def _filtered(call: Call, keeper: AlertKeeper) -> list[Alert]:
    alerts = await keeper.alerts(call.tenant)
    status = call.params.get("status")
    if status is not None:
        if status not in {s.value for s in AlertStatus}:
            raise InvalidRequest("status must be active, acknowledged or resolved")
        alerts = [a for a in alerts if a.status == status]
    return sorted(alerts, key=lambda a: (a.updated_at, a.id), reverse=True)


async def _one(call: Call, keeper: AlertKeeper, alert_id: str) -> Alert:
    for alert in await keeper.alerts(call.tenant):
        if alert.id == alert_id:
            return alert
    raise ResourceNotFound(f"alert {alert_id!r} does not exist")


async def _feed(call: Call, keeper: AlertKeeper) -> Response:
    lang = call.params.get("lang", "vi")
    if lang not in ("vi", "en"):
        raise InvalidRequest("lang must be vi or en")
    base = call.base_url
    body = atom_feed(
        await _filtered(call, keeper),
        _publisher(call),
        feed_id=f"{base}/alerts/feed.atom",
        title="Cảnh báo Hà Nội (thudo)" if lang == "vi" else "Hanoi warnings (thudo)",
        updated=datetime.now(UTC),
        self_url=f"{base}/alerts/feed.atom",
        alert_url=lambda a: f"{base}/alerts/{quote(a.id, safe=':')}/cap",
        lang=lang,  # type: ignore[arg-type]
    )
    return Reply(body, 200, media_type=_ATOM)


def _summary(alert: Alert) -> dict[str, Any]:
    def text(value: Any) -> Any:
        if isinstance(value, datetime):
            return value.isoformat()
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return dataclasses.asdict(value)
        return value

    out = {f.name: text(getattr(alert, f.name)) for f in dataclasses.fields(alert)}
    out["status"] = str(alert.status)
    out["valid_to"] = text(alert.valid_to)
    return out


def _rule(rule: Any) -> dict[str, Any]:
    return dataclasses.asdict(rule)
