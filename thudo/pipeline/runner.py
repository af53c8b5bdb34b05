"""The analytics pipeline: recompute an entity's derived values when its data changes.

Whatever wrote the data (device ingestion, an NGSI-LD write or batch, a temporal append), the
store tells the watch; the pipeline reads what it needs (hourly means from the rollups, the
last two hours of rain), computes with ``analytics``, writes the results back in one
transaction per round and runs the alert rules on the result. An entity is recomputed at most
once per ``analytics_min_interval``; changes in between are folded into the next round. On
start-up every watched entity is recomputed once, so nothing stays stale after a crash.
"""

from __future__ import annotations

import asyncio
import calendar
import functools
import logging
import math
from collections import defaultdict
from datetime import timedelta
from pathlib import Path
from typing import Any

from thudo.analytics.alerting import Rule, default_rules, rules_from_toml
from thudo.config import Settings
from thudo.errors import NgsiError, NonexistentTenant, SettingsError
from thudo.ingest.screening import RANGES
from thudo.ngsild.jsonld import core_context
from thudo.ngsild.model import Entity, Instance, find_instance
from thudo.ngsild.parse import ParseOptions, parse_attributes
from thudo.ngsild.selection import EntitySelection
from thudo.ngsild.typeexpr import TypeName
from thudo.ngsild.validate import normalize_datetime, now_iso, parse_datetime
from thudo.pipeline import derive
from thudo.pipeline.alerts import AlertKeeper
from thudo.pipeline.watch import WATCHED_TYPES, ChangeWatch, Pending
from thudo.store.base import UNCHANGED, Change, Outcome, Store

__all__ = ["Pipeline", "load_rules"]

log = logging.getLogger(__name__)

_Key = tuple[str, str]
_ROUND_MAX = 256
_SYSTEM = frozenset({"createdAt", "modifiedAt", "observedAt"})
_VALUES = frozenset({"value", "json", "valueList", "languageMap"})
# Written again only when their value or hour changes; the others follow every reading.
_HOURLY = frozenset(
    core_context().expand(name)
    for name in ("vnAqiHourly", "vnAqiDaily", "airQualityLevel", "qcvnExceedances")
)


