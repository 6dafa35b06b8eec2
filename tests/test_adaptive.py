"""Counting levels that follow the patient's own range (coach.adaptive), frame by frame."""

from __future__ import annotations

import itertools
import math

import pytest

from coach.adaptive import AdaptiveLevels
from coach.counter import CounterConfig, Phase, RepCounter


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


def wobble(t: float) -> float:
    """A still leg as a webcam pose model reads it: a slow wobble of about +-2 units (the
    browser recording of the 45-degree heel raise: p10 to p90 3.0-3.5, min_range 5)."""
    return 1.8 * math.sin(2 * math.pi * 0.7 * t) + 0.6 * math.sin(2 * math.pi * 1.9 * t + 1.0)


def test_a_still_window_rests_in_the_middle_of_its_jitter_not_at_its_low_tail() -> None:
    levels = AdaptiveLevels(min_range=5.0)
    feed(levels, wobble, 10.0, fps=17.0)
    got = levels.levels()
    assert got is not None and 3.0 < levels.spread < 4.0  # jitter, below min_range
    assert got.rest == pytest.approx(0.0, abs=0.3)  # the median, not p10 (about -1.9)
    assert got.enter - got.rest == pytest.approx(5.0)
    assert got.exit > 2.0  # a return to where the leg rests is below the exit level


def still_then_two_reps(t: float) -> float:
    """10 s standing still, then a rep to 7 that comes straight back (to 1.5, not to the
    bottom of the still wobble) into a second rep to 9 with a 2 s hold, then rest."""
    if t < 10.0:
        return wobble(t)
    keys = [(10.0, 0.0), (11.0, 7.0), (11.3, 7.0), (12.3, 1.5), (13.3, 9.0), (15.3, 9.0)]
    keys += [(16.5, 0.0), (30.0, 0.0)]
    for (t0, v0), (t1, v1) in itertools.pairwise(keys):
        if t0 <= t <= t1:
            return v0 + (v1 - v0) * (t - t0) / (t1 - t0)
    return 0.0


def test_two_reps_after_a_long_still_start_do_not_merge() -> None:
    """The live stream of a patient standing still while the camera connects: the first
    rep's rest level, frozen from the still window, must be where the leg rests (a
    browser recording of the 45-degree heel raise merged reps 1 and 2 when it was p10)."""
    levels = AdaptiveLevels(min_range=5.0)
    counter = RepCounter(CounterConfig(enter=6.0, exit=2.0, target=10.0, min_up_s=0.15))
    fps = 17.0
    for i in range(int(20.0 * fps)):
        t = i / fps
        value = still_then_two_reps(t)
        levels.add(t, value)
        got = levels.levels()
        if got is None:
            continue
        update = counter.update(t, value, (got.enter, got.exit))
        levels.freeze(update.phase is not Phase.REST)
    assert [round(r.start_s) for r in counter.reps] == [10, 12]


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
