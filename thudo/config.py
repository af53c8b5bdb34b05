"""Settings: built once at start-up from THUDO_* variables, an optional TOML file and defaults.

Precedence: environment, then the TOML file (``THUDO_CONFIG`` or ``--config``), then the
defaults below. Handlers never read the environment; they get the frozen ``Settings``.
"""

from __future__ import annotations

import dataclasses
import math
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_type_hints

from thudo.errors import SettingsError

__all__ = ["Settings", "load_settings"]

_ENV_PREFIX = "THUDO_"


@dataclass(frozen=True, slots=True)
class Settings:
    """Every tunable of thudo, with safe defaults."""

    host: str = "127.0.0.1"
    port: int = 1026
    workers: int = 1
    database_url: str = "sqlite:///thudo.db"
    log_level: str = "info"
    log_format: str = "json"
    # Request limits.
    max_body_bytes: int = 1024 * 1024
    max_json_depth: int = 32
    default_page_size: int = 20
    max_page_size: int = 1000
    max_batch_entities: int = 10_000
    max_query_length: int = 8192
    max_geometry_points: int = 10_000
    max_attributes: int = 1000
    # @context handling.
    context_fetch_timeout: float = 5.0
    context_max_bytes: int = 512 * 1024
    context_max_depth: int = 8
    context_cache_entries: int = 1024
    context_preload_dir: str = ""
    context_url_map: Mapping[str, str] = field(default_factory=dict)
    context_allow_remote: bool = True
    # History.
    # Instances per attribute in one temporal answer; beyond it the answer is a 206 with a
    # Content-Range, and clients page on (clause 6.3.10). The conformance suite assumes a
    # limit below 20.
    temporal_max_instances: int = 10
    # Days of raw history to keep (0: keep everything); hourly and daily rollups stay.
    temporal_retention_days: float = 0.0
    # Days to keep notifications that ran out of retries, for inspection.
    notify_failed_retention_days: float = 7.0
    housekeeping_interval: float = 3600.0
    # Notifications.
    notify_timeout: float = 10.0
    notify_max_attempts: int = 8
    notify_backoff_base: float = 1.0
    notify_backoff_max: float = 300.0
    notify_batch: int = 100
    notify_lease: float = 30.0
    notify_poll_interval: float = 1.0
    # Requests in flight to one endpoint host. 8 capped delivery to one receiver below
    # 1,000 notifications/s on the benchmark machine once round trips grew under load.
    notify_endpoint_concurrency: int = 32
    # Device ingestion (IoT Agent JSON over HTTP and MQTT).
    # The broker to take device measures from (mqtt://host:port); empty: HTTP only.
    ingest_mqtt_url: str = ""
    ingest_mqtt_client_id: str = "thudo-ingest"
    # Unacknowledged messages the broker may send at once (MQTT 5 Receive Maximum): thudo
    # acknowledges after the commit, so this bounds the messages in the pipeline.
    ingest_mqtt_inflight: int = 1000
    # How long the broker keeps the session, and the messages for it, while thudo is away.
    ingest_mqtt_session_expiry_s: float = 7 * 86400.0
    # Provision unknown devices of a known API key on their first measure.
    ingest_autoprovision: bool = False
    ingest_max_payload_bytes: int = 64 * 1024
    ingest_max_measures: int = 1000
    # Measures timed further ahead than this (clock skew) or older than this are rejected.
    ingest_max_future_s: float = 600.0
    ingest_max_age_s: float = 7 * 86400.0
    # Measures written per store transaction, and how long the first waits for company.
    ingest_batch_max: int = 2000
    ingest_batch_wait: float = 0.01
    # Device messages waiting for the writer; beyond it MQTT and HTTP wait (backpressure).
    ingest_queue_max: int = 50_000
    # Analytics (VN_AQI, flood, rain) and alerts computed as data arrives.
    analytics_enabled: bool = True
    # An entity's derived values are recomputed at most this often (seconds).
    analytics_min_interval: float = 0.5
    # A TOML file of alert rules; empty: Hanoi's defaults.
    alert_rules_file: str = ""
    # Who publishes the CAP 1.2 warnings (no spaces, commas, < or &), and their CAP status:
    # Actual for real warnings, Exercise for simulated data (thudo demo).
    cap_sender: str = "thudo@localhost"
    cap_status: str = "Actual"
    # Python's garbage collector: a young collection after this many new container objects
    # (CPython's default is 700; fewer collections of a serving process's large heap).
    gc_young_objects: int = 20_000
    # SQLite tuning.
    sqlite_busy_timeout_ms: int = 5000
    sqlite_group_commit_max: int = 512
    sqlite_cache_mib: int = 16
    sqlite_readers: int = 3
    sqlite_wal_max_mib: int = 64
    # PostgreSQL (database_url postgresql://...): a connection pool per process, and short
    # timeouts so that an unreachable database answers 503 quickly instead of hanging.
    postgres_pool_min: int = 1
    postgres_pool_max: int = 10
    postgres_connect_timeout: float = 3.0
    postgres_pool_timeout: float = 5.0
    postgres_statement_timeout_ms: int = 30_000
    # false: a commit does not wait for its WAL to reach the disk (synchronous_commit=off);
    # a crash of PostgreSQL or of its host may then lose the last fraction of a second of
    # acknowledged writes, never corrupting anything. A crash of thudo loses nothing either way.
    postgres_synchronous_commit: bool = True

    @property
    def sqlite_path(self) -> str:
        """The file path of an ``sqlite:///`` database URL."""
        prefix = "sqlite:///"
        if not self.database_url.startswith(prefix):
            raise SettingsError(f"database_url={self.database_url!r} is not an sqlite:/// URL")
        return self.database_url[len(prefix) :] or "thudo.db"

    def replace(self, **changes: Any) -> Settings:
        """A copy with some values changed, validated again."""
        return _validated(dataclasses.replace(self, **changes))


