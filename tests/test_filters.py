"""Filters: One-Euro lag/jitter, gaps, outliers, zero-phase smoothing."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from coach.filters import LiveSmoother, OneEuroFilter, fill_short_gaps, zero_phase_smooth


def test_one_euro_reduces_jitter_at_rest() -> None:
    rng = random.Random(0)
    f = OneEuroFilter(min_cutoff_hz=1.0, beta=0.05)
    raw = [10 + rng.gauss(0, 2) for _ in range(300)]
    out = [f(v, i / 30) for i, v in enumerate(raw)]
    assert np.std(out[60:]) < 0.5 * np.std(raw[60:])


def test_one_euro_follows_a_fast_move_with_little_lag() -> None:
    f = OneEuroFilter(min_cutoff_hz=1.5, beta=0.05)
    out = [f(0.0 if i < 30 else 20.0, i / 30) for i in range(60)]
    assert out[-1] == pytest.approx(20.0, abs=1.0)
    assert out[36] > 10.0  # within 0.2 s most of a 20-degree step is through


def test_one_euro_ignores_repeated_timestamps() -> None:
    f = OneEuroFilter()
    f(1.0, 0.0)
    assert f(50.0, 0.0) == 1.0


def test_live_smoother_gap_and_outlier() -> None:
    s = LiveSmoother()
    for i in range(30):
        s(5.0, i / 30)
    assert s(None, 1.0) is None
    assert s(80.0, 1.03) == pytest.approx(5.0, abs=0.5)  # one wild frame is dropped
    assert s(5.0, 1.07) == pytest.approx(5.0, abs=0.5)
    # After a long gap the filter restarts at the new value instead of gliding from the old.
    assert s(-20.0, 3.0) == pytest.approx(-20.0)
    # A persistent jump is real and followed.
    out = [s(20.0, 3.0 + i / 30) for i in range(1, 15)]
    assert out[-1] == pytest.approx(20.0, abs=2.0)


def test_fill_short_gaps_only() -> None:
    t = np.arange(10) / 10
    v = np.array([0, 1, np.nan, 3, np.nan, np.nan, np.nan, np.nan, np.nan, 9], dtype=float)
    out = fill_short_gaps(t, v, max_gap_s=0.25)
    assert out[2] == pytest.approx(2.0)
    assert np.isnan(out[5])


def test_zero_phase_has_no_lag_and_removes_noise() -> None:
    rng = np.random.default_rng(0)
    t = np.arange(300) / 30
    clean = 10 * np.sin(2 * math.pi * 0.5 * t)
    noisy = clean + rng.normal(0, 1.5, len(t))
    out = zero_phase_smooth(t, noisy)
    assert np.mean(np.abs(out - clean)) < 0.5 * np.mean(np.abs(noisy - clean))
    # Peak times do not move (a causal filter would delay them).
    smooth_clean = zero_phase_smooth(t, clean)
    assert int(np.argmax(smooth_clean[:60])) == int(np.argmax(clean[:60]))


def test_zero_phase_keeps_long_gaps_and_drops_outliers() -> None:
    t = np.arange(120) / 30
    v = np.full(120, 5.0)
    v[40:80] = np.nan
    v[10] = 60.0
    out = zero_phase_smooth(t, v)
    assert np.isnan(out[60])
    assert out[10] == pytest.approx(5.0, abs=0.5)


def test_zero_phase_smooths_columns_like_single_series() -> None:
    """Gait smooths every coordinate column at once; each must match the 1-D result."""
    rng = np.random.default_rng(0)
    t = np.arange(300) / 30
    x = np.cumsum(rng.normal(0, 3, (300, 3)), axis=0)
    x[rng.random((300, 3)) < 0.05] = np.nan
    x[50:62, 1] = np.nan
    x[100, 2] += 80
    both = zero_phase_smooth(t, x, 0.035, 0.15)
    for c in range(3):
        np.testing.assert_allclose(both[:, c], zero_phase_smooth(t, x[:, c], 0.035, 0.15))
    assert np.isnan(both[56, 1]) and not np.isnan(both[100, 2])
