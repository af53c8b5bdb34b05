"""Alert rules over the city's thresholds, evaluated as pure functions, and the alert lifecycle.

A rule is a condition on one attribute of one entity type (optionally one entity), with
hysteresis (raise at ``raise_at``, clear only beyond ``clear_at``) and a minimum duration the
condition must hold before a raise, and before a clear, so that one noisy reading neither
raises nor clears an alert. ``step`` folds one reading into a rule's state; readings not later
than the last one accepted are ignored, and ``None``/NaN readings are no data. Rules come from
TOML (``rules_from_toml``); ``DEFAULT_RULES_TOML`` holds Hanoi's. The vocabulary (category,
subCategory, severity) is the Smart Data Model ``Alert``'s. An alert then moves
active → acknowledged → resolved, each step recording who and when.
"""

from __future__ import annotations

import hashlib
import math
import re
import string
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from importlib import resources
from typing import Any, Literal, get_args

__all__ = [
    "CATEGORIES",
    "DEFAULT_RULES_TOML",
    "SEVERITIES",
    "Alert",
    "AlertStatus",
    "Bilingual",
    "Change",
    "Comparison",
    "Rule",
    "RuleState",
    "Severity",
    "Transition",
    "acknowledge",
    "alert_id",
    "default_rules",
    "open_alert",
    "render",
    "replay",
    "resolve",
    "rule_from_mapping",
    "rules_from_toml",
    "step",
]

Comparison = Literal[">=", ">", "<=", "<"]
Severity = Literal["informational", "low", "medium", "high", "critical"]
COMPARISONS: tuple[Comparison, ...] = get_args(Comparison)
SEVERITIES: tuple[Severity, ...] = get_args(Severity)
# Smart Data Model Alert, Common-Alert ``category`` enum.
CATEGORIES = (
    "traffic",
    "naturalDisaster",
    "weather",
    "environment",
    "health",
    "security",
    "agriculture",
)
# Rule ids end up in NGSI-LD URNs and CAP identifiers, which allow no spaces, commas, < or &.
_RULE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_NAME = re.compile(r"\S+")
PLACEHOLDERS = frozenset({"value", "raise_at", "clear_at", "attribute", "area"})


@dataclass(frozen=True, slots=True)
class Bilingual:
    """A text in Vietnamese (``vi``) and English (``en``)."""

    vi: str
    en: str


@dataclass(frozen=True, slots=True)
class Rule:
    """A declarative alert rule: ``attribute`` of ``entity_type`` compared with thresholds.

    The rule raises when ``value <comparison> raise_at`` has held for ``min_duration_s``, and
    clears when the value has been strictly beyond ``clear_at`` the other way (below it for
    ``>=``/``>``, above it for ``<=``/``<``) for ``clear_duration_s`` (``None``: the same as
    ``min_duration_s``). Between the two thresholds the state holds. A gap of more than
    ``max_gap_s`` between readings restarts a pending duration. Texts are ``str.format``
    templates over ``{value}``, ``{raise_at}``, ``{clear_at}``, ``{attribute}`` and ``{area}``.
    """

    id: str
    entity_type: str
    attribute: str
    comparison: Comparison
    raise_at: float
    clear_at: float
    category: str
    sub_category: str
    severity: Severity
    headline: Bilingual
    description: Bilingual
    instruction: Bilingual | None = None
    entity_id: str | None = None
    min_duration_s: float = 0.0
    clear_duration_s: float | None = None
    max_gap_s: float = 3600.0

    def __post_init__(self) -> None:
        _check_rule(self)

    @property
    def rising(self) -> bool:
        """True when the rule watches for high values (``>=`` or ``>``)."""
        return self.comparison in (">=", ">")

    @property
    def clear_after_s(self) -> float:
        """How long the clear condition must hold before the rule clears, in seconds."""
        return self.min_duration_s if self.clear_duration_s is None else self.clear_duration_s

    def applies_to(self, entity_type: str, entity_id: str) -> bool:
        """Whether the rule watches this entity."""
        return entity_type == self.entity_type and self.entity_id in (None, entity_id)

    def breached(self, value: float) -> bool:
        """Whether ``value`` meets the raise condition."""
        return _compare(value, self.comparison, self.raise_at)

    def cleared(self, value: float) -> bool:
        """Whether ``value`` is beyond the clear threshold (strictly, away from the alert)."""
        return value < self.clear_at if self.rising else value > self.clear_at