def load_rules(settings: Settings) -> list[Rule]:
    """The alert rules: the configured TOML file, or Hanoi's defaults."""
    if not settings.alert_rules_file:
        return default_rules()
    path = Path(settings.alert_rules_file)
    try:
        return rules_from_toml(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SettingsError(f"alert_rules_file={str(path)!r} cannot be read: {exc}") from None
    except ValueError as exc:
        raise SettingsError(f"alert_rules_file={str(path)!r}: {exc}") from None


class Pipeline:
    """Runs the analytics and alert rules as data arrives."""

    def __init__(self, settings: Settings, store: Store) -> None:
        self.settings = settings
        self.store = store
        self.watch = ChangeWatch()
        rules = load_rules(settings)
        self.alerts = AlertKeeper(store, rules, self._rules_changed)
        self._rules_changed(rules)
        self._ctx = core_context()
        self._iri = {name: self._ctx.expand(name) for name in (*derive.POLLUTANTS, "precipitation")}
        self._last: dict[_Key, float] = {}
        self._daily_hour: dict[_Key, tuple[int, dict[str, float]]] = {}
        self._deferred: dict[_Key, tuple[float, Pending]] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self.computed = 0
        self.failed = 0

    def _rules_changed(self, rules: list[Rule]) -> None:
        self.watch.watch_types(r.entity_type for r in rules)

    async def start(self) -> None:
        """Load the open alerts, watch the store and sweep every watched entity once."""
        self.watch.bind(asyncio.get_running_loop())
        self.store.set_change_observer(self.watch)
        await self.alerts.load()
        self._tasks = [asyncio.create_task(self._run()), asyncio.create_task(self._sweep())]

    async def close(self) -> None:
        """Stop watching and computing."""
        self.store.set_change_observer(None)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            try:
                async with asyncio.timeout(5):
                    await asyncio.gather(*self._tasks, return_exceptions=True)
            except TimeoutError:
                log.warning("the analytics pipeline did not stop within 5 s")
        self._tasks = []

    async def _sweep(self) -> None:
        for tenant in ["", *await self.store.tenants()]:
            for kind in WATCHED_TYPES:
                for entity_id in await self._ids(tenant, kind):
                    self.watch.add(tenant, entity_id, kind)

    async def _ids(self, tenant: str, kind: str) -> list[str]:
        out: list[str] = []
        while True:
            sel = EntitySelection(
                types=TypeName(self._ctx.expand(kind)), limit=1000, offset=len(out)
            )
            try:
                page = await self.store.query_entities(tenant, sel)
            except NonexistentTenant:
                return out
            out.extend(e["id"] for e in page.entities)
            if len(page.entities) < 1000:
                return out

    async def _run(self) -> None:
        while True:
            await self.watch.wake.wait()
            ready = self.watch.take()
            due = self._due(ready)
            for start in range(0, len(due), _ROUND_MAX):
                try:
                    await self._round(due[start : start + _ROUND_MAX])
                except Exception:
                    self.failed += 1
                    log.exception("an analytics round failed; its entities wait for new data")

    def _due(self, ready: dict[_Key, Pending]) -> list[tuple[_Key, Pending]]:
        """The entities not computed within the interval; the others are put off until
        their interval ends (the newest state of each is kept)."""
        now = asyncio.get_running_loop().time()  # the clock timers run on
        interval = self.settings.analytics_min_interval
        due: list[tuple[_Key, Pending]] = []
        for key, pending in ready.items():
            at = self._last.get(key, -math.inf) + interval
            if at <= now:
                due.append((key, pending))
                self._last[key] = now
                self._deferred.pop(key, None)  # computed now, from a newer state
            else:
                self._deferred[key] = (at, pending)
                self._wake_at(at)
        return due

    def _wake_at(self, at: float) -> None:
        """Release the put-off entities at ``at``: one timer for all of them, so that a
        busy stream of changes does not pile up a timer per round."""
        if self._timer is not None and self._timer.when() <= at:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer = asyncio.get_running_loop().call_at(at, self._release)

    def _release(self) -> None:
        """Queue again the put-off entities whose interval has ended; wait for the rest,
        at most ten times an interval, so that timers stay few."""
        self._timer = None
        # Timers may fire up to the clock's resolution early: a few ms count as on time.
        now = asyncio.get_running_loop().time() + 0.005
        later: dict[_Key, tuple[float, Pending]] = {}
        for key, (at, (kind, entity)) in self._deferred.items():
            if at <= now:
                self.watch.add(key[0], key[1], kind, entity)
            else:
                later[key] = (at, (kind, entity))
        self._deferred = later
        if later:
            soonest = min(at for at, _ in later.values())
            self._wake_at(max(soonest, now + self.settings.analytics_min_interval / 10))

    async def _round(self, due: list[tuple[_Key, Pending]]) -> None:
        results = await asyncio.gather(*(self._derive(key, *pending) for key, pending in due))
        by_tenant: dict[str, list[tuple[str, Change, str]]] = defaultdict(list)
        for (key, (kind, _)), (entity, attrs) in zip(due, results, strict=True):
            if attrs:
                by_tenant[key[0]].append((key[1], self._writeback(attrs), kind))
            elif entity is not None:  # nothing derived: the rules see the entity as it is
                await self.alerts.evaluate(key[0], entity, kind)
        for tenant, items in by_tenant.items():
            written = await self.store.change_many(tenant, [(eid, fn) for eid, fn, _ in items])
            for (_, _, kind), entity in zip(items, written, strict=True):
                if isinstance(entity, dict):
                    await self.alerts.evaluate(tenant, entity, kind)
                elif isinstance(entity, NgsiError):
                    log.warning("derived values not written: %s", entity.detail)
        self.computed += len(due)

    # --- computing -------------------------------------------------------------------------
    async def _derive(
        self, key: _Key, kind: str, entity: Entity | None
    ) -> tuple[Entity | None, derive.Attrs]:
        if entity is None:
            try:
                entity = await self.store.get_entity(*key)
            except NonexistentTenant:
                return None, {}
        if entity is None:
            return None, {}
        try:
            return entity, await self._derive_one(key[0], entity, kind)
        except (ValueError, TypeError, ArithmeticError) as exc:
            self.failed += 1
            log.warning("analytics of %s skipped: %s", key[1], exc)
            return entity, {}

    async def _derive_one(self, tenant: str, entity: Entity, kind: str) -> derive.Attrs:
        entity_id = entity["id"]
        if kind not in WATCHED_TYPES:
            return {}
        if kind == "AirQualityObserved":
            return await self._air(tenant, entity)
        if kind == "WeatherObserved":
            return await self._rain(tenant, entity)
        value, at = self._value(
            entity, "currentLevel" if kind == "FloodMonitoring" else "waterLevel"
        )
        if value is None or at is None:
            return {}
        if kind == "FloodMonitoring":
            alert_m, danger_m = (
                self._value(entity, "alertLevel")[0],
                self._value(entity, "dangerLevel")[0],
            )
            return derive.street_flood(value, alert_m, danger_m, at)
        levels = self._raw(entity, "alarmLevels")
        return derive.river(entity_id, value, levels, at)

    def _instance(self, entity: Entity, name: str) -> Instance | None:
        instances = entity["attrs"].get(self._ctx.expand(name)) or []
        i = find_instance(instances, None)
        return instances[i] if i >= 0 else None

    def _raw(self, entity: Entity, name: str) -> Any:
        inst = self._instance(entity, name)
        return None if inst is None else inst.get("value")

    def _value(self, entity: Entity, name: str) -> tuple[float | None, str | None]:
        inst = self._instance(entity, name)
        value = None if inst is None else inst.get("value")
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None, None
        at = inst.get("observedAt") if inst is not None else None
        return float(value), str(at) if at else now_iso()

    def _latest(self, entity: Entity, names: tuple[str, ...]) -> str | None:
        times = []
        for name in names:
            inst = self._instance(entity, name)
            if inst is not None and inst.get("observedAt"):
                times.append(str(inst["observedAt"]))
        return max(times, key=lambda t: normalize_datetime(t) or "") if times else None

    async def _air(self, tenant: str, entity: Entity) -> derive.Attrs:
        observed = self._latest(entity, derive.POLLUTANTS)
        at = parse_datetime(observed) if observed else None
        if observed is None or at is None:
            return {}
        since = normalize_datetime((at - timedelta(hours=49)).isoformat()) or ""
        iris = [self._iri[p] for p in derive.POLLUTANTS]
        found = await self.store.hourly_means(tenant, entity["id"], iris, since)
        means = {p: _plausible(p, found.get(self._iri[p], {})) for p in derive.POLLUTANTS}
        # The daily index and the 24-hour means move with whole hours: they are computed
        # once an hour per entity.
        key, hour = (tenant, entity["id"]), derive.hour_key(at)
        cached = self._daily_hour.get(key)
        daily = cached is None or cached[0] != hour
        if daily:
            if len(self._daily_hour) > 100_000:
                self._daily_hour.clear()
            cached = self._daily_hour[key] = (hour, derive.means_24h(means, at))
        assert cached is not None
        return derive.air_quality(means, at, observed, daily=daily, day_means=cached[1])

    async def _rain(self, tenant: str, entity: Entity) -> derive.Attrs:
        observed = self._latest(entity, ("precipitation",))
        at = parse_datetime(observed) if observed else None
        if observed is None or at is None:
            return {}
        # Amounts are per report, so the window is (at - 2 h, at].
        since = normalize_datetime((at - timedelta(hours=2, microseconds=-1)).isoformat()) or ""
        values = await self.store.recent_values(
            tenant, entity["id"], self._iri["precipitation"], since
        )
        return derive.rain(sum(v for _, v in values if v >= 0), observed)

    # --- writing back ----------------------------------------------------------------------
    def _writeback(self, attrs: derive.Attrs) -> Change:
        ctx = self._ctx

        def change(current: Entity | None) -> Outcome:
            if current is None:
                return UNCHANGED, None
            now = now_iso()
            parsed = parse_attributes(attrs, ctx, now, ParseOptions())
            changed = False
            for iri, instances in parsed.items():
                old = current["attrs"].get(iri)
                if old and _same(iri, old[0], instances[0]):
                    continue
                if old:
                    instances[0]["createdAt"] = old[0].get("createdAt", now)
                current["attrs"][iri] = instances
                changed = True
            if not changed:
                return UNCHANGED, current
            current["modifiedAt"] = now
            return current, current

        return change


def _plausible(pollutant: str, means: dict[str, float]) -> dict[int, float]:
    """Hourly means by hour number, within the physical range: history written past the
    ingestion's screening (the temporal API, a raw NGSI-LD write) may hold impossible values."""
    low, high = RANGES[pollutant]
    return {
        _hour_number(bucket): m
        for bucket, m in means.items()
        if low <= m <= high and math.isfinite(m)
    }


@functools.lru_cache(maxsize=65536)
def _hour_number(bucket: str) -> int:
    """A rollup bucket ``YYYY-MM-DDTHH:00:00…Z`` as hours since the epoch."""
    moment = (int(bucket[0:4]), int(bucket[5:7]), int(bucket[8:10]), int(bucket[11:13]), 0, 0)
    return calendar.timegm(moment) // 3600


def _strip(inst: Instance) -> dict[str, Any]:
    """An instance without its times, sub-attributes included."""
    out: dict[str, Any] = {}
    for key, value in inst.items():
        if key in _SYSTEM:
            continue
        nested = key not in _VALUES and isinstance(value, list) and value
        out[key] = [_strip(v) for v in value if isinstance(v, dict)] if nested else value
    return out


def _same(iri: str, old: Instance, new: Instance) -> bool:
    """Whether writing ``new`` would add nothing: the same values, and the same observation
    time for the current values (the same hour for the hourly and daily ones)."""
    old_at, new_at = str(old.get("observedAt", "")), str(new.get("observedAt", ""))
    width = 13 if iri in _HOURLY else len(new_at) + 1
    if old_at[:width] != new_at[:width]:
        return False
    return _strip(old) == _strip(new)
