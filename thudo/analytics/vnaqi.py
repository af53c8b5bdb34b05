"""Vietnam's air quality index, VN_AQI (Decision 1459/QĐ-TCMT of 12 Nov 2019): sub-indices,
the hourly and daily index, the dominant pollutant and the band.

Concentrations are in µg/m³, CO included. The breakpoint intervals are contiguous (BP_i to
BP_(i+1)), not the US-style gapped ones. Above the top breakpoint the Decision is silent: the
sub-index is capped at 500 and flagged ``capped``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

from thudo.analytics._numbers import check_concentration, exact, round_half_up
from thudo.analytics.averages import nowcast

__all__ = [
    "BANDS",
    "BREAKPOINTS",
    "INDEX_LEVELS",
    "Band",
    "Column",
    "SubIndex",
    "VnAqi",
    "band_for",
    "daily_vn_aqi",
    "hourly_vn_aqi",
    "vn_sub_index",
]

Column = Literal["pm25", "pm10", "o3_1h", "o3_8h", "no2", "so2", "co"]

INDEX_LEVELS: tuple[int, ...] = (0, 50, 100, 150, 200, 300, 400, 500)
# Decision 1459/QĐ-TCMT, table of breakpoints BP_i for the index levels I_i above (µg/m³).
BREAKPOINTS: dict[Column, tuple[float, ...]] = {
    "o3_1h": (0, 160, 200, 300, 400, 800, 1000, 1200),
    "o3_8h": (0, 100, 120, 170, 210, 400),
    "co": (0, 10000, 30000, 45000, 60000, 90000, 120000, 150000),
    "so2": (0, 125, 350, 550, 800, 1600, 2100, 2630),
    "no2": (0, 100, 200, 700, 1200, 2350, 3100, 3850),
    "pm10": (0, 50, 150, 250, 350, 420, 500, 600),
    "pm25": (0, 25, 50, 80, 150, 250, 350, 500),
}
_TOP = 500
_O3_8H_TOP = BREAKPOINTS["o3_8h"][-1]
# When two pollutants tie on the exact sub-index, the first one here is named dominant.
_ORDER: tuple[Column, ...] = ("pm25", "pm10", "o3_1h", "o3_8h", "no2", "so2", "co")


@dataclass(frozen=True, slots=True)
class Band:
    """One band of the scale: its AQI range, names, official colour and health advice."""

    low: int
    high: int
    name_vi: str
    name_en: str
    rgb: tuple[int, int, int]
    hex: str
    advice_general: str
    advice_sensitive: str


BANDS: tuple[Band, ...] = (
    Band(0, 50, "Tốt", "Good", (0, 228, 0), "#00E400",
         "Free outdoor activity.", "Free outdoor activity."),
    Band(51, 100, "Trung bình", "Moderate", (255, 255, 0), "#FFFF00",
         "Free outdoor activity.", "Watch for cough or breathlessness."),
    Band(101, 150, "Kém", "Poor", (255, 126, 0), "#FF7E00",
         "Reduce long outdoor exertion.", "Reduce time outdoors."),
    Band(151, 200, "Xấu", "Bad", (255, 0, 0), "#FF0000",
         "Reduce strenuous outdoor activity.", "Stay indoors; wear a mask outside."),
    Band(201, 300, "Rất xấu", "Very bad", (143, 63, 151), "#8F3F97",
         "Keep outdoor activity to a minimum.", "Stay indoors."),
    Band(301, 500, "Nguy hại", "Hazardous", (126, 0, 35), "#7E0023",
         "Everyone stays indoors with windows shut.",
         "Everyone stays indoors with windows shut."),
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class SubIndex:
    """The sub-index of one pollutant: the concentration used and the index it gives.

    ``value`` is the interpolated index, ``aqi`` that value rounded half-up, and ``capped`` says
    the concentration was above the top breakpoint (the index is then held at 500).
    """

    column: Column
    concentration: float
    value: float
    aqi: int
    capped: bool
    basis: str = ""

    @property
    def pollutant(self) -> str:
        """The pollutant's name as in AirQualityObserved (``o3`` for both O3 columns)."""
        return "o3" if self.column.startswith("o3") else self.column


@dataclass(frozen=True, slots=True)
class VnAqi:
    """An hourly or daily VN_AQI: the index, its band, the dominant pollutant, the sub-indices."""

    aqi: int
    period: Literal["hour", "day"]
    dominant: str
    band: Band
    sub_indices: tuple[SubIndex, ...]
    capped: bool
    scale: str = "VN_AQI"


def band_for(aqi: int) -> Band:
    """The band an integer VN_AQI falls in (Decision 1459/QĐ-TCMT, table of AQI ranges)."""
    if isinstance(aqi, bool) or not isinstance(aqi, int) or not 0 <= aqi <= _TOP:
        raise ValueError(f"a VN_AQI is an integer from 0 to {_TOP}, got {aqi!r}")
    return next(band for band in BANDS if aqi <= band.high)


