"""Public warnings as OASIS Common Alerting Protocol 1.2 messages, and an Atom 1.0 feed of them.

One CAP message tells the state of one alert: ``Alert`` while it is active, ``Update`` once
it is acknowledged, ``Cancel`` once it is resolved (CAP 1.2, 3.2.1 msgType). Each message
carries one ``info`` block per language, Vietnamese (vi-VN) then English (en-US), and an
``area`` from the alert's GeoJSON location (a Point becomes a circle, a Polygon's outer ring a
polygon), its geocodes, or just its name. Identifiers and times come from the alert itself, so
rendering the same alert twice gives the same bytes.

Times follow CAP 1.2 (3.3.2): ``YYYY-MM-DDThh:mm:ss±hh:mm``, no fractional seconds, and UTC as
``-00:00``, never ``Z``. Hanoi is UTC+07:00 all year, which is the default offset.
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Any, Literal

from thudo.analytics.alerting import Alert, AlertStatus, Bilingual

__all__ = [
    "ATOM_NAMESPACE",
    "CAP_MEDIA_TYPE",
    "CAP_NAMESPACE",
    "HANOI",
    "Publisher",
    "atom_feed",
    "cap_identifier",
    "cap_message",
    "cap_time",
    "msg_type",
]

CAP_NAMESPACE = "urn:oasis:names:tc:emergency:cap:1.2"
ATOM_NAMESPACE = "http://www.w3.org/2005/Atom"
CAP_MEDIA_TYPE = "application/cap+xml"
HANOI = timezone(timedelta(hours=7), "ICT")
_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
# CAP 1.2, 3.2.1: identifier and sender contain no spaces, commas or restricted characters.
_CAP_TOKEN = re.compile(r"[^\s,<&]+")
# Characters XML 1.0 cannot carry at all (2.2 Characters); ElementTree would write them as is.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")

# Smart Data Model Alert severity → CAP severity (3.2.2). "informational" has no CAP level of
# its own; Minor ("minimal to no known threat") is the nearest.
_SEVERITY = {
    "critical": "Extreme",
    "high": "Severe",
    "medium": "Moderate",
    "low": "Minor",
    "informational": "Minor",
}
# CAP category (3.2.2) by Smart Data Model subCategory first, then by category: floods and
# rain are hydro-meteorological ("Met") whichever SDM category the rule files them under.
_CAP_CATEGORY_BY_SUB = {
    "airPollution": "Env",
    "waterPollution": "Env",
    "pollenConcentration": "Health",
    "flood": "Met",
    "floodRisk": "Met",
    "rainfall": "Met",
    "thunderstorms": "Met",
    "tropicalCyclone": "Met",
    "heatWave": "Met",
    "coldWave": "Met",
    "earthquake": "Geo",
    "buildingFire": "Fire",
    "forestFire": "Fire",
    "fireRisk": "Fire",
}
_CAP_CATEGORY = {
    "traffic": "Transport",
    "naturalDisaster": "Geo",
    "weather": "Met",
    "environment": "Env",
    "health": "Health",
    "security": "Security",
    "agriculture": "Other",
}
_EVENTS = {
    "airPollution": Bilingual("Ô nhiễm không khí", "Air pollution"),
    "flood": Bilingual("Ngập lụt", "Flood"),
    "floodRisk": Bilingual("Nguy cơ ngập lụt", "Flood risk"),
    "rainfall": Bilingual("Mưa lớn", "Heavy rain"),
}
_PREFIX = {
    "Update": Bilingual("Cập nhật: ", "Update: "),
    "Cancel": Bilingual("Đã kết thúc: ", "Ended: "),
}
_NOTE = {
    "Update": "Acknowledged by the operations centre.",
    "Cancel": "The condition has ended; the alert is resolved.",
}
_LANGUAGES: tuple[tuple[Literal["vi", "en"], str], ...] = (("vi", "vi-VN"), ("en", "en-US"))


@dataclass(frozen=True, slots=True)
class Publisher:
    """Who publishes the warnings, and how (CAP 1.2, 3.2.1 and 3.2.2).

    ``sender`` identifies the originator globally, e.g. ``thudo@hanoi.example``. ``status`` is
    the CAP status: ``Exercise`` suits simulated data. A Point location becomes a circle of
    ``point_radius_km``. Times are written at the offset of ``tz``.
    """

    sender: str
    name: str = "thudo"
    status: Literal["Actual", "Exercise", "System", "Test", "Draft"] = "Actual"
    web: str | None = None
    contact: str | None = None
    point_radius_km: float = 0.5
    tz: tzinfo = HANOI

    def __post_init__(self) -> None:
        if not isinstance(self.sender, str) or not _CAP_TOKEN.fullmatch(self.sender):
            raise ValueError(
                f"CAP sender {self.sender!r} must be non-empty, without spaces, commas, < or &"
            )
        radius = self.point_radius_km
        if isinstance(radius, bool) or not isinstance(radius, int | float) or not radius >= 0:
            raise ValueError(f"point_radius_km must be a number >= 0, got {radius!r}")
        if not math.isfinite(radius):
            raise ValueError(f"point_radius_km must be finite, got {radius!r}")


def cap_time(moment: datetime, tz: tzinfo = HANOI) -> str:
    """``moment`` as a CAP 1.2 time at the offset of ``tz``: whole seconds, ``-00:00`` for UTC."""
    if not isinstance(moment, datetime) or moment.utcoffset() is None:
        raise ValueError(f"a CAP time needs a time-zone-aware datetime, got {moment!r}")
    local = moment.astimezone(tz).replace(microsecond=0)
    offset = local.utcoffset() or timedelta(0)
    minutes = int(offset.total_seconds()) // 60
    if minutes == 0:
        return local.strftime("%Y-%m-%dT%H:%M:%S") + "-00:00"
    sign = "+" if minutes > 0 else "-"
    hours, mins = divmod(abs(minutes), 60)
    return f"{local.strftime('%Y-%m-%dT%H:%M:%S')}{sign}{hours:02d}:{mins:02d}"


def msg_type(alert: Alert) -> Literal["Alert", "Update", "Cancel"]:
    """The CAP msgType for the alert's state: Alert, Update (acknowledged), Cancel (resolved)."""
    if alert.status is AlertStatus.RESOLVED:
        return "Cancel"
    if alert.status is AlertStatus.ACKNOWLEDGED:
        return "Update"
    return "Alert"