class Change(StrEnum):
    """What a rule did: raise or clear its alert."""

    RAISE = "raise"
    CLEAR = "clear"


@dataclass(frozen=True, slots=True)
class Transition:
    """A raise or clear, at the reading that completed it, with the time the condition began
    holding (``since``; ``at - since`` is at least the rule's duration)."""

    change: Change
    rule_id: str
    at: datetime
    value: float
    since: datetime


@dataclass(frozen=True, slots=True)
class RuleState:
    """One rule's state for one entity: raised or not, since when the condition for the other
    state has held (``pending_since``), and the time of the last reading accepted."""

    active: bool = False
    pending_since: datetime | None = None
    last_at: datetime | None = None


def step(
    rule: Rule, state: RuleState, value: float | None, observed_at: datetime
) -> tuple[RuleState, Transition | None]:
    """Fold one reading into ``state``; return the new state and the raise or clear, if any.

    A reading at or before ``state.last_at`` (out of order or a duplicate) and a ``None``, NaN
    or infinite value change nothing. A gap of more than ``rule.max_gap_s`` since the last
    reading restarts a pending duration: the condition must be seen to hold throughout.
    """
    at = _aware(observed_at, "observed_at")
    reading = _reading(value, rule)
    if reading is None or (state.last_at is not None and at <= state.last_at):
        return state, None
    pending = state.pending_since
    if state.last_at is not None and at - state.last_at > timedelta(seconds=rule.max_gap_s):
        pending = None
    holds = rule.cleared(reading) if state.active else rule.breached(reading)
    if not holds:
        return RuleState(state.active, None, at), None
    since = at if pending is None else pending
    needed = rule.clear_after_s if state.active else rule.min_duration_s
    if at - since < timedelta(seconds=needed):
        return RuleState(state.active, since, at), None
    change = Change.CLEAR if state.active else Change.RAISE
    return RuleState(not state.active, None, at), Transition(change, rule.id, at, reading, since)


def replay(
    rule: Rule,
    readings: Iterable[tuple[datetime, float | None]],
    state: RuleState | None = None,
) -> tuple[RuleState, list[Transition]]:
    """Fold ``(observed_at, value)`` readings, in arrival order, through ``step``."""
    current = RuleState() if state is None else state
    transitions: list[Transition] = []
    for observed_at, value in readings:
        current, transition = step(rule, current, value, observed_at)
        if transition is not None:
            transitions.append(transition)
    return current, transitions


def render(rule: Rule, text: Bilingual, *, value: float, area: str) -> Bilingual:
    """``text`` (one of the rule's templates) filled in for a reading at ``area``."""
    values = _template_values(rule, value, area)
    return Bilingual(text.vi.format_map(values), text.en.format_map(values))


# --- the alert lifecycle ---------------------------------------------------------------------


class AlertStatus(StrEnum):
    """Where an alert is in its lifecycle: active → acknowledged → resolved."""

    ACTIVE = "active"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


@dataclass(frozen=True, slots=True)
class Alert:
    """An alert raised by a rule, shaped after the Smart Data Model ``Alert``.

    ``valid_from`` is the raise time; ``valid_to`` the resolution time. ``location`` is a
    GeoJSON geometry (RFC 7946), ``area_name`` a place name, ``geocodes`` (valueName, value)
    pairs such as an administrative code.
    """

    id: str
    rule_id: str
    entity_id: str
    category: str
    sub_category: str
    severity: Severity
    headline: Bilingual
    description: Bilingual
    instruction: Bilingual | None
    value: float
    valid_from: datetime
    area_name: str = ""
    location: Mapping[str, Any] | None = None
    geocodes: tuple[tuple[str, str], ...] = ()
    status: AlertStatus = AlertStatus.ACTIVE
    acknowledged_by: str | None = None
    acknowledged_at: datetime | None = None
    resolved_by: str | None = None
    resolved_at: datetime | None = None

    @property
    def valid_to(self) -> datetime | None:
        """When the alert stopped applying: its resolution time, ``None`` while open."""
        return self.resolved_at

    @property
    def updated_at(self) -> datetime:
        """The time of the alert's latest lifecycle event."""
        times = (self.valid_from, self.acknowledged_at, self.resolved_at)
        return max(moment for moment in times if moment is not None)


