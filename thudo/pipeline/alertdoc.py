"""Alerts as NGSI-LD ``Alert`` entities (Smart Data Model), and back.

Category, subCategory, severity, location, validFrom/validTo and the source entity follow the
Smart Data Model; the headline, description and instruction are LanguageProperties in
Vietnamese and English; ``alertStatus`` with who and when records the lifecycle.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from thudo.analytics.alerting import Alert, AlertStatus, Bilingual
from thudo.ngsild.jsonld import ActiveContext, core_context
from thudo.ngsild.model import Entity
from thudo.ngsild.parse import ParseOptions, parse_entity

__all__ = ["ALERT_TYPE", "alert_body", "alert_entity", "alert_from_entity"]

ALERT_TYPE = "Alert"


def _prop(value: Any) -> dict[str, Any]:
    return {"type": "Property", "value": value}


def _lang(text: Bilingual) -> dict[str, Any]:
    return {"type": "LanguageProperty", "languageMap": {"vi": text.vi, "en": text.en}}


def _time(moment: datetime | None) -> dict[str, Any] | None:
    if moment is None:
        return None
    return _prop({"@type": "DateTime", "@value": moment.isoformat()})


def alert_body(alert: Alert) -> dict[str, Any]:
    """The alert as an NGSI-LD entity in normalized form (short names, core @context)."""
    body: dict[str, Any] = {
        "id": alert.id,
        "type": ALERT_TYPE,
        "category": _prop(alert.category),
        "subCategory": _prop(alert.sub_category),
        "severity": _prop(alert.severity),
        "headline": _lang(alert.headline),
        "description": _lang(alert.description),
        "alertSource": {"type": "Relationship", "object": alert.entity_id},
        "ruleId": _prop(alert.rule_id),
        "triggerValue": _prop(alert.value),
        "validFrom": _time(alert.valid_from),
        "dateIssued": _time(alert.valid_from),
        "alertStatus": _prop(str(alert.status)),
    }
    optional = {
        "instruction": _lang(alert.instruction) if alert.instruction else None,
        "areaServed": _prop(alert.area_name) if alert.area_name else None,
        "location": {"type": "GeoProperty", "value": dict(alert.location)}
        if alert.location
        else None,
        "validTo": _time(alert.valid_to),
        "acknowledgedBy": _prop(alert.acknowledged_by) if alert.acknowledged_by else None,
        "acknowledgedAt": _time(alert.acknowledged_at),
        "resolvedBy": _prop(alert.resolved_by) if alert.resolved_by else None,
        "resolvedAt": _time(alert.resolved_at),
    }
    body.update({k: v for k, v in optional.items() if v is not None})
    return body


def alert_entity(alert: Alert, now: str) -> Entity:
    """The alert in the internal form the store keeps."""
    return parse_entity(alert_body(alert), core_context(), now, ParseOptions())


def _member(entity: Entity, ctx: ActiveContext, name: str, member: str = "value") -> Any:
    instances = entity["attrs"].get(ctx.expand(name))
    if not instances:
        return None
    return instances[0].get(member)


def _datetime(raw: Any) -> datetime | None:
    if isinstance(raw, dict):
        raw = raw.get("@value")
    return datetime.fromisoformat(raw) if isinstance(raw, str) else None


def _bilingual(entity: Entity, ctx: ActiveContext, name: str) -> Bilingual | None:
    langs = _member(entity, ctx, name, "languageMap")
    if not isinstance(langs, dict):
        return None
    return Bilingual(str(langs.get("vi", "")), str(langs.get("en", "")))


def alert_from_entity(entity: Entity) -> Alert:
    """The alert an ``Alert`` entity written by ``alert_entity`` holds."""
    ctx = core_context()

    def get(name: str, member: str = "value") -> Any:
        return _member(entity, ctx, name, member)

    valid_from = _datetime(get("validFrom"))
    if valid_from is None:
        raise ValueError(f"alert {entity['id']} has no validFrom")
    return Alert(
        id=entity["id"],
        rule_id=str(get("ruleId")),
        entity_id=str(get("alertSource", "object")),
        category=str(get("category")),
        sub_category=str(get("subCategory")),
        severity=get("severity"),
        headline=_bilingual(entity, ctx, "headline") or Bilingual("", ""),
        description=_bilingual(entity, ctx, "description") or Bilingual("", ""),
        instruction=_bilingual(entity, ctx, "instruction"),
        value=float(get("triggerValue") or 0.0),
        valid_from=valid_from,
        area_name=str(get("areaServed") or ""),
        location=get("location"),
        status=AlertStatus(get("alertStatus") or "active"),
        acknowledged_by=get("acknowledgedBy"),
        acknowledged_at=_datetime(get("acknowledgedAt")),
        resolved_by=get("resolvedBy"),
        resolved_at=_datetime(get("resolvedAt")),
    )
