"""The shaping of rollup rows into aggregatedValues (shared by both backends): period
bounds written without date arithmetic agree with it, across days, months, years and
leap days."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from thudo.ngsild.temporal import Aggregation
from thudo.store.history import bucket_of, period_columns, period_end, shape_periods

_HOURS = st.datetimes(
    min_value=datetime(1999, 12, 25), max_value=datetime(2101, 1, 5), timezones=st.just(UTC)
).map(lambda moment: moment.replace(minute=0, second=0, microsecond=0))


def _text(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@given(st.lists(_HOURS, min_size=1, max_size=60, unique=True))
def test_hourly_bounds_follow_the_calendar(moments: list[datetime]) -> None:
    moments.sort()
    rows = [(bucket_of(_text(m), "PT1H"), float(i)) for i, m in enumerate(moments)]
    shaped = shape_periods([("pm25", "", rows)], Aggregation(("max",), 3600), 3600)
    got = shaped["pm25"][0]["max"]
    want = [[float(i), _text(m), _text(m + timedelta(hours=1))] for i, m in enumerate(moments)]
    assert got == want


@given(_HOURS, st.lists(st.booleans(), min_size=1, max_size=120))
def test_hourly_runs_whole_days_and_gaps(first: datetime, present: list[bool]) -> None:
    """Runs of consecutive hours (whole days are shaped a day at a time), with gaps."""
    moments = [first + timedelta(hours=i) for i, keep in enumerate(present) if keep]
    rows = [(bucket_of(_text(m), "PT1H"), float(i), 2, 3.0, 5.0) for i, m in enumerate(moments)]
    shaped = shape_periods([("pm25", "", rows)], Aggregation(("avg", "stddev"), 3600), 3600)
    groups = shaped.get("pm25", [{}])
    bounds = [[_text(m), _text(m + timedelta(hours=1))] for m in moments]
    assert groups[0].get("avg", []) == [[float(i), *b] for i, b in enumerate(bounds)]
    assert groups[0].get("stddev", []) == [[0.5, *b] for b in bounds]


@given(_HOURS)
def test_period_end_of_a_day_bucket(moment: datetime) -> None:
    bucket = bucket_of(_text(moment), "P1D")
    day = moment.replace(hour=0)
    assert period_end(bucket, 86400) == _text(day + timedelta(days=1))


def test_every_method_from_its_columns() -> None:
    methods = ("totalCount", "sum", "avg", "min", "max", "stddev", "sumsq")
    assert period_columns(methods) == "n, total, total / n, lo, hi, n, total, sumsq, sumsq"
    # Two instances, 2.0 and 4.0, in one hour; a dataset of its own.
    row = ("2024-02-29T23:00:00.000000Z", 2, 6.0, 3.0, 2.0, 4.0, 2, 6.0, 20.0, 20.0)
    shaped = shape_periods([("no2", "urn:ds:a", [row])], Aggregation(methods, 3600), 3600)
    (group,) = shaped["no2"]
    assert group["type"] == "Property"
    assert group["datasetId"] == "urn:ds:a"
    bounds = ["2024-02-29T23:00:00Z", "2024-03-01T00:00:00Z"]
    values = {m: group[m] for m in methods}
    assert values == {
        "totalCount": [[2, *bounds]],
        "sum": [[6.0, *bounds]],
        "avg": [[3.0, *bounds]],
        "min": [[2.0, *bounds]],
        "max": [[4.0, *bounds]],
        "stddev": [[1.0, *bounds]],
        "sumsq": [[20.0, *bounds]],
    }
