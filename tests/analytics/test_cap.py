"""CAP 1.2 messages and the Atom feed: the msgType, severity, category, time and area
mappings are checked element by element, and every message is validated against a CAP 1.2
XML Schema.

By default that is ``tests/data/cap-1.2.xsd``, written for thudo from the CAP 1.2
specification's data dictionary (element order, cardinalities, code lists, date-time form,
polygon and circle forms). The official OASIS file
(http://docs.oasis-open.org/emergency/cap/v1.2/CAP-v1.2.xsd) is not shipped here: point
THUDO_CAP_XSD at a copy of it to validate against it instead."""

from __future__ import annotations

import dataclasses
import os
import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from lxml import etree

from thudo.analytics.alerting import (
    Alert,
    acknowledge,
    default_rules,
    open_alert,
    replay,
    resolve,
)
from thudo.analytics.cap import (
    ATOM_NAMESPACE,
    CAP_MEDIA_TYPE,
    CAP_NAMESPACE,
    Publisher,
    atom_feed,
    cap_identifier,
    cap_message,
    cap_time,
    msg_type,
)

_XSD = os.environ.get("THUDO_CAP_XSD") or str(Path(__file__).parents[1] / "data" / "cap-1.2.xsd")
SCHEMA = etree.XMLSchema(etree.parse(_XSD)) if Path(_XSD).is_file() else None
needs_schema = pytest.mark.skipif(
    SCHEMA is None, reason=f"the CAP 1.2 XML Schema {_XSD} cannot be read"
)
NS = {"cap": CAP_NAMESPACE, "atom": ATOM_NAMESPACE}
ICT = timezone(timedelta(hours=7))
T0 = datetime(2025, 1, 10, 8, 0, tzinfo=ICT)
PUBLISHER = Publisher("thudo@hanoi.example", web="https://thudo.example/alerts")
RULES = {rule.id: rule for rule in default_rules()}
CAP_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d")

POINT = {"type": "Point", "coordinates": [105.7999, 21.0152]}
SQUARE = [[105.80, 21.00], [105.81, 21.00], [105.81, 21.01], [105.80, 21.01], [105.80, 21.00]]
HOLE = [[105.802, 21.002], [105.803, 21.002], [105.803, 21.003], [105.802, 21.002]]
POLYGON = {"type": "Polygon", "coordinates": [SQUARE, HOLE]}
MULTI = {"type": "MultiPolygon", "coordinates": [[SQUARE], [SQUARE]]}
LONG_BIEN = "urn:ngsi-ld:WaterObserved:hanoi:long-bien"
STREET = "urn:ngsi-ld:FloodMonitoring:hanoi:nguyen-khuyen"


def make_alert(rule_id: str = "vn-aqi-bad", value: float = 160, **place: Any) -> Alert:
    rule = RULES[rule_id]
    held_from = T0 - timedelta(seconds=rule.min_duration_s)
    (transition,) = replay(rule, [(held_from, value), (T0, value)])[1]
    place.setdefault("entity_id", "urn:ngsi-ld:AirQualityObserved:hanoi:luu-quang-vu")
    return open_alert(rule, transition, **place)


def validate(document: bytes) -> etree._Element:
    """Parse a message, and validate it against the schema when it is available."""
    root = etree.fromstring(document)
    if SCHEMA is not None:
        SCHEMA.assertValid(root)
    return root


def texts(root: etree._Element, path: str) -> list[str]:
    return [element.text for element in root.xpath(path, namespaces=NS)]


# --- the schema itself -----------------------------------------------------------------------


@needs_schema
def test_the_schema_rejects_what_cap_forbids() -> None:
    # The validator is real: a 'Z' time, an unknown msgType or a missing sender all fail.
    good = cap_message(make_alert(), PUBLISHER)
    validate(good)
    for old, new in [
        (b"<sent>2025-01-10T08:00:00+07:00</sent>", b"<sent>2025-01-10T01:00:00Z</sent>"),
        (b"<msgType>Alert</msgType>", b"<msgType>Warning</msgType>"),
        (b"<sender>thudo@hanoi.example</sender>", b""),
        (b"<severity>Moderate</severity>", b"<severity>medium</severity>"),
    ]:
        assert old in good
        assert SCHEMA is not None
        assert not SCHEMA.validate(etree.fromstring(good.replace(old, new)))


# --- messages validate -----------------------------------------------------------------------

