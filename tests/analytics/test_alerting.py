"""Alert rules: hysteresis, minimum durations, out-of-order and missing readings, TOML parsing,
Hanoi's default rules at their threshold edges (DOMAIN.md), and the alert lifecycle."""

from __future__ import annotations

import dataclasses
import math
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from thudo.analytics.alerting import (
    DEFAULT_RULES_TOML,
    AlertStatus,
    Bilingual,
    Change,
    Rule,
    RuleState,
    acknowledge,
    alert_id,
    default_rules,
    open_alert,
    render,
    replay,
    resolve,
    rules_from_toml,
    step,
)
from thudo.analytics.flood import LONG_BIEN
from thudo.analytics.rain import DRAINAGE_LIMIT_MM
from thudo.analytics.vnaqi import band_for

ICT = timezone(timedelta(hours=7))
T0 = datetime(2025, 1, 10, 8, 0, tzinfo=ICT)
TEXT = Bilingual("{attribute} {value} ≥ {raise_at}", "{attribute} {value} at {area}")


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def make_rule(**changes: Any) -> Rule:
    values: dict[str, Any] = {
        "id": "test",
        "entity_type": "AirQualityObserved",
        "attribute": "airQualityIndex",
        "comparison": ">=",
        "raise_at": 100.0,
        "clear_at": 90.0,
        "category": "environment",
        "sub_category": "airPollution",
        "severity": "medium",
        "headline": TEXT,
        "description": TEXT,
    }
    values.update(changes)
    return Rule(**values)


def series(values: list[float | None], every_minutes: float = 1.0) -> list[tuple[datetime, Any]]:
    return [(at(i * every_minutes), value) for i, value in enumerate(values)]


def changes(rule: Rule, readings: list[tuple[datetime, Any]]) -> list[tuple[Change, datetime]]:
    return [(t.change, t.at) for t in replay(rule, readings)[1]]


# --- thresholds and hysteresis ---------------------------------------------------------------


def test_raises_at_the_threshold_and_not_below() -> None:
    rule = make_rule()
    assert changes(rule, series([99.9, 99.0])) == []
    state, transition = step(rule, RuleState(), 100.0, T0)
    assert transition is not None
    assert (transition.change, transition.value, transition.at, transition.since) == (
        Change.RAISE,
        100.0,
        T0,
        T0,
    )
    assert state == RuleState(active=True, pending_since=None, last_at=T0)


def test_noise_around_the_threshold_does_not_flap() -> None:
    # One raise at 101; the dips to 99, 95 and 90 stay inside the band [90, 100).
    noisy = [99, 101, 99, 101, 98, 102, 95, 100, 90, 99.5]
    assert changes(make_rule(), series(noisy)) == [(Change.RAISE, at(1))]


def test_without_hysteresis_the_same_noise_flaps() -> None:
    # The contrast that shows the band matters: clear_at == raise_at clears on every dip.
    noisy = [99, 101, 99, 101, 98, 102]
    found = [change for change, _ in changes(make_rule(clear_at=100.0), series(noisy))]
    assert found == [Change.RAISE, Change.CLEAR] * 2 + [Change.RAISE]


def test_clears_only_strictly_below_the_clear_threshold() -> None:
    rule = make_rule()
    assert changes(rule, series([100, 90, 90.0])) == [(Change.RAISE, at(0))]
    assert changes(rule, series([100, 90, 89.9])) == [(Change.RAISE, at(0)), (Change.CLEAR, at(2))]


def test_strict_comparison_does_not_raise_at_the_threshold() -> None:
    rule = make_rule(comparison=">", raise_at=0.3, clear_at=0.25)
    assert changes(rule, series([0.3, 0.3])) == []
    assert changes(rule, series([0.3, 0.300001])) == [(Change.RAISE, at(1))]