def alert_id(rule_id: str, entity_id: str, raised_at: datetime) -> str:
    """The alert's NGSI-LD id, the same for the same rule, entity and raise instant, so that a
    replay after a restart does not duplicate the alert."""
    instant = _aware(raised_at, "raised_at").astimezone(UTC).isoformat()
    digest = hashlib.sha256(f"{rule_id}\n{entity_id}\n{instant}".encode()).hexdigest()[:20]
    return f"urn:ngsi-ld:Alert:{rule_id}:{digest}"


def open_alert(
    rule: Rule,
    transition: Transition,
    *,
    entity_id: str,
    area_name: str = "",
    location: Mapping[str, Any] | None = None,
    geocodes: tuple[tuple[str, str], ...] = (),
) -> Alert:
    """The active alert for ``rule``'s raise ``transition`` at ``entity_id``."""
    if transition.change is not Change.RAISE or transition.rule_id != rule.id:
        raise ValueError(
            f"an alert opens on a raise by rule {rule.id!r}, got a {transition.change} "
            f"by rule {transition.rule_id!r}"
        )
    area = area_name or entity_id
    instruction = rule.instruction
    return Alert(
        id=alert_id(rule.id, entity_id, transition.at),
        rule_id=rule.id,
        entity_id=entity_id,
        category=rule.category,
        sub_category=rule.sub_category,
        severity=rule.severity,
        headline=render(rule, rule.headline, value=transition.value, area=area),
        description=render(rule, rule.description, value=transition.value, area=area),
        instruction=None
        if instruction is None
        else render(rule, instruction, value=transition.value, area=area),
        value=transition.value,
        valid_from=transition.at,
        area_name=area_name,
        location=location,
        geocodes=geocodes,
    )


def acknowledge(alert: Alert, *, by: str, at: datetime) -> Alert:
    """The alert acknowledged by ``by`` at ``at``; only an active alert can be acknowledged."""
    moment = _lifecycle_step(alert, by, at, "acknowledge")
    if alert.status is not AlertStatus.ACTIVE:
        raise ValueError(
            f"alert {alert.id} is {alert.status}; only an active alert is acknowledged"
        )
    return replace(
        alert, status=AlertStatus.ACKNOWLEDGED, acknowledged_by=by.strip(), acknowledged_at=moment
    )


def resolve(alert: Alert, *, by: str, at: datetime) -> Alert:
    """The alert resolved by ``by`` at ``at`` (a person, or the rule when it clears); an active
    or acknowledged alert can be resolved, once."""
    moment = _lifecycle_step(alert, by, at, "resolve")
    if alert.status is AlertStatus.RESOLVED:
        raise ValueError(f"alert {alert.id} is already resolved (by {alert.resolved_by})")
    return replace(alert, status=AlertStatus.RESOLVED, resolved_by=by.strip(), resolved_at=moment)


def _lifecycle_step(alert: Alert, by: str, at: datetime, action: str) -> datetime:
    if not isinstance(by, str) or not by.strip():
        raise ValueError(f"{action} alert {alert.id}: 'by' must name who did it, got {by!r}")
    moment = _aware(at, "at")
    if moment < alert.updated_at:
        raise ValueError(
            f"{action} alert {alert.id}: at {moment.isoformat()} is before its last change "
            f"at {alert.updated_at.isoformat()}"
        )
    return moment


# --- rules from TOML -------------------------------------------------------------------------

_REQUIRED = (
    "id",
    "entity_type",
    "attribute",
    "comparison",
    "raise_at",
    "category",
    "sub_category",
    "severity",
    "headline",
    "description",
)
_TEXTS = ("headline", "description", "instruction")
_NUMBERS = ("raise_at", "clear_at", "min_duration_s", "clear_duration_s", "max_gap_s")
_KEYS = frozenset(field.name for field in fields(Rule))


