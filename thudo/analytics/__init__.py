"""Pure analytics over plain data: Vietnam's VN_AQI and the US EPA AQI, QCVN 05:2023 limits,
flood and rain levels in Hanoi, data-quality screening, alert rules with hysteresis
(``thudo.analytics.alerting``) and CAP 1.2 / Atom rendering (``thudo.analytics.cap``).
Imports nothing from the rest of thudo."""

from thudo.analytics.averages import NowCast, daily_max, daily_mean, max_rolling_mean, nowcast
from thudo.analytics.epa import EpaAqi, epa_pm25_aqi
from thudo.analytics.flood import (
    LONG_BIEN,
    RiverGauge,
    RiverStatus,
    StreetFlood,
    StreetStatus,
    StreetThresholds,
    river_alarm,
    street_flood_status,
)
from thudo.analytics.qcvn import LimitCheck, check_qcvn, qcvn_exceedances, qcvn_limit
from thudo.analytics.quality import Flag, Screened, screen
from thudo.analytics.rain import RainStatus, RainWindow, rain_window, rolling_rain
from thudo.analytics.vnaqi import (
    Band,
    SubIndex,
    VnAqi,
    band_for,
    daily_vn_aqi,
    hourly_vn_aqi,
    vn_sub_index,
)

__all__ = [
    "LONG_BIEN",
    "Band",
    "EpaAqi",
    "Flag",
    "LimitCheck",
    "NowCast",
    "RainStatus",
    "RainWindow",
    "RiverGauge",
    "RiverStatus",
    "Screened",
    "StreetFlood",
    "StreetStatus",
    "StreetThresholds",
    "SubIndex",
    "VnAqi",
    "band_for",
    "check_qcvn",
    "daily_max",
    "daily_mean",
    "daily_vn_aqi",
    "epa_pm25_aqi",
    "hourly_vn_aqi",
    "max_rolling_mean",
    "nowcast",
    "qcvn_exceedances",
    "qcvn_limit",
    "rain_window",
    "river_alarm",
    "rolling_rain",
    "screen",
    "street_flood_status",
    "vn_sub_index",
]
