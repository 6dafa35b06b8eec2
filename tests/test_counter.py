"""RepCounter and HoldTimer driven frame by frame with synthetic excursions."""

from __future__ import annotations

import math
import random

import pytest

from coach.counter import CounterConfig, HoldTimer, Phase, RepCounter

CFG = CounterConfig(enter=5.0, exit=1.5, target=8.0, target_tolerance=2.0, min_up_s=0.15)


def bump(t0: float, up_s: float, peak: float, hold_s: float = 0.0, fps: float = 30.0):
    """A rep: rise over up_s, hold at peak, fall over up_s. Yields (t, value)."""
    n_up = int(up_s * fps)
    n_hold = int(hold_s * fps)
    t = t0
    for i in range(n_up):
        yield t, peak * math.sin(0.5 * math.pi * i / n_up)
        t += 1 / fps
    for _ in range(n_hold):
        yield t, peak
        t += 1 / fps
    for i in range(n_up):
        yield t, peak * math.cos(0.5 * math.pi * i / n_up)
        t += 1 / fps


def rest(t0: float, dur: float, fps: float = 30.0, value: float = 0.0):
    for i in range(int(dur * fps)):
        yield t0 + i / fps, value


def run(counter: RepCounter, samples) -> list:
    return [counter.update(t, v) for t, v in samples]


def session(n: int, peak: float = 10.0, fps: float = 30.0, hold_s: float = 0.0):
    t = 0.0
    out = []
    for _ in range(n):
        seg = list(rest(t, 0.5, fps)) + list(bump(t + 0.5, 0.8, peak, hold_s, fps))
        out += seg
        t = seg[-1][0] + 1 / fps
    out += list(rest(t, 1.0, fps))
    return out


def test_counts_clean_reps_with_timing_and_peak() -> None:
    c = RepCounter(CFG)
    run(c, session(5, peak=10.0))
    assert c.count == 5
    r = c.reps[0]
    assert r.peak == pytest.approx(10.0, abs=0.3)
    assert 0.4 < r.start_s < 0.6  # started when it left rest, not when it crossed enter
    assert r.duration_s == pytest.approx(1.6, abs=0.25)
    assert r.reached_target


def test_jitter_around_enter_threshold_counts_nothing() -> None:
    rng = random.Random(1)
    c = RepCounter(CFG)
    run(c, [(i / 30, 5.0 + rng.uniform(-1.0, 1.0)) for i in range(300)])
    run(c, [(10 + i / 30, 3.0 + rng.uniform(-1.2, 1.2)) for i in range(300)])
    assert c.count <= 1  # at most the one genuine excursion: never a rep per wobble
    c2 = RepCounter(CFG)
    run(c2, [(i / 30, 3.0 + rng.uniform(-1.2, 1.2)) for i in range(600)])
    assert c2.count == 0


def test_noise_on_real_reps_does_not_add_reps() -> None:
    rng = random.Random(7)
    c = RepCounter(CFG)
    run(c, [(t, v + rng.gauss(0, 0.8)) for t, v in session(8, peak=11.0)])
    assert c.count == 8


def test_single_frame_spike_is_not_a_rep() -> None:
    c = RepCounter(CFG)
    samples = list(rest(0, 1.0))
    samples[15] = (samples[15][0], 20.0)
    run(c, samples)
    assert c.count == 0


def test_dropped_frames_keep_counts_and_durations() -> None:
    """Timestamps drive min times, so a 10 fps stream with gaps counts the same."""
    full = session(6, peak=10.0)
    rng = random.Random(3)
    dropped = [s for s in full if rng.random() > 0.6]  # keep ~40% of frames, irregularly
    c = RepCounter(CFG)
    run(c, dropped)
    assert c.count == 6
    assert c.reps[0].duration_s == pytest.approx(1.6, abs=0.4)


def test_invalid_frames_neither_count_nor_reset() -> None:
    c = RepCounter(CFG)
    run(c, session(3))
    assert c.count == 3
    # Foot leaves the frame mid-rep for 0.4 s, comes back still up, then returns: one rep.
    t = 20.0
    run(c, [(t + i / 30, 3.0 * i) for i in range(4)])  # rising to 9
    run(c, [(t + 0.2 + i / 30, 9.5) for i in range(10)])
    updates = run(c, [(t + 0.6 + i / 30, None) for i in range(12)])
    assert all(u.phase is Phase.PAUSED for u in updates)
    assert c.count == 3
    run(c, [(t + 1.0 + i / 30, max(9.0 - i, 0.0)) for i in range(16)])
    assert c.count == 4
    # A long absence abandons the rep in progress without subtracting anything.
    run(c, [(30 + i / 30, 9.0) for i in range(10)])
    run(c, [(31 + i / 30, None) for i in range(90)])
    run(c, list(rest(35, 1.0)))
    assert c.count == 4


def test_partial_attempt_is_reported_not_counted() -> None:
    c = RepCounter(CFG)
    ups = run(c, list(rest(0, 0.5)) + list(bump(0.5, 0.8, 4.0)) + list(rest(2.2, 0.5)))
    assert c.count == 0
    attempts = [u.attempt for u in ups if u.attempt is not None]
    assert len(attempts) == 1
    assert attempts[0].peak == pytest.approx(4.0, abs=0.2)


def test_short_target_flagged() -> None:
    c = RepCounter(CFG)
    run(c, session(1, peak=5.6))
    assert c.count == 1
    assert not c.reps[0].reached_target


def test_rep_hold_time_measured_at_target() -> None:
    c = RepCounter(CFG)
    run(c, session(1, peak=10.0, hold_s=3.0))
    # the 3 s hold plus the time above the band's floor while rising and falling
    assert c.reps[0].hold_s == pytest.approx(3.9, abs=0.3)


@pytest.mark.parametrize("hold", [4.8, 5.2])
def test_hold_timer_just_under_and_over(hold: float) -> None:
    timer = HoldTimer()
    t = 0.0
    for _ in range(int(hold * 30) + 1):
        timer.update(t, True)
        t += 1 / 30
    assert timer.held_s == pytest.approx(hold, abs=0.05)
    assert (timer.held_s >= 5.0) is (hold > 5.0)


def test_hold_timer_pauses_when_invalid_and_forgives_brief_wobble() -> None:
    timer = HoldTimer(grace_s=0.3)
    for i in range(31):
        timer.update(i / 30, True)
    for i in range(15):
        timer.update(1 + (i + 1) / 30, True, valid=False)  # foot hidden: no time accrues
    assert timer.held_s == pytest.approx(1.0, abs=0.05)
    timer.update(1.6, False)  # a wobble out of the band
    timer.update(1.7, True)
    assert timer.held_s > 0.9
    for i in range(20):
        timer.update(2 + i / 30, False)
    assert timer.held_s == 0.0
    assert timer.best_s >= 1.0


def test_config_validation() -> None:
    with pytest.raises(ValueError):
        CounterConfig(enter=2.0, exit=3.0, target=5.0)
