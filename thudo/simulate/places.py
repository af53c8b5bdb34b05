"""Where the simulated devices stand: Hanoi's wards, flood hotspots, main roads and gauges.

Ward centroids come from ``hanoi-wards.json`` (Smart Air NGSI-LD Dataset, ODbL v1.0; see
``LICENSE-hanoi-wards-ODbL.md``). The other coordinates are approximate street positions.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import cache
from importlib import resources

__all__ = [
    "FLOOD_HOTSPOTS",
    "HOAN_KIEM",
    "KNOWN_AIR_STATIONS",
    "RIVER_GAUGES",
    "TRAFFIC_ROADS",
    "WEATHER_SITES",
    "Place",
    "Ward",
    "distance_km",
    "load_wards",
]

HOAN_KIEM = (105.8523, 21.0285)  # lon, lat of Hoàn Kiếm lake: the city centre


@dataclass(frozen=True, slots=True)
class Ward:
    """A commune-level unit of Hanoi (2025): a phường (ward) or a xã (commune)."""

    code: str
    name: str
    kind: str
    population: int
    lon: float
    lat: float

    @property
    def short_name(self) -> str:
        """The name without its class prefix: "Hoàn Kiếm" for "Phường Hoàn Kiếm"."""
        prefix = self.kind + " "
        return self.name[len(prefix) :] if self.name.startswith(prefix) else self.name


@dataclass(frozen=True, slots=True)
class Place:
    """A named point (lon, lat in WGS84)."""

    name: str
    lon: float
    lat: float


@cache
def load_wards() -> tuple[Ward, ...]:
    """The 126 wards and communes shipped in ``hanoi-wards.json``."""
    text = resources.files("thudo.simulate").joinpath("hanoi-wards.json").read_text("utf-8")
    return tuple(
        Ward(w["code"], w["name"], w["class"], int(w["population"]), w["lon"], w["lat"])
        for w in json.loads(text)["wards"]
    )


def distance_km(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Distance between two points (equirectangular, good to a few metres at city scale)."""
    x = math.radians(lon2 - lon1) * math.cos(math.radians((lat1 + lat2) / 2.0))
    y = math.radians(lat2 - lat1)
    return 6371.0 * math.hypot(x, y)


# DOMAIN.md section 3: known monitoring positions.
KNOWN_AIR_STATIONS = (
    Place("46 Lưu Quang Vũ", 105.7999, 21.0152),
    Place("Công viên Nhân Chính", 105.7947, 21.0031),
    Place("Đại sứ quán Hoa Kỳ", 105.8188, 21.0219),
)

# DOMAIN.md section 3: streets that flood when 50-100 mm fall in 2 hours, plus a few more.
FLOOD_HOTSPOTS = (
    Place("Nguyễn Khuyến", 105.8397, 21.0258),
    Place("Trường Chinh", 105.8330, 21.0002),
    Place("Tôn Thất Tùng", 105.8287, 21.0058),
    Place("Chùa Bộc", 105.8262, 21.0077),
    Place("Nguyễn Xiển", 105.8052, 20.9872),
    Place("Định Công", 105.8301, 20.9818),
    Place("Giải Phóng (Giáp Bát)", 105.8414, 20.9821),
    Place("Đội Cấn", 105.8226, 21.0356),
    Place("Phan Bội Châu", 105.8451, 21.0241),
    Place("Thụy Khuê", 105.8190, 21.0441),
    Place("Nguyễn Văn Cừ", 105.8702, 21.0441),
    Place("Phan Văn Trường", 105.7841, 21.0382),
    Place("Trần Bình", 105.7779, 21.0301),
    Place("Dương Đình Nghệ", 105.7882, 21.0239),
    Place("Tố Hữu", 105.7801, 20.9931),
    Place("Phú Xá", 105.8108, 21.0679),
    Place("Quang Trung (Hà Đông)", 105.7741, 20.9679),
    Place("Minh Khai", 105.8601, 20.9962),
    Place("Kim Mã", 105.8181, 21.0316),
    Place("Lê Văn Lương", 105.8002, 21.0042),
    Place("Hoàng Quốc Việt", 105.8001, 21.0466),
    Place("Nguyễn Lương Bằng", 105.8272, 21.0141),
)

RIVER_GAUGES = (
    Place("Sông Hồng tại Long Biên", 105.8585, 21.0425),
    Place("Sông Tô Lịch", 105.8105, 21.0005),
)

# The first is the Láng meteorological station.
WEATHER_SITES = (
    Place("Láng", 105.8000, 21.0167),
    Place("Hà Đông", 105.7750, 20.9700),
    Place("Long Biên", 105.8930, 21.0350),
    Place("Sơn Tây", 105.5050, 21.1400),
    Place("Sóc Sơn", 105.8500, 21.2450),
)

# Main roads with a traffic counter: name, position, peak flow (vehicles a minute) and free speed.
TRAFFIC_ROADS = (
    (Place("Giải Phóng", 105.8412, 20.9905), 320.0, 45.0),
    (Place("Nguyễn Trãi", 105.8080, 20.9955), 340.0, 45.0),
    (Place("Láng", 105.8075, 21.0130), 220.0, 40.0),
    (Place("Tây Sơn", 105.8230, 21.0100), 240.0, 40.0),
    (Place("Kim Mã", 105.8150, 21.0320), 230.0, 40.0),
    (Place("Trường Chinh", 105.8350, 21.0003), 260.0, 40.0),
    (Place("Phạm Văn Đồng", 105.7810, 21.0500), 300.0, 55.0),
    (Place("Đại lộ Thăng Long", 105.7600, 21.0060), 280.0, 70.0),
    (Place("Nguyễn Văn Cừ", 105.8720, 21.0450), 250.0, 45.0),
    (Place("Xã Đàn", 105.8340, 21.0150), 240.0, 40.0),
    (Place("Cầu Giấy", 105.8010, 21.0300), 270.0, 40.0),
    (Place("Minh Khai", 105.8600, 20.9960), 230.0, 40.0),
)