PLACES: list[dict[str, Any]] = [
    {},
    {"area_name": "46 Lưu Quang Vũ"},
    {"area_name": "Nhân Chính", "location": POINT},
    {"area_name": "Láng", "location": POLYGON, "geocodes": (("maPhuong", "00163"),)},
    {"location": MULTI},
    {"geocodes": (("maPhuong", "00163"), ("ten", "Láng"))},
]


@needs_schema
@pytest.mark.parametrize("rule_id", sorted(RULES))
@pytest.mark.parametrize("place", PLACES)
def test_every_state_of_every_default_rule_validates(rule_id: str, place: dict[str, Any]) -> None:
    alert = make_alert(rule_id, RULES[rule_id].raise_at + 1, **place)
    seen = acknowledge(alert, by="operator", at=T0 + timedelta(minutes=7))
    states = [alert, seen, resolve(seen, by="rule", at=T0 + timedelta(hours=2))]
    states.append(resolve(alert, by="rule", at=T0 + timedelta(hours=1)))
    for state in states:
        validate(cap_message(state, PUBLISHER))


def test_exercise_status_and_no_web_validate() -> None:
    publisher = Publisher("thudo-demo", status="Exercise", contact="1900 0000")
    root = validate(cap_message(make_alert(), publisher))
    assert texts(root, "/cap:alert/cap:status") == ["Exercise"]
    assert texts(root, "//cap:info/cap:contact") == ["1900 0000"] * 2
    assert texts(root, "//cap:info/cap:web") == []


# --- msgType, identifiers and references -----------------------------------------------------


def lifecycle() -> tuple[Alert, Alert, Alert]:
    alert = make_alert(area_name="Láng")
    seen = acknowledge(alert, by="operator", at=T0 + timedelta(minutes=7))
    return alert, seen, resolve(seen, by="rule", at=T0 + timedelta(hours=2, seconds=30.7))


def test_msg_type_follows_the_lifecycle() -> None:
    alert, seen, done = lifecycle()
    assert [msg_type(a) for a in (alert, seen, done)] == ["Alert", "Update", "Cancel"]
    roots = [validate(cap_message(a, PUBLISHER)) for a in (alert, seen, done)]
    assert [texts(r, "/cap:alert/cap:msgType")[0] for r in roots] == ["Alert", "Update", "Cancel"]
    assert [texts(r, "/cap:alert/cap:sent")[0] for r in roots] == [
        "2025-01-10T08:00:00+07:00",
        "2025-01-10T08:07:00+07:00",
        "2025-01-10T10:00:30+07:00",  # fractional seconds dropped
    ]
    identifiers = [texts(r, "/cap:alert/cap:identifier")[0] for r in roots]
    assert identifiers == [alert.id, f"{alert.id}:update", f"{alert.id}:cancel"]
    assert texts(roots[0], "/cap:alert/cap:references") == []


def test_update_and_cancel_reference_the_earlier_messages() -> None:
    alert, seen, done = lifecycle()
    first = f"thudo@hanoi.example,{alert.id},2025-01-10T08:00:00+07:00"
    second = f"thudo@hanoi.example,{alert.id}:update,2025-01-10T08:07:00+07:00"
    update = validate(cap_message(seen, PUBLISHER))
    cancel = validate(cap_message(done, PUBLISHER))
    assert texts(update, "/cap:alert/cap:references") == [first]
    assert texts(cancel, "/cap:alert/cap:references") == [f"{first} {second}"]
    unacknowledged = resolve(alert, by="rule", at=T0 + timedelta(hours=1))
    lone = validate(cap_message(unacknowledged, PUBLISHER))
    assert texts(lone, "/cap:alert/cap:references") == [first]


def test_cancel_says_all_clear() -> None:
    alert, _, done = lifecycle()
    active = validate(cap_message(alert, PUBLISHER))
    cancel = validate(cap_message(done, PUBLISHER))
    assert texts(active, "//cap:info/cap:urgency") == ["Immediate"] * 2
    assert texts(active, "//cap:info/cap:responseType") == []
    assert len(texts(active, "//cap:info/cap:instruction")) == 2
    assert texts(cancel, "//cap:info/cap:urgency") == ["Past"] * 2
    assert texts(cancel, "//cap:info/cap:responseType") == ["AllClear"] * 2
    assert texts(cancel, "//cap:info/cap:instruction") == []
    assert texts(cancel, "//cap:info/cap:headline") == [
        "Đã kết thúc: Chất lượng không khí Xấu tại Láng",
        "Ended: Bad air quality at Láng",
    ]