@pytest.mark.parametrize(("comparison", "fires", "holds"), [("<=", 30.0, 30.01), ("<", 29.99, 30)])
def test_falling_rules_raise_low_and_clear_above(
    comparison: Any, fires: float, holds: float
) -> None:
    rule = make_rule(comparison=comparison, raise_at=30.0, clear_at=35.0)
    assert changes(rule, series([holds])) == []
    assert changes(rule, series([fires, 35.0, 35.1])) == [
        (Change.RAISE, at(0)),
        (Change.CLEAR, at(2)),
    ]


# --- durations -------------------------------------------------------------------------------


def test_minimum_duration_before_raising() -> None:
    rule = make_rule(min_duration_s=600)
    # Held from minute 0: at minute 5 only 5 minutes have passed; at minute 10 it raises.
    assert changes(rule, series([120, 120, 120], every_minutes=5)) == [(Change.RAISE, at(10))]
    _, found = replay(rule, series([120, 120, 120], every_minutes=5))
    assert found[0].since == at(0)


def test_a_dip_restarts_the_minimum_duration() -> None:
    rule = make_rule(min_duration_s=600)
    # 0 and 5 hold, 8 dips below raise_at, so the 10 minutes start again at 10.
    readings = [(at(0), 120), (at(5), 120), (at(8), 99), (at(10), 120), (at(18), 120)]
    assert changes(rule, readings) == []
    assert changes(rule, [*readings, (at(20), 120)]) == [(Change.RAISE, at(20))]


def test_a_single_spike_never_raises_a_rule_with_a_duration() -> None:
    rule = make_rule(min_duration_s=300)
    assert changes(rule, series([50, 500, 50, 50], every_minutes=1)) == []


def test_clear_duration_defaults_to_the_minimum_duration() -> None:
    rule = make_rule(min_duration_s=600)
    assert rule.clear_after_s == 600
    assert make_rule(min_duration_s=600, clear_duration_s=60).clear_after_s == 60


def test_clear_needs_its_own_duration() -> None:
    rule = make_rule(min_duration_s=0, clear_duration_s=900)
    readings = series([120, 80, 80, 80, 80], every_minutes=5)  # below from minute 5
    assert changes(rule, readings[:4]) == [(Change.RAISE, at(0))]  # minute 15: 10 min below
    assert changes(rule, readings) == [(Change.RAISE, at(0)), (Change.CLEAR, at(20))]


def test_back_in_the_band_restarts_the_clear_duration() -> None:
    rule = make_rule(clear_duration_s=600)
    readings = [(at(0), 120), (at(1), 80), (at(6), 95), (at(7), 80), (at(16), 80)]
    assert changes(rule, readings) == [(Change.RAISE, at(0))]
    assert changes(rule, [*readings, (at(17), 80)])[-1] == (Change.CLEAR, at(17))


# --- out of order, duplicates, missing data and gaps -----------------------------------------


def test_out_of_order_and_duplicate_readings_are_ignored() -> None:
    rule = make_rule(min_duration_s=600)
    state, _ = replay(rule, [(at(0), 120), (at(5), 120)])
    for late in (at(5), at(4), at(-60)):  # a duplicate, then two late readings
        for value in (0.0, 120.0, 1000.0):
            assert step(rule, state, value, late) == (state, None)


def test_a_late_reading_cannot_complete_a_duration() -> None:
    rule = make_rule(min_duration_s=600)
    arrivals = [(at(0), 120), (at(12), 50), (at(10), 120)]  # at(10) arrives after at(12)
    assert changes(rule, arrivals) == []


def test_arrival_order_decides_what_is_ignored() -> None:
    rule = make_rule(min_duration_s=120)
    readings = series([120, 80, 120, 120, 120, 60, 60, 60, 60])
    shuffled = [readings[i] for i in (3, 0, 1, 2, 4, 8, 5, 6, 7)]
    # Deterministic: arrival order decides what is ignored, and replaying it gives one answer.
    assert replay(rule, shuffled) == replay(rule, shuffled)
    assert changes(rule, readings) == [(Change.RAISE, at(4)), (Change.CLEAR, at(7))]
    assert changes(rule, shuffled) == []  # 4 and 8 came early, so 0-3 and 5-7 were ignored


