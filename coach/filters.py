"""Signal conditioning for joint-angle streams.

Live use needs a causal filter with little lag (`OneEuroFilter`, wrapped with
gap handling and outlier rejection in `LiveSmoother`); recorded video can look
both ways (`zero_phase_smooth`). Everything takes timestamps in seconds, since
live frames are dropped and the frame rate is never exactly constant.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt


def _alpha(cutoff_hz: float, dt: float) -> float:
    tau = 1.0 / (2.0 * math.pi * cutoff_hz)
    return 1.0 / (1.0 + tau / dt)


@dataclass
class OneEuroFilter:
    """One-Euro filter (Casiez et al., CHI 2012): smooth when still, fast when moving.

    `min_cutoff_hz` sets the jitter removed at rest; `beta` how quickly the
    cutoff rises with speed (less lag on fast moves).
    """

    min_cutoff_hz: float = 1.0
    beta: float = 0.05
    d_cutoff_hz: float = 1.0
    _x: float | None = field(default=None, init=False)
    _dx: float = field(default=0.0, init=False)
    _t: float | None = field(default=None, init=False)

    def reset(self) -> None:
        self._x, self._dx, self._t = None, 0.0, None

    def __call__(self, value: float, t: float) -> float:
        if self._x is None or self._t is None or t <= self._t:
            if self._x is not None and self._t is not None and t <= self._t:
                return self._x  # a repeated or out-of-order timestamp changes nothing
            self._x, self._t = value, t
            return value
        dt = t - self._t
        dx = (value - self._x) / dt
        self._dx += _alpha(self.d_cutoff_hz, dt) * (dx - self._dx)
        cutoff = self.min_cutoff_hz + self.beta * abs(self._dx)
        self._x += _alpha(cutoff, dt) * (value - self._x)
        self._t = t
        return self._x


@dataclass
class LiveSmoother:
    """Causal conditioning of one angle stream: gaps, outliers, then One-Euro.

    - A missing value (None/NaN) yields None; after a gap longer than
      `max_gap_s` the filter restarts instead of gliding from a stale value.
    - A single jump larger than `outlier_deg` from the current estimate is
      dropped; if the new level persists for `outlier_confirm_s` it is real
      (a fast move) and the filter follows it.
    """

    min_cutoff_hz: float = 1.5
    beta: float = 0.05
    max_gap_s: float = 0.5
    outlier_deg: float = 25.0
    outlier_confirm_s: float = 0.1
    _filter: OneEuroFilter = field(init=False)
    _last_t: float | None = field(default=None, init=False)
    _last_out: float | None = field(default=None, init=False)
    _jump_since: float | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self._filter = OneEuroFilter(self.min_cutoff_hz, self.beta)

    def reset(self) -> None:
        self._filter.reset()
        self._last_t = self._last_out = self._jump_since = None

    def __call__(self, value: float | None, t: float) -> float | None:
        if value is None or math.isnan(value):
            return None
        if self._last_t is not None and t - self._last_t > self.max_gap_s:
            self._filter.reset()
            self._last_out = self._jump_since = None
        self._last_t = t
        if self._last_out is not None and abs(value - self._last_out) > self.outlier_deg:
            if self._jump_since is None:
                self._jump_since = t
            if t - self._jump_since < self.outlier_confirm_s:
                return self._last_out
            self._filter.reset()  # the jump persisted: it is a real change of level
        self._jump_since = None
        self._last_out = self._filter(value, t)
        return self._last_out


def fill_short_gaps(
    t: npt.ArrayLike, values: npt.ArrayLike, max_gap_s: float
) -> npt.NDArray[np.float64]:
    """Linearly interpolate NaN runs no longer than `max_gap_s`; longer gaps stay NaN."""
    ts = np.asarray(t, dtype=float)
    v = np.asarray(values, dtype=float).copy()
    bad = np.isnan(v)
    if not bad.any() or bad.all():
        return v
    i = 0
    n = len(v)
    while i < n:
        if not bad[i]:
            i += 1
            continue
        j = i
        while j < n and bad[j]:
            j += 1
        if i > 0 and j < n and ts[j] - ts[i - 1] <= max_gap_s:
            v[i:j] = np.interp(ts[i:j], [ts[i - 1], ts[j]], [v[i - 1], v[j]])
        i = j
    return v


def reject_outliers(
    values: npt.ArrayLike, window: int = 7, n_sigmas: float = 4.0, floor: float = 3.0
) -> npt.NDArray[np.float64]:
    """Hampel filter: NaN out samples far from their centred running median.

    "Far" is more than max(`n_sigmas` MADs, `floor`) from the median of at least 3
    valid samples. Works on a series (n,) or on every column of an (n, m) array at
    once (vectorised: gait cleans 66 coordinate columns per frame).
    """
    x = np.asarray(values, dtype=float)
    cols = x.reshape(len(x), -1)
    half = window // 2
    padded = np.pad(cols, ((half, half), (0, 0)), constant_values=np.nan)
    win = np.lib.stride_tricks.sliding_window_view(padded, window, axis=0)  # (n, m, window)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN windows
        med = np.nanmedian(win, axis=-1)
        mad = 1.4826 * np.nanmedian(np.abs(win - med[..., None]), axis=-1)
    enough = np.sum(~np.isnan(win), axis=-1) >= 3
    with np.errstate(invalid="ignore"):
        bad = enough & (np.abs(cols - med) > np.maximum(n_sigmas * mad, floor))
    out = cols.copy()
    out[bad] = np.nan
    return out.reshape(x.shape)


def zero_phase_smooth(
    t: npt.ArrayLike, values: npt.ArrayLike, sigma_s: float = 0.08, max_gap_s: float = 0.5
) -> npt.NDArray[np.float64]:
    """Offline smoothing for recorded video: outliers out, short gaps filled, Gaussian kernel.

    A symmetric kernel applied over the whole series shifts no peak in time
    (zero phase), unlike any causal filter. Segments separated by long gaps are
    smoothed separately and the gaps stay NaN. `values` is a series (n,) or an
    (n, m) array smoothed column by column.
    """
    ts = np.asarray(t, dtype=float)
    x = np.asarray(values, dtype=float)
    cols = reject_outliers(x.reshape(len(x), -1))
    if len(ts) < 2:
        return cols.reshape(x.shape)
    dt = float(np.median(np.diff(ts)))
    half = max(1, round(3 * sigma_s / max(dt, 1e-6)))
    kernel = np.exp(-0.5 * (np.arange(-half, half + 1) * dt / sigma_s) ** 2)
    kernel /= kernel.sum()
    out = np.full_like(cols, np.nan)
    for c in range(cols.shape[1]):
        v = fill_short_gaps(ts, cols[:, c], max_gap_s)
        good = ~np.isnan(v)
        edges = np.flatnonzero(np.diff(np.concatenate(([0], good.astype(int), [0]))))
        for start, stop in zip(edges[::2], edges[1::2], strict=True):
            seg = v[start:stop]
            mode = "reflect" if len(seg) > half else "edge"
            padded = np.pad(seg, half, mode=mode)  # type: ignore[call-overload]
            out[start:stop, c] = np.convolve(padded, kernel, mode="same")[half:-half]
    return out.reshape(x.shape)