def cap_identifier(alert: Alert, kind: str | None = None) -> str:
    """The CAP identifier of the alert's message of ``kind`` (default: its current one)."""
    kind = msg_type(alert) if kind is None else kind
    if kind == "Alert":
        identifier = alert.id
    elif kind in ("Update", "Cancel"):
        identifier = f"{alert.id}:{kind.lower()}"
    else:
        raise ValueError(f"no CAP message of type {kind!r} for an alert")
    if not _CAP_TOKEN.fullmatch(identifier):
        raise ValueError(f"alert id {alert.id!r} cannot be a CAP identifier (spaces, commas, <, &)")
    return identifier


def cap_message(alert: Alert, publisher: Publisher) -> bytes:
    """The CAP 1.2 message, UTF-8 XML, for the alert's current state."""
    return _serialise(_cap_alert(alert, publisher))


def atom_feed(
    alerts: Iterable[Alert],
    publisher: Publisher,
    *,
    feed_id: str,
    title: str,
    updated: datetime,
    self_url: str | None = None,
    alert_url: Callable[[Alert], str] | None = None,
    lang: Literal["vi", "en"] = "vi",
) -> bytes:
    """An Atom 1.0 feed (RFC 4287) with one entry per alert, newest change first.

    Each entry embeds the alert's current CAP message as ``application/cap+xml`` content and,
    when ``alert_url`` is given, links to it. The feed's ``updated`` is the latest of
    ``updated`` and the entries' changes. Entry titles and summaries are in ``lang``.
    """
    ordered = sorted(alerts, key=lambda alert: (alert.updated_at, alert.id), reverse=True)
    latest = max([_aware(updated), *(alert.updated_at for alert in ordered)])
    # Elements carry plain names and an xmlns attribute rather than "{uri}name" tags, so the
    # output uses default namespaces without ElementTree's global prefix registry.
    feed = ET.Element("feed", {"xmlns": ATOM_NAMESPACE, _XML_LANG: lang})
    _text(feed, "id", feed_id)
    _text(feed, "title", title)
    _text(feed, "updated", cap_time(latest, publisher.tz))
    _text(ET.SubElement(feed, "author"), "name", publisher.name)
    if self_url is not None:
        ET.SubElement(feed, "link", rel="self", type="application/atom+xml", href=self_url)
    _text(feed, "generator", "thudo")
    for alert in ordered:
        feed.append(_entry(alert, publisher, alert_url, lang))
    return _serialise(feed)