def test_identifier_rejects_an_unknown_kind() -> None:
    with pytest.raises(ValueError, match="no CAP message of type 'Ack'"):
        cap_identifier(make_alert(), "Ack")


# --- info blocks: languages and mappings -----------------------------------------------------


def test_one_info_block_per_language() -> None:
    root = validate(cap_message(make_alert(area_name="Láng"), PUBLISHER))
    assert texts(root, "//cap:info/cap:language") == ["vi-VN", "en-US"]
    assert texts(root, "//cap:info/cap:headline") == [
        "Chất lượng không khí Xấu tại Láng",
        "Bad air quality at Láng",
    ]
    assert texts(root, "//cap:info/cap:event") == ["Ô nhiễm không khí", "Air pollution"]
    assert texts(root, "//cap:info/cap:description") == [
        "VN_AQI 160 (mức Xấu, từ 151) tại Láng.",
        "VN_AQI 160 (Bad, from 151) at Láng.",
    ]
    assert texts(root, "//cap:info/cap:certainty") == ["Observed"] * 2
    assert texts(root, "//cap:info/cap:senderName") == ["thudo"] * 2
    assert texts(root, "//cap:info/cap:effective") == ["2025-01-10T08:00:00+07:00"] * 2
    assert texts(root, "//cap:info/cap:parameter/cap:value") == ["vn-aqi-bad", "160"] * 2
    assert texts(root, "/cap:alert/cap:scope") == ["Public"]


@pytest.mark.parametrize(
    ("rule_id", "severity", "category"),
    [
        ("vn-aqi-bad", "Moderate", "Env"),
        ("vn-aqi-very-bad", "Severe", "Env"),
        ("street-flood", "Severe", "Met"),
        ("red-river-long-bien-bd1", "Moderate", "Met"),
        ("red-river-long-bien-bd2", "Severe", "Met"),
        ("red-river-long-bien-bd3", "Extreme", "Met"),
        ("heavy-rain-2h", "Moderate", "Met"),
    ],
)
def test_severity_and_category_mapping(rule_id: str, severity: str, category: str) -> None:
    root = validate(cap_message(make_alert(rule_id, RULES[rule_id].raise_at + 1), PUBLISHER))
    assert texts(root, "//cap:info/cap:severity") == [severity] * 2
    assert texts(root, "//cap:info/cap:category") == [category] * 2


@pytest.mark.parametrize(
    ("severity", "expected"),
    [("informational", "Minor"), ("low", "Minor"), ("medium", "Moderate"), ("high", "Severe")],
)
def test_every_smart_data_model_severity_maps(severity: Any, expected: str) -> None:
    alert = make_alert()
    root = validate(cap_message(_replace(alert, severity=severity), PUBLISHER))
    assert texts(root, "//cap:info/cap:severity") == [expected] * 2


@pytest.mark.parametrize(
    ("category", "sub_category", "expected"),
    [
        ("traffic", "trafficJam", "Transport"),
        ("health", "heatWave", "Met"),
        ("agriculture", "insect", "Other"),
    ],
)
def test_cap_category_falls_back_to_the_alert_category(
    category: str, sub_category: str, expected: str
) -> None:
    alert = _replace(make_alert(), category=category, sub_category=sub_category)
    root = validate(cap_message(alert, PUBLISHER))
    assert texts(root, "//cap:info/cap:category") == [expected] * 2
    if sub_category == "trafficJam":
        assert texts(root, "//cap:info/cap:event") == ["trafficJam"] * 2


def _replace(alert: Alert, **changes: Any) -> Alert:
    return dataclasses.replace(alert, **changes)


# --- times -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("moment", "tz", "expected"),
    [
        (datetime(2025, 1, 10, 1, 0, tzinfo=UTC), ICT, "2025-01-10T08:00:00+07:00"),
        (datetime(2025, 1, 10, 1, 0, 5, 999999, tzinfo=UTC), UTC, "2025-01-10T01:00:05-00:00"),
        (
            datetime(2025, 1, 10, 8, tzinfo=ICT),
            timezone(timedelta(hours=-5, minutes=-30)),
            "2025-01-09T19:30:00-05:30",
        ),
        (datetime(2025, 1, 10, 23, 30, tzinfo=UTC), ICT, "2025-01-11T06:30:00+07:00"),
    ],
)
def test_cap_time(moment: datetime, tz: Any, expected: str) -> None:
    assert cap_time(moment, tz) == expected
    assert CAP_TIME.fullmatch(expected)