@pytest.mark.parametrize("missing", [None, math.nan, math.inf, -math.inf])
def test_missing_values_are_no_data(missing: float | None) -> None:
    rule = make_rule(min_duration_s=0)
    state = RuleState()
    assert step(rule, state, missing, T0) == (state, None)
    raised, _ = step(rule, state, 120, T0)
    assert step(rule, raised, missing, at(1)) == (raised, None)


def test_a_gap_restarts_the_pending_duration() -> None:
    rule = make_rule(min_duration_s=1200, max_gap_s=900)
    # Minute 0 holds, then 20 minutes without data (a None does not count): the gap of 20
    # minutes exceeds 15, so the 20-minute duration restarts at minute 20.
    readings = [(at(0), 120), (at(10), None), (at(20), 120), (at(30), 120)]
    assert changes(rule, readings) == []
    assert changes(rule, [*readings, (at(40), 120)]) == [(Change.RAISE, at(40))]


def test_readings_within_the_gap_limit_keep_the_duration() -> None:
    rule = make_rule(min_duration_s=1200, max_gap_s=900)
    assert changes(rule, series([120, 120, 120], every_minutes=10)) == [(Change.RAISE, at(20))]


def test_a_gap_does_not_clear_an_active_alert() -> None:
    rule = make_rule(max_gap_s=60)
    assert changes(rule, [(at(0), 120), (at(600), 95)]) == [(Change.RAISE, at(0))]


def test_step_rejects_naive_times_and_non_numbers() -> None:
    rule = make_rule()
    with pytest.raises(ValueError, match="time zone"):
        step(rule, RuleState(), 120, datetime(2025, 1, 10, 8))
    with pytest.raises(ValueError, match="airQualityIndex must be a number"):
        step(rule, RuleState(), "120", T0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="must be a number"):
        step(rule, RuleState(), True, T0)


# --- templates -------------------------------------------------------------------------------


def test_render_fills_the_templates() -> None:
    rule = make_rule()
    text = render(rule, rule.description, value=151.0, area="Láng")
    assert text == Bilingual("airQualityIndex 151 ≥ 100", "airQualityIndex 151 at Láng")
    assert render(rule, rule.description, value=0.35, area="x").vi == "airQualityIndex 0.35 ≥ 100"


def test_rule_applies_to_its_entities() -> None:
    anywhere = make_rule()
    one = make_rule(entity_id="urn:ngsi-ld:AirQualityObserved:a")
    assert anywhere.applies_to("AirQualityObserved", "urn:ngsi-ld:AirQualityObserved:b")
    assert not anywhere.applies_to("WeatherObserved", "urn:ngsi-ld:AirQualityObserved:b")
    assert one.applies_to("AirQualityObserved", "urn:ngsi-ld:AirQualityObserved:a")
    assert not one.applies_to("AirQualityObserved", "urn:ngsi-ld:AirQualityObserved:b")


# --- TOML ------------------------------------------------------------------------------------

GOOD = """
[[rule]]
id = "pm"
entity_type = "AirQualityObserved"
attribute = "airQualityIndex"
comparison = ">="
raise_at = 151
category = "environment"
sub_category = "airPollution"
severity = "high"
headline = { vi = "Xấu", en = "Bad" }
description = { vi = "VN_AQI {value:.0f}", en = "VN_AQI {value:.0f} at {area}" }
"""


def test_a_minimal_rule_parses_with_defaults() -> None:
    (rule,) = rules_from_toml(GOOD)
    assert (rule.id, rule.raise_at, rule.clear_at, rule.comparison) == ("pm", 151.0, 151.0, ">=")
    assert (rule.min_duration_s, rule.clear_after_s, rule.instruction) == (0.0, 0.0, None)
    assert rules_from_toml("") == []


