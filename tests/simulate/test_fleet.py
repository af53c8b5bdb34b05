"""The simulated fleet: sizes, ids, positions, and the ward data shipped with the package."""

from __future__ import annotations

import re
from importlib import resources

import pytest

from thudo.simulate.fleet import AIR, FLOOD, RIVER, TRAFFIC, WEATHER, build_fleet, slugify
from thudo.simulate.places import KNOWN_AIR_STATIONS, distance_km, load_wards

SLUG = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")


def test_default_fleet_sizes() -> None:
    fleet = build_fleet(1)
    count = {
        kind: sum(d.type is kind for d in fleet) for kind in (AIR, WEATHER, FLOOD, RIVER, TRAFFIC)
    }
    assert count[AIR] == 30
    assert count[WEATHER] == 3
    assert count[FLOOD] >= 20
    assert count[RIVER] == 2
    assert count[TRAFFIC] == 10


def test_river_gauge_ids() -> None:
    ids = {d.entity_id for d in build_fleet(1) if d.type is RIVER}
    assert ids == {
        "urn:ngsi-ld:WaterObserved:hanoi:long-bien",
        "urn:ngsi-ld:WaterObserved:hanoi:to-lich",
    }


def test_ids_are_unique_ascii_slugs_and_entity_ids_follow_the_pattern() -> None:
    fleet = build_fleet(7, stations=126, weather=5, traffic=12)
    assert len({d.device_id for d in fleet}) == len(fleet)
    for device in fleet:
        assert SLUG.match(device.device_id), device.device_id
        assert device.entity_id == f"urn:ngsi-ld:{device.type.entity_type}:hanoi:{device.device_id}"


def test_the_fleet_is_deterministic_from_the_seed() -> None:
    assert build_fleet(3) == build_fleet(3)
    assert [d.device_id for d in build_fleet(1)] != [d.device_id for d in build_fleet(2)]


def test_air_stations_stand_at_ward_centroids_near_the_known_stations() -> None:
    centroids = {(w.lon, w.lat) for w in load_wards()}
    stations = [d for d in build_fleet(1) if d.type is AIR]
    assert all((d.lon, d.lat) in centroids for d in stations)
    for known in KNOWN_AIR_STATIONS:
        nearest = min(distance_km(d.lon, d.lat, known.lon, known.lat) for d in stations)
        assert nearest < 2.0, known.name
    assert any(d.device_id == "aq-hoan-kiem" for d in stations)
    spread = max(d.centre_km for d in stations)
    assert spread > 10.0, "some stations should stand outside the inner city"


def test_all_flood_hotspots_of_the_domain_notes_have_a_gauge() -> None:
    ids = {d.device_id for d in build_fleet(1) if d.type is FLOOD}
    for street in (
        "nguyen-khuyen",
        "truong-chinh",
        "giai-phong-giap-bat",
        "quang-trung-ha-dong",
        "doi-can",
    ):
        assert f"flood-{street}" in ids


def test_fleet_sizes_are_checked() -> None:
    with pytest.raises(ValueError, match="stations"):
        build_fleet(1, stations=0)
    with pytest.raises(ValueError, match="traffic"):
        build_fleet(1, traffic=99)


def test_slugify_drops_vietnamese_marks() -> None:
    assert slugify("Phường Đống Đa") == "phuong-dong-da"
    assert slugify("Văn Miếu - Quốc Tử Giám") == "van-mieu-quoc-tu-giam"


def test_the_ward_file_and_its_licence_ship_in_the_package() -> None:
    wards = load_wards()
    assert len(wards) == 126
    assert sum(w.kind == "Phường" for w in wards) == 51
    assert 7_900_000 < sum(w.population for w in wards) < 8_000_000
    assert all(105.2 < w.lon < 106.1 and 20.5 < w.lat < 21.4 for w in wards)
    notice = (
        resources.files("thudo.simulate").joinpath("LICENSE-hanoi-wards-ODbL.md").read_text("utf-8")
    )
    assert "Contains data from Smart Air NGSI-LD Dataset, ODbL v1.0" in notice