def test_cap_time_rejects_naive_times() -> None:
    with pytest.raises(ValueError, match="time-zone-aware"):
        cap_time(datetime(2025, 1, 10, 8))


def test_utc_publisher_writes_minus_zero() -> None:
    root = validate(cap_message(make_alert(), Publisher("thudo", tz=UTC)))
    assert texts(root, "/cap:alert/cap:sent") == ["2025-01-10T01:00:00-00:00"]
    assert "Z<" not in cap_message(make_alert(), Publisher("thudo", tz=UTC)).decode()


# --- areas -----------------------------------------------------------------------------------


def test_point_becomes_a_circle() -> None:
    alert = make_alert(area_name="Nhân Chính", location=POINT)
    root = validate(cap_message(alert, Publisher("thudo", point_radius_km=1.5)))
    assert texts(root, "//cap:area/cap:areaDesc") == ["Nhân Chính"] * 2
    assert texts(root, "//cap:area/cap:circle") == ["21.0152,105.7999 1.5"] * 2
    assert texts(root, "//cap:area/cap:polygon") == []


def test_polygon_outer_ring_in_lat_lon_order() -> None:
    root = validate(cap_message(make_alert(area_name="Láng", location=POLYGON), PUBLISHER))
    ring = "21,105.8 21,105.81 21.01,105.81 21.01,105.8 21,105.8"
    assert texts(root, "//cap:area/cap:polygon") == [ring] * 2  # the hole is dropped
    multi = validate(cap_message(make_alert(location=MULTI), PUBLISHER))
    assert texts(multi, "//cap:info[1]/cap:area/cap:polygon") == [ring, ring]
    assert texts(multi, "//cap:info[1]/cap:area/cap:areaDesc") == [make_alert().entity_id]


def test_geocodes_and_no_area() -> None:
    coded = make_alert(geocodes=(("maPhuong", "00163"),))
    root = validate(cap_message(coded, PUBLISHER))
    assert texts(root, "//cap:info[1]/cap:area/cap:geocode/cap:value") == ["00163"]
    bare = validate(cap_message(make_alert(), PUBLISHER))
    assert texts(bare, "//cap:area/cap:areaDesc") == []


