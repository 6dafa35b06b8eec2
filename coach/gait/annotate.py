"""Draw a gait analysis onto the video: legs, foot trails, floor line, contacts, clearance.

Drawing only (cv2); everything drawn comes from a finished `GaitAnalysis`, so the
annotated video shows exactly what the report says. Colours follow the person's
own side (left blue, right orange) once a bout has assigned sides; outside bouts
legs are grey, because nothing there was measured.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import cv2
import numpy as np

from coach.annotate import draw_label
from coach.gait.core import GaitAnalysis
from coach.gait.events import Bout, toe_height
from coach.gait.series import ANKLE, HEEL, HIP, KNEE, SHOULDER, TOE
from coach.landmarks import Side

SIDE_COLOR: dict[Side, tuple[int, int, int]] = {
    Side.LEFT: (235, 140, 40),
    Side.RIGHT: (0, 150, 255),
}
GREY = (170, 170, 170)
RED = (60, 60, 230)
WHITE = (255, 255, 255)
DARK = (30, 30, 30)
FONT = cv2.FONT_HERSHEY_SIMPLEX
TRAIL_S = 1.0
LABEL_S = 0.6
SEGMENTS = ((SHOULDER, HIP), (HIP, KNEE), (KNEE, ANKLE), (ANKLE, HEEL), (HEEL, TOE), (ANKLE, TOE))


def _pt(xy: np.ndarray) -> tuple[int, int] | None:
    if not np.isfinite(xy).all():
        return None
    return round(float(xy[0])), round(float(xy[1]))


@dataclass
class GaitAnnotator:
    """Draws frame `i` of an analysed video; create once per video."""

    analysis: GaitAnalysis

    def __post_init__(self) -> None:
        a = self.analysis
        self._bout_of = np.full(a.series.n, -1, dtype=int)
        for b in a.events.bouts:
            self._bout_of[b.start : b.stop] = b.index
        self._heights: dict[tuple[int, int], np.ndarray] = {}
        for (bi, k), floor in a.events.floors.items():
            if floor is not None:
                bout = a.events.bouts[bi]
                self._heights[(bi, k)] = toe_height(a.series, k, floor, bout.leg_px)
        width = a.series.width
        self._scale = max(0.8, min(1.5, width / 1000))

    def bout_at(self, i: int) -> Bout | None:
        b = int(self._bout_of[i]) if 0 <= i < len(self._bout_of) else -1
        return self.analysis.events.bouts[b] if b >= 0 else None

    def index_at(self, t_s: float) -> int | None:
        """The analysis sample nearest to time `t_s` (None outside the analysed span)."""
        t = self.analysis.series.t
        if len(t) == 0 or t_s < t[0] - 0.5 or t_s > t[-1] + 0.5:
            return None
        return int(np.argmin(np.abs(t - t_s)))

    def draw(self, frame_bgr: np.ndarray, t_s: float) -> np.ndarray:
        """Overlay for the frame taken at `t_s` (in place; returns the frame)."""
        a = self.analysis
        s = a.series
        found = self.index_at(t_s)
        if found is None:
            return frame_bgr
        i = found
        img = frame_bgr
        bout = self.bout_at(i)
        thick = max(2, int(3 * self._scale))
        for k in range(2):
            color = SIDE_COLOR[bout.sides[k]] if bout else GREY
            if bout is not None:
                self._draw_trail(img, i, k, color)
                self._draw_floor(img, bout, k, color)
            if not s.present[i]:
                continue
            p = s.xy[i, k]
            for j0, j1 in SEGMENTS:
                a0, a1 = _pt(p[j0]), _pt(p[j1])
                if a0 and a1:
                    cv2.line(img, a0, a1, color, thick, cv2.LINE_AA)
            hidden = not s.seen[i, k]
            for j in (HIP, KNEE, ANKLE, HEEL, TOE):
                c = _pt(p[j])
                if c:
                    cv2.circle(img, c, thick + 2, GREY if hidden else WHITE, -1, cv2.LINE_AA)
        self._draw_contacts(img, i)
        self._draw_panel(img, i, bout)
        return img

    def _draw_trail(self, img: np.ndarray, i: int, k: int, color: tuple[int, int, int]) -> None:
        s = self.analysis.series
        lo = int(np.searchsorted(s.t, s.t[i] - TRAIL_S))
        pts = [_pt(s.xy[j, k, TOE]) for j in range(max(lo, 0), i + 1)]
        for p0, p1 in itertools.pairwise(pts):
            if p0 and p1:
                cv2.line(img, p0, p1, color, 1, cv2.LINE_AA)

    def _draw_floor(self, img: np.ndarray, bout: Bout, k: int, color: tuple[int, int, int]) -> None:
        floor = self.analysis.events.floors.get((bout.index, k))
        if floor is None:
            return
        s = self.analysis.series
        xs = s.xy[bout.start : bout.stop, k, TOE, 0]
        xs = xs[np.isfinite(xs)]
        if len(xs) == 0:
            return
        x0, x1 = float(xs.min()), float(xs.max())
        y0, y1 = float(floor.y(x0)), float(floor.y(x1))
        cv2.line(img, (int(x0), int(y0)), (int(x1), int(y1)), color, 1, cv2.LINE_AA)

    def _draw_contacts(self, img: np.ndarray, i: int) -> None:
        s = self.analysis.series
        t = s.t[i]
        for c in self.analysis.events.contacts:
            if not 0 <= t - c.t_s <= LABEL_S:
                continue
            p = _pt(s.xy[c.frame, c.track, HEEL])
            if p is None:
                continue
            color = SIDE_COLOR[c.side] if c.valid else GREY
            if c.kind in ("flat", "toe"):
                color = RED
            cv2.circle(img, p, int(10 * self._scale), color, 2, cv2.LINE_AA)
            label = f"{c.side.value[0].upper()} {c.kind or '?'}"
            if c.ankle_deg is not None:
                label += f" {c.ankle_deg:+.0f}deg"
            org = (p[0] - 30, p[1] + int(35 * self._scale))
            draw_label(img, label, org, 0.6 * self._scale, color)

    def _draw_panel(self, img: np.ndarray, i: int, bout: Bout | None) -> None:
        a = self.analysis
        t = a.series.t[i]
        done = [st for st in a.steps if st.t_s <= t]
        scale = 0.7 * self._scale
        y = int(35 * self._scale)
        draw_label(img, f"steps {len(done)}", (15, y), scale, WHITE)
        y += int(30 * self._scale)
        if bout is None:
            draw_label(img, "not measured here", (15, y), scale, GREY)
            return
        last = done[-1] if done else None
        if last is not None and last.toe_clearance is not None:
            color = RED if last.toe_clearance < 0.02 else WHITE
            draw_label(
                img,
                f"last step {last.side.value}: toe clearance {last.toe_clearance:.3f} leg",
                (15, y),
                scale,
                color,
            )
            y += int(30 * self._scale)
        for k in range(2):
            h = self._heights.get((bout.index, k))
            if h is not None and math.isfinite(h[i]):
                side = bout.sides[k]
                draw_label(img, f"{side.value} toe {h[i]:+.2f}", (15, y), scale, SIDE_COLOR[side])
                y += int(30 * self._scale)
