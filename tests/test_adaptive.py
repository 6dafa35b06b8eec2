"""Counting levels that follow the patient's own range (coach.adaptive), frame by frame."""

from __future__ import annotations

import math

import pytest

from coach.adaptive import AdaptiveLevels


def feed(levels: AdaptiveLevels, trace, seconds: float, fps: float = 30.0) -> None:
    for i in range(int(seconds * fps)):
        t = i / fps
        levels.add(t, trace(t))


def pumps(amplitude: float, offset: float = 0.0, period_s: float = 3.0):
    return lambda t: offset + amplitude * (0.5 - 0.5 * math.cos(2 * math.pi * t / period_s))


@pytest.mark.parametrize(
    ("amplitude", "offset"),
    [(30.0, 0.0), (14.0, 0.0), (30.0, -40.0), (14.0, 25.0)],
    ids=["full range", "camera compresses it", "offset", "compressed and offset"],
)
def test_levels_sit_between_the_rest_and_the_top_the_patient_shows(
    amplitude: float, offset: float
) -> None:
    levels = AdaptiveLevels(min_range=5.0)
    feed(levels, pumps(amplitude, offset), 12.0)
    got = levels.levels()
    assert got is not None
    assert got.rest == pytest.approx(offset + 0.1 * amplitude, abs=0.1 * amplitude)
    assert got.top == pytest.approx(offset + 0.9 * amplitude, abs=0.1 * amplitude)
    assert got.rest < got.exit < got.enter < got.top
    assert got.enter - got.exit == pytest.approx(0.25 * got.range)


def test_a_rep_must_move_min_range_to_enter_so_jitter_never_counts() -> None:
    levels = AdaptiveLevels(min_range=5.0)
    feed(levels, pumps(1.0), 12.0)
    got = levels.levels()
    assert got is not None and got.enter - got.rest == pytest.approx(5.0)  # min_range to enter
    assert got.enter > 1.0 + 0.1  # the still leg's jitter stays below the entry level
    assert levels.spread == pytest.approx(0.9, abs=0.15)


def test_no_levels_until_a_second_of_signal() -> None:
    levels = AdaptiveLevels(min_range=5.0)
    feed(levels, pumps(30.0), 0.5)
    assert levels.levels() is None and levels.spread == 0.0


def test_a_long_hold_does_not_drag_the_rest_level_up_while_frozen() -> None:
    levels = AdaptiveLevels(min_range=5.0, window_s=10.0)
    feed(levels, pumps(20.0), 9.0)
    before = levels.levels()
    assert before is not None
    levels.freeze(True)
    for i in range(30 * 30):  # 30 s held at the top
        levels.add(9.0 + i / 30, 20.0)
        levels.freeze(True)
    held = levels.levels()
    assert held is not None and held.rest == pytest.approx(before.rest)
    assert held.exit < 10.0  # the return to rest will still end the hold
    levels.freeze(False)
    after = levels.levels()
    assert after is not None and after.rest > 15.0  # released: the window is all top now


def test_the_top_grows_during_a_first_rep_bigger_than_the_window_showed() -> None:
    levels = AdaptiveLevels(min_range=5.0)
    feed(levels, lambda t: 0.0 if t < 1.0 else 8.0, 1.5)
    levels.freeze(True)
    first = levels.levels()
    for i in range(45):
        levels.add(1.5 + i / 30, 8.0 + i)  # the rep keeps rising to 52
        levels.freeze(True)
    grown = levels.levels()
    assert first is not None and grown is not None
    assert grown.rest == first.rest and grown.top > first.top
    assert grown.exit > first.exit


@pytest.mark.parametrize(
    "kwargs",
    [
        {"min_range": 0.0},
        {"min_range": 5.0, "window_s": 0.0},
        {"min_range": 5.0, "low_pct": 90.0, "high_pct": 10.0},
        {"min_range": 5.0, "exit_fraction": 0.6, "enter_fraction": 0.4},
    ],
)
def test_bad_options_are_refused_at_creation(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        AdaptiveLevels(**kwargs)