def _entry(
    alert: Alert,
    publisher: Publisher,
    alert_url: Callable[[Alert], str] | None,
    lang: Literal["vi", "en"],
) -> ET.Element:
    entry = ET.Element("entry")
    _text(entry, "id", alert.id)
    kind = msg_type(alert)
    _text(entry, "title", _headline(alert, kind, lang))
    _text(entry, "updated", cap_time(alert.updated_at, publisher.tz))
    _text(entry, "published", cap_time(alert.valid_from, publisher.tz))
    ET.SubElement(entry, "category", term=alert.sub_category, label=alert.category)
    if alert_url is not None:
        ET.SubElement(entry, "link", rel="alternate", type=CAP_MEDIA_TYPE, href=alert_url(alert))
    _text(entry, "summary", getattr(alert.description, lang))
    content = ET.SubElement(entry, "content", type=CAP_MEDIA_TYPE)
    content.append(_cap_alert(alert, publisher))
    return entry


def _cap_alert(alert: Alert, publisher: Publisher) -> ET.Element:
    kind = msg_type(alert)
    root = ET.Element("alert", xmlns=CAP_NAMESPACE)
    _text(root, "identifier", cap_identifier(alert, kind))
    _text(root, "sender", publisher.sender)
    _text(root, "sent", cap_time(_sent(alert, kind), publisher.tz))
    _text(root, "status", publisher.status)
    _text(root, "msgType", kind)
    _text(root, "scope", "Public")
    if kind != "Alert":
        _text(root, "note", _NOTE[kind])
        _text(root, "references", _references(alert, kind, publisher))
    for lang, language in _LANGUAGES:
        root.append(_info(alert, publisher, kind, lang, language))
    return root


def _info(
    alert: Alert, publisher: Publisher, kind: str, lang: Literal["vi", "en"], language: str
) -> ET.Element:
    info = ET.Element("info")
    _text(info, "language", language)
    _text(info, "category", _cap_category(alert))
    event = _EVENTS.get(alert.sub_category)
    _text(info, "event", alert.sub_category if event is None else getattr(event, lang))
    if kind == "Cancel":
        _text(info, "responseType", "AllClear")
    _text(info, "urgency", "Past" if kind == "Cancel" else "Immediate")
    _text(info, "severity", _SEVERITY[alert.severity])
    _text(info, "certainty", "Observed")
    _text(info, "effective", cap_time(alert.valid_from, publisher.tz))
    _text(info, "senderName", publisher.name)
    _text(info, "headline", _headline(alert, kind, lang))
    _text(info, "description", getattr(alert.description, lang))
    if alert.instruction is not None and kind != "Cancel":
        _text(info, "instruction", getattr(alert.instruction, lang))
    if publisher.web is not None:
        _text(info, "web", publisher.web)
    if publisher.contact is not None:
        _text(info, "contact", publisher.contact)
    for name, value in (("ruleId", alert.rule_id), ("observedValue", f"{alert.value:g}")):
        parameter = ET.SubElement(info, "parameter")
        _text(parameter, "valueName", name)
        _text(parameter, "value", value)
    area = _area(alert, publisher)
    if area is not None:
        info.append(area)
    return info


def _area(alert: Alert, publisher: Publisher) -> ET.Element | None:
    if not alert.area_name and alert.location is None and not alert.geocodes:
        return None
    area = ET.Element("area")
    _text(area, "areaDesc", alert.area_name or alert.entity_id)
    polygons, circles = _shapes(alert.location, publisher.point_radius_km, alert.id)
    for polygon in polygons:
        _text(area, "polygon", polygon)
    for circle in circles:
        _text(area, "circle", circle)
    for name, value in alert.geocodes:
        geocode = ET.SubElement(area, "geocode")
        _text(geocode, "valueName", name)
        _text(geocode, "value", value)
    return area