def vn_sub_index(column: Column, concentration: float, *, basis: str = "") -> SubIndex:
    """The sub-index ``AQI_x = (I_(i+1) - I_i) / (BP_(i+1) - BP_i) * (C_x - BP_i) + I_i``.

    Raises ValueError for an unknown column, a negative or NaN concentration, and for an O3 8 h
    mean above 400, which has no sub-index (the daily index then skips it).
    """
    if column not in BREAKPOINTS:
        raise ValueError(f"unknown VN_AQI column {column!r}; expected one of {sorted(BREAKPOINTS)}")
    number = check_concentration(concentration, column)
    points = BREAKPOINTS[column]
    if column == "o3_8h" and number > _O3_8H_TOP:
        raise ValueError(f"o3_8h is {number}, above 400: the 8-hour O3 sub-index is skipped")
    if number > points[-1]:
        return SubIndex(column, number, float(_TOP), _TOP, True, basis)
    value = _interpolate(points, exact(number))
    return SubIndex(column, number, float(value), round_half_up(value), False, basis)


def hourly_vn_aqi(
    *,
    pm25: Sequence[float | None] = (),
    pm10: Sequence[float | None] = (),
    o3: float | None = None,
    no2: float | None = None,
    so2: float | None = None,
    co: float | None = None,
) -> VnAqi | None:
    """The hourly VN_AQI (Decision 1459/QĐ-TCMT).

    PM2.5 and PM10 are the last 12 hourly means, oldest first, ``None`` for a missing hour; they
    enter through the NowCast. O3, NO2, SO2 and CO are the current 1-hour means (O3 read from
    the 1 h column), ``None`` when missing. Returns ``None`` when neither PM NowCast is valid,
    since the Decision requires PM2.5 or PM10.
    """
    casts = (nowcast(pm25, what="pm25"), nowcast(pm10, what="pm10"))
    pm: list[tuple[Column, float | None]] = [
        ("pm25", None if casts[0] is None else casts[0].value),
        ("pm10", None if casts[1] is None else casts[1].value),
    ]
    subs = _sub_indices(pm, "NowCast")
    if not subs:
        return None
    gases: list[tuple[Column, float | None]] = [
        ("o3_1h", o3),
        ("no2", no2),
        ("so2", so2),
        ("co", co),
    ]
    return _combine(subs + _sub_indices(gases, "1 h mean"), "hour")


def daily_vn_aqi(
    *,
    pm25: float | None = None,
    pm10: float | None = None,
    o3_max_1h: float | None = None,
    o3_max_8h: float | None = None,
    no2_max_1h: float | None = None,
    so2_max_1h: float | None = None,
    co_max_1h: float | None = None,
) -> VnAqi | None:
    """The daily VN_AQI (Decision 1459/QĐ-TCMT) from the day's statistics.

    PM2.5 and PM10 are 24-hour means; SO2, NO2 and CO the day's maximum 1-hour means; O3 takes
    the larger of the sub-indices of its maximum 1-hour mean and maximum 8-hour rolling mean,
    skipping the 8-hour one above 400. ``averages`` computes these statistics. Returns ``None``
    when neither PM2.5 nor PM10 is given.
    """
    subs = _sub_indices([("pm25", pm25), ("pm10", pm10)], "24 h mean")
    if not subs:
        return None
    o3_subs: list[SubIndex] = []
    if o3_max_1h is not None:
        o3_subs.append(vn_sub_index("o3_1h", o3_max_1h, basis="max 1 h mean"))
    if o3_max_8h is not None and check_concentration(o3_max_8h, "o3_8h") <= _O3_8H_TOP:
        o3_subs.append(vn_sub_index("o3_8h", o3_max_8h, basis="max 8 h mean"))
    if o3_subs:
        subs.append(max(o3_subs, key=lambda sub: sub.value))
    gases: list[tuple[Column, float | None]] = [
        ("no2", no2_max_1h),
        ("so2", so2_max_1h),
        ("co", co_max_1h),
    ]
    return _combine(subs + _sub_indices(gases, "max 1 h mean"), "day")


def _sub_indices(values: list[tuple[Column, float | None]], basis: str) -> list[SubIndex]:
    return [
        vn_sub_index(column, value, basis=basis) for column, value in values if value is not None
    ]


def _interpolate(points: tuple[float, ...], concentration: Fraction) -> Fraction:
    for i in range(len(points) - 1):
        low, high = exact(points[i]), exact(points[i + 1])
        if concentration <= high:
            span = INDEX_LEVELS[i + 1] - INDEX_LEVELS[i]
            return Fraction(span) / (high - low) * (concentration - low) + INDEX_LEVELS[i]
    raise AssertionError("concentration above the top breakpoint")  # pragma: no cover


def _combine(subs: list[SubIndex], period: Literal["hour", "day"]) -> VnAqi:
    top = max(subs, key=lambda sub: (sub.value, -_ORDER.index(sub.column)))
    # Rounding is monotone, so the rounded maximum is the maximum of the rounded sub-indices.
    return VnAqi(
        aqi=top.aqi,
        period=period,
        dominant=top.pollutant,
        band=band_for(top.aqi),
        sub_indices=tuple(subs),
        capped=any(sub.capped for sub in subs),
    )