def load_settings(
    config_file: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
    **overrides: Any,
) -> Settings:
    """Build the settings from the environment, a TOML file, then the defaults."""
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    path = config_file or env.get(_ENV_PREFIX + "CONFIG")
    if path:
        values.update(_read_toml(Path(path)))
    values.update(_read_env(env))
    values.update({k: v for k, v in overrides.items() if v is not None})
    return _validated(_build(values))


def _fields() -> dict[str, Any]:
    hints = get_type_hints(Settings)
    return {f.name: hints[f.name] for f in dataclasses.fields(Settings)}


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except OSError as exc:
        raise SettingsError(f"config file {str(path)!r} cannot be read: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"config file {str(path)!r} is not valid TOML: {exc}") from None
    except UnicodeDecodeError:
        raise SettingsError(f"config file {str(path)!r} is not UTF-8 text") from None
    section = data.get("thudo", data)
    if not isinstance(section, dict):
        raise SettingsError(f"config file {str(path)!r}: [thudo] must be a table")
    known = _fields()
    for key in section:
        if key not in known:
            raise SettingsError(f"config file {str(path)!r}: unknown key {key!r}")
    return dict(section)


def _read_env(env: Mapping[str, str]) -> dict[str, Any]:
    known = _fields()
    out: dict[str, Any] = {}
    for name in known:
        raw = env.get(_ENV_PREFIX + name.upper())
        if raw is not None:
            out[name] = raw
    return out


def _coerce(name: str, kind: Any, raw: Any) -> Any:
    if kind is bool:
        return _coerce_bool(name, raw)
    if kind in (int, float):
        return _coerce_number(name, kind, raw)
    if kind is str:
        if not isinstance(raw, str):
            raise SettingsError(f"{name}={raw!r} is not a string")
        return raw
    return _coerce_map(name, raw)


#: Larger numbers are no setting anyone means (and 400-digit ones overflowed a float).
_MAX_NUMBER = 2.0**53


def _coerce_number(name: str, kind: type[int] | type[float], raw: Any) -> int | float:
    """A finite number of the setting's kind: a whole one for an int (port = 1.9 was cut to
    port 1), never NaN or infinity (a timeout of nan passed every check)."""
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        raise SettingsError(f"{name}={raw!r} is not a number")
    try:
        number = float(raw) if isinstance(raw, str) else raw
        if isinstance(number, float) and not math.isfinite(number):
            raise ValueError
        if abs(number) > _MAX_NUMBER:
            raise SettingsError(f"{name}={raw!r} is too large")
        if kind is int:
            if isinstance(number, float) and not number.is_integer():
                raise ValueError
            return int(number)
        return float(number)
    except (ValueError, OverflowError):
        raise SettingsError(f"{name}={raw!r} is not a valid {kind.__name__}") from None


def _coerce_bool(name: str, raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"{name}={raw!r} is not a boolean (true/false)")


def _coerce_map(name: str, raw: Any) -> dict[str, str]:
    """A URL→file map: a TOML table, or ``url=file`` pairs separated by commas in the env."""
    if isinstance(raw, Mapping):
        return {str(k): str(v) for k, v in raw.items()}
    if not isinstance(raw, str):
        raise SettingsError(f"{name}={raw!r} is not a table of url = file")
    out: dict[str, str] = {}
    for pair in filter(None, (p.strip() for p in raw.split(","))):
        url, sep, target = pair.partition("=")
        if not sep or not url.strip() or not target.strip():
            raise SettingsError(f"{name}: {pair!r} is not of the form url=file")
        out[url.strip()] = target.strip()
    return out


def _build(values: Mapping[str, Any]) -> Settings:
    known = _fields()
    kwargs = {name: _coerce(name, known[name], raw) for name, raw in values.items()}
    for name in values:
        if name not in known:
            raise SettingsError(f"unknown setting {name!r}")
    return Settings(**kwargs)


_POSITIVE = (
    "workers",
    "max_body_bytes",
    "max_json_depth",
    "default_page_size",
    "max_page_size",
    "max_batch_entities",
    "max_query_length",
    "max_geometry_points",
    "max_attributes",
    "context_max_bytes",
    "context_max_depth",
    "context_cache_entries",
    "gc_young_objects",
    "sqlite_group_commit_max",
    "sqlite_cache_mib",
    "sqlite_readers",
    "sqlite_wal_max_mib",
    "postgres_pool_max",
    "postgres_statement_timeout_ms",
    "notify_max_attempts",
    "temporal_max_instances",
    "notify_batch",
    "notify_endpoint_concurrency",
    "ingest_max_payload_bytes",
    "ingest_mqtt_inflight",
    "ingest_max_measures",
    "ingest_batch_max",
    "ingest_queue_max",
)


def _validated(s: Settings) -> Settings:
    for name in _POSITIVE:
        if getattr(s, name) < 1:
            raise SettingsError(f"{name}={getattr(s, name)!r} must be at least 1")
    if not 0 < s.port < 65536:
        raise SettingsError(f"port={s.port!r} is not a TCP port (1-65535)")
    for name in (
        "context_fetch_timeout",
        "notify_timeout",
        "notify_backoff_base",
        "notify_backoff_max",
        "notify_lease",
        "notify_poll_interval",
        "housekeeping_interval",
        "ingest_max_future_s",
        "ingest_mqtt_session_expiry_s",
        "ingest_max_age_s",
        "ingest_batch_wait",
        "analytics_min_interval",
        "postgres_connect_timeout",
        "postgres_pool_timeout",
    ):
        if getattr(s, name) <= 0:
            raise SettingsError(f"{name}={getattr(s, name)!r} must be > 0")
    for name in ("temporal_retention_days", "notify_failed_retention_days"):
        if getattr(s, name) < 0:
            raise SettingsError(f"{name}={getattr(s, name)!r} must be >= 0 (0 keeps everything)")
    if not 0 <= s.postgres_pool_min <= s.postgres_pool_max:
        raise SettingsError(
            f"postgres_pool_min={s.postgres_pool_min!r} must be between 0 and"
            f" postgres_pool_max={s.postgres_pool_max!r}"
        )
    if s.sqlite_busy_timeout_ms < 0:
        raise SettingsError(f"sqlite_busy_timeout_ms={s.sqlite_busy_timeout_ms!r} must be >= 0")
    if s.default_page_size > s.max_page_size:
        raise SettingsError(
            f"default_page_size={s.default_page_size!r} exceeds max_page_size={s.max_page_size!r}"
        )
    if s.log_level.lower() not in ("debug", "info", "warning", "error", "critical"):
        raise SettingsError(f"log_level={s.log_level!r} is not debug/info/warning/error/critical")
    if s.workers > 1 and s.ingest_mqtt_url:
        raise SettingsError(
            "ingest_mqtt_url with workers > 1: MQTT ingestion runs in one process (the workers"
            " would take the broker session from each other); run it in a separate instance"
        )
    if s.ingest_mqtt_inflight > 65535:
        raise SettingsError(f"ingest_mqtt_inflight={s.ingest_mqtt_inflight!r} is above 65535")
    if s.cap_status not in ("Actual", "Exercise", "System", "Test", "Draft"):
        raise SettingsError(f"cap_status={s.cap_status!r} is not Actual/Exercise/System/Test/Draft")
    if s.log_format not in ("json", "text"):
        raise SettingsError(f"log_format={s.log_format!r} is not json or text")
    if not s.database_url.startswith(("sqlite:///", "postgresql://", "postgres://")):
        raise SettingsError(
            f"database_url={s.database_url!r} is not sqlite:///path or postgresql://..."
        )
    return s