def rules_from_toml(text: str) -> list[Rule]:
    """Parse alert rules from a TOML document of ``[[rule]]`` tables.

    Every key is a ``Rule`` field; ``clear_at`` defaults to ``raise_at`` (no hysteresis) and
    the texts are inline tables ``{ vi = "...", en = "..." }``. A ValueError names the rule and
    the field at fault.
    """
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"alert rules are not valid TOML: {exc}") from None
    unknown = sorted(set(document) - {"rule"})
    if unknown:
        raise ValueError(f"unknown top-level key(s) {unknown}; rules go in [[rule]] tables")
    tables = document.get("rule", [])
    if not isinstance(tables, list):
        raise ValueError("'rule' must be an array of tables, written [[rule]]")
    rules = [_rule_from_table(index, table) for index, table in enumerate(tables, start=1)]
    seen: dict[str, int] = {}
    for index, rule in enumerate(rules, start=1):
        if rule.id in seen:
            raise ValueError(
                f"rule id {rule.id!r} is used twice (rules #{seen[rule.id]} and #{index})"
            )
        seen[rule.id] = index
    return rules


def rule_from_mapping(table: object) -> Rule:
    """One rule from a mapping of the same fields as a ``[[rule]]`` table (e.g. JSON)."""
    return _rule_from_table(1, table)


def default_rules() -> list[Rule]:
    """Hanoi's default rules, parsed from ``DEFAULT_RULES_TOML``."""
    return rules_from_toml(DEFAULT_RULES_TOML)


def _rule_from_table(index: int, table: object) -> Rule:
    if not isinstance(table, dict):
        raise ValueError(f"rule #{index} must be a table, got {table!r}")
    name = table.get("id")
    where = f"rule {name!r}" if isinstance(name, str) else f"rule #{index}"
    unknown = sorted(set(table) - _KEYS)
    if unknown:
        raise ValueError(f"{where}: unknown field(s) {unknown}; expected some of {sorted(_KEYS)}")
    missing = [key for key in _REQUIRED if key not in table]
    if missing:
        raise ValueError(f"{where}: missing field(s) {missing}")
    values: dict[str, Any] = {}
    for key, raw in table.items():
        if key in _TEXTS:
            values[key] = _bilingual(raw, f"{where}: {key}")
        elif key in _NUMBERS:
            values[key] = _number(raw, f"{where}: {key}")
        elif not isinstance(raw, str):
            raise ValueError(f"{where}: {key} must be a string, got {raw!r}")
        else:
            values[key] = raw
    values.setdefault("clear_at", values["raise_at"])
    return Rule(**values)


def _bilingual(raw: object, what: str) -> Bilingual:
    if not isinstance(raw, dict) or set(raw) != {"vi", "en"}:
        raise ValueError(f'{what} must be a table {{ vi = "...", en = "..." }}, got {raw!r}')
    vi, en = raw["vi"], raw["en"]
    if not isinstance(vi, str) or not isinstance(en, str):
        raise ValueError(f"{what}: vi and en must be strings, got {vi!r} and {en!r}")
    return Bilingual(vi, en)


def _number(raw: object, what: str) -> float:
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise ValueError(f"{what} must be a number, got {raw!r}")
    return float(raw)


# --- checks ----------------------------------------------------------------------------------


def _check_rule(rule: Rule) -> None:
    if not isinstance(rule.id, str) or not _RULE_ID.fullmatch(rule.id):
        raise ValueError(
            f"rule id {rule.id!r} must be 1-64 letters, digits, '_', '-' or '.', "
            "starting with a letter or digit"
        )
    where = f"rule {rule.id!r}"
    for key in ("entity_type", "attribute", "sub_category"):
        text = getattr(rule, key)
        if not isinstance(text, str) or not _NAME.fullmatch(text):
            raise ValueError(
                f"{where}: {key} must be a non-empty name without spaces, got {text!r}"
            )
    if rule.entity_id is not None and not _NAME.fullmatch(rule.entity_id):
        raise ValueError(f"{where}: entity_id must be an entity id, got {rule.entity_id!r}")
    _check_choice(rule.comparison, COMPARISONS, f"{where}: comparison")
    _check_choice(rule.category, CATEGORIES, f"{where}: category")
    _check_choice(rule.severity, SEVERITIES, f"{where}: severity")
    _check_thresholds(rule, where)
    _check_times(rule, where)
    for key in _TEXTS:
        text = getattr(rule, key)
        if text is not None:
            _check_template(rule, text, f"{where}: {key}")


