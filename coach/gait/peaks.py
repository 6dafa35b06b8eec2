"""Small numpy signal helpers (scipy is not a dependency)."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


def _side_drop(x: FloatArray, i: int, step: int) -> tuple[float, bool, int]:
    """Walk from peak `i` in direction `step` while samples stay at or below it.

    Returns how far the series drops below the peak on that side, whether the walk
    ended at NaN or the end of the series ("open": a higher sample may lie beyond
    what was seen) rather than at a higher sample, and how many samples it saw.
    """
    peak = x[i]
    low = peak
    j = i + step
    count = 0
    while 0 <= j < len(x) and not np.isnan(x[j]) and x[j] <= peak:
        low = min(low, x[j])
        j += step
        count += 1
    is_open = not (0 <= j < len(x)) or bool(np.isnan(x[j]))
    return float(peak - low), is_open, count


def prominence(x: FloatArray, i: int, edge_drop: float | None = None) -> float:
    """How far peak `i` stands above the higher of the two minima on its sides (scipy's
    definition within a run of valid samples).

    With `edge_drop`, a peak whose one side runs into NaN or the end of the series
    (the edge of what was seen) is judged by its other side alone, provided the
    open side already falls by `edge_drop` over at least two samples. Without it
    such a peak only counts what is seen on both sides.
    """
    left, left_open, n_left = _side_drop(x, i, -1)
    right, right_open, n_right = _side_drop(x, i, 1)
    if edge_drop is None:
        return min(left, right)
    # A side's drop is a lower bound of its true drop; an open side that has started to
    # fall is given the benefit of the doubt, and the other side decides.
    eff_left = math.inf if left_open and left >= edge_drop and n_left >= 2 else left
    eff_right = math.inf if right_open and right >= edge_drop and n_right >= 2 else right
    if math.isinf(eff_left) and math.isinf(eff_right):
        return max(left, right)
    return min(eff_left, eff_right)


def find_peaks(
    x: FloatArray, min_prominence: float, min_distance: int = 1, edge_drop: float | None = None
) -> list[int]:
    """Indices of local maxima with at least `min_prominence`, at least `min_distance` apart.

    A plateau counts once (its first sample). Samples next to NaN or the ends are
    never peaks. When two peaks are closer than `min_distance`, the higher one
    wins. `edge_drop`: see `prominence`.
    """
    n = len(x)
    candidates: list[int] = []
    i = 1
    while i < n - 1:
        if np.isnan(x[i - 1]) or np.isnan(x[i]):
            i += 1
            continue
        if x[i] > x[i - 1]:
            j = i
            while j + 1 < n and x[j + 1] == x[i]:
                j += 1
            if j + 1 < n and not np.isnan(x[j + 1]) and x[j + 1] < x[i]:
                candidates.append(i)
            i = j + 1
        else:
            i += 1
    peaks = [i for i in candidates if prominence(x, i, edge_drop) >= min_prominence]
    if min_distance <= 1 or len(peaks) < 2:
        return peaks
    kept: list[int] = []
    for i in sorted(peaks, key=lambda k: x[k], reverse=True):
        if all(abs(i - k) >= min_distance for k in kept):
            kept.append(i)
    return sorted(kept)


def refine_peak(x: FloatArray, i: int) -> float:
    """Sub-sample position of peak `i` from a parabola through it and its neighbours."""
    if i <= 0 or i >= len(x) - 1:
        return float(i)
    a, b, c = x[i - 1], x[i], x[i + 1]
    denom = a - 2 * b + c
    if not np.isfinite(denom) or denom >= 0:
        return float(i)
    return float(i + np.clip(0.5 * (a - c) / denom, -0.5, 0.5))


def rolling_median(x: FloatArray, window: int) -> FloatArray:
    """Centred running median ignoring NaN (NaN where a window holds no value)."""
    half = max(window // 2, 0)
    out = np.full(len(x), np.nan)
    for i in range(len(x)):
        seg = x[max(0, i - half) : i + half + 1]
        seg = seg[~np.isnan(seg)]
        if len(seg):
            out[i] = float(np.median(seg))
    return out