def _with(old: str, new: str) -> str:
    assert old in GOOD
    return GOOD.replace(old, new)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[[rule]\n", "not valid TOML"),
        ('rules = "x"', r"unknown top-level key\(s\) \['rules'\]"),
        ('rule = "x"', r"'rule' must be an array of tables"),
        (
            _with('comparison = ">="', 'comparison = ">="\nraise_after = 5'),
            r"rule 'pm': unknown field\(s\) \['raise_after'\]",
        ),
        (_with('severity = "high"\n', ""), r"rule 'pm': missing field\(s\) \['severity'\]"),
        (_with('id = "pm"\n', ""), r"rule #1: missing field\(s\) \['id'\]"),
        (_with("raise_at = 151", 'raise_at = "151"'), "rule 'pm': raise_at must be a number"),
        (_with("raise_at = 151", "raise_at = true"), "rule 'pm': raise_at must be a number"),
        (_with("raise_at = 151", "raise_at = nan"), "rule 'pm': raise_at must be a finite number"),
        (_with('comparison = ">="', 'comparison = "=>"'), "rule 'pm': comparison must be one of"),
        (_with('severity = "high"', 'severity = "severe"'), "rule 'pm': severity must be one of"),
        (
            _with('category = "environment"', 'category = "air"'),
            "rule 'pm': category must be one of",
        ),
        (
            _with('attribute = "airQualityIndex"', "attribute = 5"),
            "rule 'pm': attribute must be a string",
        ),
        (
            _with('attribute = "airQualityIndex"', 'attribute = "air index"'),
            "rule 'pm': attribute must be a non-empty name",
        ),
        (
            _with("raise_at = 151", "raise_at = 151\nclear_at = 160"),
            "rule 'pm': clear_at .* must not be above raise_at",
        ),
        (
            _with('comparison = ">="', 'comparison = "<="\nclear_at = 140'),
            "rule 'pm': clear_at .* must not be below raise_at",
        ),
        (
            _with("raise_at = 151", "raise_at = 151\nmin_duration_s = -1"),
            "rule 'pm': min_duration_s must be at least 0",
        ),
        (
            _with("raise_at = 151", "raise_at = 151\nmax_gap_s = 0"),
            "rule 'pm': max_gap_s must be above 0",
        ),
        (
            _with('vi = "Xấu"', 'vi = "Xấu {station}"'),
            r"rule 'pm': headline.vi uses unknown placeholder\(s\) \['station'\]",
        ),
        (
            _with('en = "Bad"', 'en = "Bad {value:d}"'),
            "rule 'pm': headline.en is not a valid template",
        ),
        (_with('en = "Bad"', 'en = "Bad {"'), "rule 'pm': headline.en is not a valid template"),
        (
            # Valid for 1.5, not for a whole reading (formatted as an int).
            _with('en = "Bad"', 'en = "Bad {value:.2}"'),
            "rule 'pm': headline.en is not a valid template",
        ),
        (_with(', en = "Bad"', ""), "rule 'pm': headline must be a table"),
        (_with('en = "Bad"', 'en = ""'), "rule 'pm': headline.en must be a non-empty text"),
        (_with('id = "pm"', 'id = "p m"'), "rule id 'p m' must be"),
        (_with('id = "pm"', 'id = "pm,2"'), "rule id 'pm,2' must be"),
        (GOOD + GOOD, r"rule id 'pm' is used twice \(rules #1 and #2\)"),
    ],
)
def test_toml_errors_name_the_rule_and_the_field(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        rules_from_toml(text)


# --- Hanoi's defaults ------------------------------------------------------------------------

DEFAULTS = {rule.id: rule for rule in default_rules()}
LONG_BIEN_ID = "urn:ngsi-ld:WaterObserved:hanoi:long-bien"


def test_the_defaults_cover_the_issue() -> None:
    assert set(DEFAULTS) == {
        "vn-aqi-bad",
        "vn-aqi-very-bad",
        "street-flood",
        "red-river-long-bien-bd1",
        "red-river-long-bien-bd2",
        "red-river-long-bien-bd3",
        "heavy-rain-2h",
    }
    assert "[[rule]]" in DEFAULT_RULES_TOML


def test_the_defaults_agree_with_the_analytics() -> None:
    # VN_AQI bands (Decision 1459): 151 opens "Xấu", 201 opens "Rất xấu".
    assert band_for(int(DEFAULTS["vn-aqi-bad"].raise_at)).name_vi == "Xấu"
    assert band_for(int(DEFAULTS["vn-aqi-bad"].raise_at) - 1).name_vi == "Kém"
    assert band_for(int(DEFAULTS["vn-aqi-very-bad"].raise_at)).name_vi == "Rất xấu"
    assert band_for(int(DEFAULTS["vn-aqi-very-bad"].raise_at) - 1).name_vi == "Xấu"
    river = tuple(DEFAULTS[f"red-river-long-bien-bd{n}"].raise_at for n in (1, 2, 3))
    assert river == LONG_BIEN.alarm_levels_m == (9.5, 10.5, 11.5)
    assert DEFAULTS["heavy-rain-2h"].raise_at == DRAINAGE_LIMIT_MM == 50.0
    assert DEFAULTS["street-flood"].raise_at == 0.3
    assert [DEFAULTS[f"red-river-long-bien-bd{n}"].severity for n in (1, 2, 3)] == [
        "medium",
        "high",
        "critical",
    ]


def test_river_rules_watch_only_long_bien() -> None:
    for n in (1, 2, 3):
        rule = DEFAULTS[f"red-river-long-bien-bd{n}"]
        assert rule.applies_to("WaterObserved", LONG_BIEN_ID)
        assert not rule.applies_to("WaterObserved", "urn:ngsi-ld:WaterObserved:hanoi:son-tay")


EDGES = [
    ("vn-aqi-bad", 151, 150),
    ("vn-aqi-very-bad", 201, 200),
    ("street-flood", 0.31, 0.3),  # "above 0.3 m": 0.3 itself is not
    ("red-river-long-bien-bd1", 9.5, 9.49),
    ("red-river-long-bien-bd2", 10.5, 10.49),
    ("red-river-long-bien-bd3", 11.5, 11.49),
    ("heavy-rain-2h", 50, 49.9),
]


@pytest.mark.parametrize(("rule_id", "edge", "below"), EDGES)
def test_each_default_rule_fires_at_its_edge_and_not_just_below(
    rule_id: str, edge: float, below: float
) -> None:
    rule = DEFAULTS[rule_id]
    minutes = int(rule.min_duration_s // 60)
    steady = [(at(m), edge) for m in range(minutes + 1)]
    found = replay(rule, steady)[1]
    assert [(t.change, t.at, t.value) for t in found] == [(Change.RAISE, at(minutes), edge)]
    quiet = [(at(m), below) for m in range(minutes + 120)]
    assert replay(rule, quiet)[1] == []


@pytest.mark.parametrize(("rule_id", "edge", "below"), EDGES)
def test_each_default_rule_needs_its_full_duration(rule_id: str, edge: float, below: float) -> None:
    rule = DEFAULTS[rule_id]
    if rule.min_duration_s == 0:
        assert step(rule, RuleState(), edge, T0)[1] is not None
        return
    almost = [(T0, edge), (T0 + timedelta(seconds=rule.min_duration_s - 1), edge)]
    assert replay(rule, almost)[1] == []


def test_default_texts_render_in_both_languages() -> None:
    for rule in DEFAULTS.values():
        for text in (rule.headline, rule.description):
            filled = render(rule, text, value=rule.raise_at, area="Nguyễn Khuyến")
            assert "{" not in filled.vi + filled.en
            assert filled.vi != filled.en
    aqi = DEFAULTS["vn-aqi-bad"]
    assert render(aqi, aqi.description, value=151, area="Láng").vi.startswith("VN_AQI 151 ")


# --- the lifecycle ---------------------------------------------------------------------------

STATION = "urn:ngsi-ld:AirQualityObserved:hanoi:luu-quang-vu"


def raised(rule_id: str = "vn-aqi-bad", value: float = 160) -> tuple[Rule, Any]:
    rule = DEFAULTS[rule_id]
    transition = step(rule, RuleState(), value, T0)[1]
    assert transition is not None
    return rule, transition


def test_an_alert_opens_active_from_a_raise() -> None:
    rule, transition = raised()
    alert = open_alert(rule, transition, entity_id=STATION, area_name="46 Lưu Quang Vũ")
    assert alert.status is AlertStatus.ACTIVE
    assert (alert.rule_id, alert.entity_id, alert.value, alert.valid_from) == (
        "vn-aqi-bad",
        STATION,
        160,
        T0,
    )
    assert (alert.category, alert.sub_category, alert.severity) == (
        "environment",
        "airPollution",
        "medium",
    )
    assert alert.headline.vi == "Chất lượng không khí Xấu tại 46 Lưu Quang Vũ"
    assert alert.description.en == "VN_AQI 160 (Bad, from 151) at 46 Lưu Quang Vũ."
    assert alert.instruction is not None and "khẩu trang" in alert.instruction.vi
    assert (alert.valid_to, alert.updated_at) == (None, T0)
    assert alert.id == alert_id("vn-aqi-bad", STATION, T0)


def test_an_alert_without_a_place_name_uses_the_entity_id() -> None:
    rule, transition = raised()
    alert = open_alert(rule, transition, entity_id=STATION)
    assert alert.headline.en == f"Bad air quality at {STATION}"


def test_active_acknowledged_resolved_records_who_and_when() -> None:
    rule, transition = raised()
    alert = open_alert(rule, transition, entity_id=STATION)
    seen = acknowledge(alert, by="  trực ban Nguyễn Văn A ", at=at(5))
    assert (seen.status, seen.acknowledged_by, seen.acknowledged_at) == (
        AlertStatus.ACKNOWLEDGED,
        "trực ban Nguyễn Văn A",
        at(5),
    )
    done = resolve(seen, by="rule:vn-aqi-bad", at=at(90))
    assert (done.status, done.resolved_by, done.resolved_at, done.valid_to) == (
        AlertStatus.RESOLVED,
        "rule:vn-aqi-bad",
        at(90),
        at(90),
    )
    assert done.acknowledged_by == "trực ban Nguyễn Văn A"
    assert done.updated_at == at(90)
    assert alert.status is AlertStatus.ACTIVE  # the original is unchanged


def test_an_active_alert_can_be_resolved_without_acknowledgement() -> None:
    rule, transition = raised()
    done = resolve(open_alert(rule, transition, entity_id=STATION), by="rule", at=at(60))
    assert (done.status, done.acknowledged_by) == (AlertStatus.RESOLVED, None)


def test_invalid_lifecycle_steps_are_rejected() -> None:
    rule, transition = raised()
    alert = open_alert(rule, transition, entity_id=STATION)
    seen = acknowledge(alert, by="a", at=at(1))
    done = resolve(seen, by="b", at=at(2))
    with pytest.raises(ValueError, match="is acknowledged; only an active alert"):
        acknowledge(seen, by="c", at=at(3))
    with pytest.raises(ValueError, match="is resolved; only an active alert"):
        acknowledge(done, by="c", at=at(3))
    with pytest.raises(ValueError, match="already resolved"):
        resolve(done, by="c", at=at(3))
    with pytest.raises(ValueError, match="before its last change"):
        resolve(seen, by="c", at=at(0))
    with pytest.raises(ValueError, match="'by' must name who"):
        acknowledge(alert, by="  ", at=at(1))
    with pytest.raises(ValueError, match="time zone"):
        acknowledge(alert, by="a", at=datetime(2025, 1, 10, 9))
    with pytest.raises(dataclasses.FrozenInstanceError):
        alert.status = AlertStatus.RESOLVED  # type: ignore[misc]


def test_an_alert_opens_only_on_its_own_raise() -> None:
    rule, transition = raised()
    cleared = dataclasses.replace(transition, change=Change.CLEAR)
    with pytest.raises(ValueError, match="opens on a raise"):
        open_alert(rule, cleared, entity_id=STATION)
    with pytest.raises(ValueError, match="opens on a raise"):
        open_alert(DEFAULTS["vn-aqi-very-bad"], transition, entity_id=STATION)


def test_alert_ids_are_stable_across_offsets_and_distinct_across_entities() -> None:
    same_instant = T0.astimezone(UTC)
    assert alert_id("r", "e", T0) == alert_id("r", "e", same_instant)
    assert alert_id("r", "e", T0) != alert_id("r", "f", T0)
    assert alert_id("r", "e", T0) != alert_id("r", "e", at(1))
    assert alert_id("r", "e", T0).startswith("urn:ngsi-ld:Alert:r:")


# --- properties ------------------------------------------------------------------------------

readings = st.lists(
    st.tuples(
        st.integers(-5, 600),  # seconds since the previous reading; <= 0 is late or a duplicate
        st.one_of(st.none(), st.just(math.nan), st.floats(80, 120, allow_nan=False)),
    ),
    max_size=60,
)


@given(
    readings,
    st.sampled_from([">=", ">", "<=", "<"]),
    st.floats(0, 10),
    st.integers(0, 900),
    st.integers(0, 900),
    st.integers(1, 1200),
)
def test_raise_and_clear_alternate_and_respect_the_rule(
    steps: list[tuple[int, float | None]],
    comparison: Any,
    band: float,
    raise_after: int,
    clear_after: int,
    max_gap: int,
) -> None:
    rising = comparison in (">=", ">")
    rule = make_rule(
        comparison=comparison,
        raise_at=100.0,
        clear_at=100.0 - band if rising else 100.0 + band,
        min_duration_s=raise_after,
        clear_duration_s=clear_after,
        max_gap_s=max_gap,
    )
    moment, arrivals = T0, []
    for delta, value in steps:
        moment += timedelta(seconds=delta)
        arrivals.append((moment, value))
    state, found = replay(rule, arrivals)
    kinds = [t.change for t in found]
    # Never two raises without a clear between them, and the first change is a raise.
    assert kinds == [Change.RAISE, Change.CLEAR] * (len(kinds) // 2) + [Change.RAISE] * (
        len(kinds) % 2
    )
    assert state.active == (len(kinds) % 2 == 1)
    assert [t.at for t in found] == sorted({t.at for t in found})
    for t in found:
        needed = raise_after if t.change is Change.RAISE else clear_after
        assert t.at - t.since >= timedelta(seconds=needed)
        assert rule.breached(t.value) if t.change is Change.RAISE else rule.cleared(t.value)


@given(readings, st.integers(-600, 0), st.floats(0, 1000))
def test_a_reading_not_after_the_last_one_changes_nothing(
    steps: list[tuple[int, float | None]], back: int, value: float
) -> None:
    rule = make_rule(min_duration_s=60)
    moment, arrivals = T0, []
    for delta, reading in steps:
        moment += timedelta(seconds=abs(delta) + 1)
        arrivals.append((moment, reading))
    state, _ = replay(rule, arrivals)
    if state.last_at is not None:
        late = state.last_at + timedelta(seconds=back)
        assert step(rule, state, value, late) == (state, None)