def _check_choice(value: object, choices: tuple[str, ...], what: str) -> None:
    if value not in choices:
        raise ValueError(f"{what} must be one of {list(choices)}, got {value!r}")


def _check_thresholds(rule: Rule, where: str) -> None:
    for key in ("raise_at", "clear_at"):
        value = getattr(rule, key)
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            raise ValueError(f"{where}: {key} must be a finite number, got {value!r}")
    if rule.rising and rule.clear_at > rule.raise_at:
        raise ValueError(
            f"{where}: clear_at ({rule.clear_at}) must not be above raise_at ({rule.raise_at}) "
            f"for '{rule.comparison}': the alert clears below clear_at"
        )
    if not rule.rising and rule.clear_at < rule.raise_at:
        raise ValueError(
            f"{where}: clear_at ({rule.clear_at}) must not be below raise_at ({rule.raise_at}) "
            f"for '{rule.comparison}': the alert clears above clear_at"
        )


def _check_times(rule: Rule, where: str) -> None:
    for key in ("min_duration_s", "clear_duration_s", "max_gap_s"):
        value = getattr(rule, key)
        if value is None and key == "clear_duration_s":
            continue
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            raise ValueError(f"{where}: {key} must be a finite number of seconds, got {value!r}")
        if key == "max_gap_s" and value <= 0:
            raise ValueError(f"{where}: {key} must be above 0, got {value}")
        if value < 0:
            raise ValueError(f"{where}: {key} must be at least 0, got {value}")


def _check_template(rule: Rule, text: Bilingual, what: str) -> None:
    if not isinstance(text, Bilingual):
        raise ValueError(f"{what} must be a Bilingual text, got {text!r}")
    for lang, template in (("vi", text.vi), ("en", text.en)):
        if not isinstance(template, str) or not template.strip():
            raise ValueError(f"{what}.{lang} must be a non-empty text, got {template!r}")
        try:
            names = {name for _, name, _, _ in string.Formatter().parse(template) if name}
            unknown = sorted(names - PLACEHOLDERS)
            if not unknown:
                # A whole value is formatted as an int (_plain): "{value:.2}" fails on it
                # but not on 1.5, so both kinds are tried.
                for sample in (1.5, 2.0):
                    template.format_map(_template_values(rule, sample, "area"))
        except (ValueError, KeyError, IndexError, AttributeError) as exc:
            raise ValueError(f"{what}.{lang} is not a valid template: {exc}") from None
        if unknown:
            raise ValueError(
                f"{what}.{lang} uses unknown placeholder(s) {unknown}; "
                f"allowed: {sorted(PLACEHOLDERS)}"
            )


def _template_values(rule: Rule, value: float, area: str) -> dict[str, object]:
    return {
        "value": _plain(value),
        "raise_at": _plain(rule.raise_at),
        "clear_at": _plain(rule.clear_at),
        "attribute": rule.attribute,
        "area": area,
    }


def _plain(number: float) -> float | int:
    # 151.0 reads as "151" in a message; format specs such as {value:.1f} still apply.
    return int(number) if float(number).is_integer() else number


def _compare(value: float, comparison: Comparison, threshold: float) -> bool:
    if comparison == ">=":
        return value >= threshold
    if comparison == ">":
        return value > threshold
    if comparison == "<=":
        return value <= threshold
    return value < threshold


def _reading(value: object, rule: Rule) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"rule {rule.id!r}: {rule.attribute} must be a number, got {value!r}")
    number = float(value)
    return number if math.isfinite(number) else None


def _aware(moment: object, what: str) -> datetime:
    if not isinstance(moment, datetime):
        raise ValueError(f"{what} must be a datetime, got {moment!r}")
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{what} must carry a time zone, got the naive {moment.isoformat()}")
    return moment


# --- Hanoi's defaults ------------------------------------------------------------------------

# Hanoi's defaults, in a TOML file beside this module (the same format users write).
DEFAULT_RULES_TOML = (
    resources.files("thudo.analytics").joinpath("hanoi-rules.toml").read_text(encoding="utf-8")
)
