"""The simulated clock runs fast from the past but never ahead of the real clock."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from thudo.simulate.clock import SimClock, format_instant, parse_duration, parse_instant


class FakeTime:
    """A wall clock and a monotonic clock that move together when told."""

    def __init__(self, wall: float) -> None:
        self.wall = wall
        self.mono = 1000.0

    def advance(self, seconds: float) -> None:
        self.wall += seconds
        self.mono += seconds


@given(
    speed=st.floats(0.5, 10_000),
    behind=st.floats(0, 30 * 86400),
    steps=st.lists(st.floats(0, 3600), min_size=1, max_size=30),
)
def test_never_ahead_of_the_real_clock(speed: float, behind: float, steps: list[float]) -> None:
    fake = FakeTime(1_790_000_000.0)
    clock = SimClock(fake.wall - behind, speed, lambda: fake.wall, lambda: fake.mono)
    previous = clock.now()
    for step in steps:
        fake.advance(step)
        now = clock.now()
        assert now <= fake.wall
        assert now >= previous  # and it never goes back
        previous = now


def test_fast_clock_catches_up_then_keeps_real_time() -> None:
    fake = FakeTime(1_790_000_000.0)
    clock = SimClock(fake.wall - 6 * 3600, 60, lambda: fake.wall, lambda: fake.mono)
    fake.advance(60)
    assert clock.now() == fake.wall - 6 * 3600 + 59 * 60
    fake.advance(400)  # 6 h / 59 is about 366 s: caught up
    assert clock.now() == fake.wall
    fake.advance(10)
    assert clock.now() == fake.wall


def test_delay_until_reaches_the_target() -> None:
    fake = FakeTime(1_790_000_000.0)
    clock = SimClock(fake.wall - 3600, 60, lambda: fake.wall, lambda: fake.mono)
    target = fake.wall - 1800
    delay = clock.delay_until(target)
    assert delay == pytest.approx(30.0)
    fake.advance(delay)
    assert clock.now() >= target - 1e-6
    future = fake.wall + 120
    assert clock.delay_until(future) == pytest.approx(120.0)
    assert clock.delay_until(fake.wall - 7200) == 0.0


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90m", 5400),
        ("6h", 21600),
        ("2d", 172800),
        ("365d", 31_536_000),
        ("45", 45),
        ("1.5h", 5400),
    ],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "h", "5x", "-3h", "6 hours"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


def test_instants() -> None:
    assert format_instant(parse_instant("2026-11-26T08:00:00Z")) == "2026-11-26T08:00:00Z"
    assert format_instant(parse_instant("2026-11-26T15:00:00+07:00")) == "2026-11-26T08:00:00Z"
    assert format_instant(parse_instant("2026-11-26")) == "2026-11-26T00:00:00Z"
    with pytest.raises(ValueError, match="ISO 8601"):
        parse_instant("yesterday")