def _shapes(
    geometry: Mapping[str, Any] | None, radius_km: float, alert_id: str
) -> tuple[list[str], list[str]]:
    """CAP polygons and circles (3.2.4) from a GeoJSON geometry; CAP has no holes, so only a
    polygon's outer ring is kept."""
    if geometry is None:
        return [], []
    kind = geometry.get("type")
    coordinates = geometry.get("coordinates")
    where = f"alert {alert_id} location"
    if kind == "Point":
        lat, lon = _position(coordinates, where)
        return [], [f"{lat},{lon} {_decimal(radius_km)}"]
    if kind == "Polygon" and isinstance(coordinates, list) and coordinates:
        return [_ring(coordinates[0], where)], []
    if kind == "MultiPolygon" and isinstance(coordinates, list) and coordinates:
        return [_ring(_first(part, where), where) for part in coordinates], []
    raise ValueError(
        f"{where}: a CAP area needs a GeoJSON Point, Polygon or MultiPolygon, got {kind!r}"
    )


def _first(part: object, where: str) -> object:
    if not isinstance(part, list) or not part:
        raise ValueError(f"{where}: a MultiPolygon part must be a list of rings, got {part!r}")
    return part[0]


def _ring(ring: object, where: str) -> str:
    if not isinstance(ring, list) or len(ring) < 4:
        raise ValueError(f"{where}: a polygon ring needs at least 4 positions, got {ring!r}")
    points = [_position(position, where) for position in ring]
    if points[0] != points[-1]:
        raise ValueError(f"{where}: a polygon ring must end where it starts (RFC 7946, 3.1.6)")
    return " ".join(f"{lat},{lon}" for lat, lon in points)


def _position(position: object, where: str) -> tuple[str, str]:
    """A GeoJSON [lon, lat] position as CAP's "lat,lon" parts (WGS 84)."""
    if not isinstance(position, list | tuple) or len(position) < 2:
        raise ValueError(f"{where}: a position is [longitude, latitude], got {position!r}")
    lon, lat = position[0], position[1]
    for value, name, limit in ((lat, "latitude", 90), (lon, "longitude", 180)):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"{where}: {name} must be a number, got {value!r}")
        if not -limit <= value <= limit:
            raise ValueError(f"{where}: {name} {value} is outside -{limit}..{limit}")
    return _decimal(lat), _decimal(lon)


def _decimal(number: float) -> str:
    # Fixed-point: CAP readers expect plain decimals, never exponents such as 1e-05.
    text = f"{float(number):.6f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _headline(alert: Alert, kind: str, lang: str) -> str:
    prefix = _PREFIX.get(kind)
    text: str = getattr(alert.headline, lang)
    return text if prefix is None else getattr(prefix, lang) + text


def _cap_category(alert: Alert) -> str:
    return _CAP_CATEGORY_BY_SUB.get(alert.sub_category) or _CAP_CATEGORY.get(
        alert.category, "Other"
    )


def _sent(alert: Alert, kind: str) -> datetime:
    if kind == "Cancel" and alert.resolved_at is not None:
        return alert.resolved_at
    if kind == "Update" and alert.acknowledged_at is not None:
        return alert.acknowledged_at
    return alert.valid_from


def _references(alert: Alert, kind: str, publisher: Publisher) -> str:
    """The earlier messages this one supersedes, as "sender,identifier,sent" (CAP 1.2, 3.2.1)."""
    earlier = ["Alert"]
    if kind == "Cancel" and alert.acknowledged_at is not None:
        earlier.append("Update")
    return " ".join(
        f"{publisher.sender},{cap_identifier(alert, e)},{cap_time(_sent(alert, e), publisher.tz)}"
        for e in earlier
    )


def _aware(moment: datetime) -> datetime:
    if not isinstance(moment, datetime) or moment.utcoffset() is None:
        raise ValueError(f"updated must be a time-zone-aware datetime, got {moment!r}")
    return moment


def _text(parent: ET.Element, tag: str, text: str) -> ET.Element:
    element = ET.SubElement(parent, tag)
    element.text = _NOT_XML.sub("", text)
    return element


def _serialise(root: ET.Element) -> bytes:
    ET.indent(root)
    data: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return data