@pytest.mark.parametrize(
    ("location", "message"),
    [
        (
            {"type": "LineString", "coordinates": [[105.8, 21.0], [105.9, 21.1]]},
            "Point, Polygon or MultiPolygon",
        ),
        ({"type": "Point", "coordinates": [21.0, 105.8]}, "latitude 105.8 is outside"),
        ({"type": "Point", "coordinates": ["105.8", 21.0]}, "longitude must be a number"),
        ({"type": "Point", "coordinates": [105.8]}, "a position is"),
        ({"type": "Polygon", "coordinates": [SQUARE[:4]]}, "must end where it starts"),
        ({"type": "Polygon", "coordinates": [SQUARE[:3]]}, "at least 4 positions"),
        ({"type": "MultiPolygon", "coordinates": [[]]}, "list of rings"),
    ],
)
def test_bad_locations_are_refused(location: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        cap_message(make_alert(location=location), PUBLISHER)


@pytest.mark.parametrize("sender", ["", "thudo hanoi", "a,b", "x<y", "a&b"])
def test_sender_must_be_a_cap_token(sender: str) -> None:
    with pytest.raises(ValueError, match="CAP sender"):
        Publisher(sender)


def test_point_radius_must_be_a_distance() -> None:
    for radius in (-1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="point_radius_km"):
            Publisher("thudo", point_radius_km=radius)


# --- rendering is deterministic and escapes text ---------------------------------------------


def test_the_same_alert_renders_the_same_bytes() -> None:
    assert cap_message(make_alert(), PUBLISHER) == cap_message(make_alert(), PUBLISHER)


@given(st.text(max_size=40))
def test_any_place_name_gives_a_valid_message(name: str) -> None:
    alert = make_alert(area_name=name, location=POINT)
    root = validate(cap_message(alert, PUBLISHER))
    desc = texts(root, "//cap:area/cap:areaDesc")
    assert len(desc) == 2
    printable = [c for c in name if c.isprintable() and not 0xD800 <= ord(c) <= 0xDFFF]
    if printable and name.strip():
        assert all(c in desc[0] for c in printable)


# --- the Atom feed ---------------------------------------------------------------------------


def feed_of(alerts: list[Alert], **options: Any) -> etree._Element:
    document = atom_feed(
        alerts,
        PUBLISHER,
        feed_id="https://thudo.example/alerts.atom",
        title="Cảnh báo Hà Nội",
        updated=options.pop("updated", T0),
        **options,
    )
    return etree.fromstring(document)


def test_feed_entries_carry_valid_cap() -> None:
    _, _, done = lifecycle()
    river = make_alert("red-river-long-bien-bd2", 10.76, entity_id=LONG_BIEN, area_name="Long Biên")
    seen = acknowledge(river, by="op", at=T0 + timedelta(hours=1))
    flood = make_alert("street-flood", 0.42, entity_id=STREET, area_name="Nguyễn Khuyến")
    root = feed_of(
        [flood, seen, done],
        self_url="https://thudo.example/alerts.atom",
        alert_url=lambda a: f"https://thudo.example/alerts/{a.id}.xml",
    )
    assert root.tag == f"{{{ATOM_NAMESPACE}}}feed"
    assert root.get("{http://www.w3.org/XML/1998/namespace}lang") == "vi"
    assert texts(root, "/atom:feed/atom:id") == ["https://thudo.example/alerts.atom"]
    assert texts(root, "/atom:feed/atom:author/atom:name") == ["thudo"]
    assert texts(root, "/atom:feed/atom:updated") == ["2025-01-10T10:00:30+07:00"]
    assert root.xpath("/atom:feed/atom:link[@rel='self']/@href", namespaces=NS) == [
        "https://thudo.example/alerts.atom"
    ]
    # Newest change first: the resolved AQI alert, the acknowledged river, the new flood.
    assert texts(root, "//atom:entry/atom:id") == [done.id, river.id, flood.id]
    assert texts(root, "//atom:entry/atom:updated") == [
        "2025-01-10T10:00:30+07:00",
        "2025-01-10T09:00:00+07:00",
        "2025-01-10T08:00:00+07:00",
    ]
    assert texts(root, "//atom:entry/atom:title") == [
        "Đã kết thúc: Chất lượng không khí Xấu tại Láng",
        "Cập nhật: Sông Hồng tại Long Biên đạt báo động II",
        "Ngập đường tại Nguyễn Khuyến",
    ]
    assert texts(root, "//cap:alert/cap:msgType") == ["Cancel", "Update", "Alert"]
    for entry in root.xpath("//atom:entry", namespaces=NS):
        (content,) = entry.xpath("atom:content", namespaces=NS)
        assert content.get("type") == CAP_MEDIA_TYPE
        (cap,) = content
        validate(etree.tostring(cap))
        (link,) = entry.xpath("atom:link[@rel='alternate']", namespaces=NS)
        assert link.get("type") == CAP_MEDIA_TYPE
        assert link.get("href").endswith(".xml")


def test_an_empty_feed_is_still_a_feed() -> None:
    later = T0 + timedelta(days=1)
    root = feed_of([], updated=later, lang="en")
    assert texts(root, "/atom:feed/atom:updated") == ["2025-01-11T08:00:00+07:00"]
    assert texts(root, "/atom:feed/atom:title") == ["Cảnh báo Hà Nội"]
    assert root.xpath("//atom:entry", namespaces=NS) == []
    assert root.get("{http://www.w3.org/XML/1998/namespace}lang") == "en"


def test_feed_titles_follow_the_language() -> None:
    alert = make_alert(area_name="Láng")
    root = feed_of([alert], lang="en")
    assert texts(root, "//atom:entry/atom:title") == ["Bad air quality at Láng"]
    assert texts(root, "//atom:entry/atom:summary") == ["VN_AQI 160 (Bad, from 151) at Láng."]


def test_feed_needs_an_aware_updated_time() -> None:
    with pytest.raises(ValueError, match="updated"):
        feed_of([], updated=datetime(2025, 1, 10))


def test_output_parses_with_the_standard_library_too() -> None:
    root = ET.fromstring(cap_message(make_alert(), PUBLISHER))
    assert root.tag == f"{{{CAP_NAMESPACE}}}alert"
    assert cap_message(make_alert(), PUBLISHER).startswith(
        b"<?xml version='1.0' encoding='utf-8'?>"
    )
