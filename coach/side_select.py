"""Which leg to measure: a fixed side, or automatically the leg nearest the camera.

In a side view the far leg is hidden behind the near one and its landmarks are
guesses. MediaPipe's depth (z, smaller = nearer) and visibility both favour the
near leg; on the shared rendered clips the near leg was the better-tracked one
every time. The choice is smoothed over time and switches only when the other
leg has been clearly nearer for a while, so one odd frame cannot flip the
measured side mid-rep.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from coach.landmarks import LEGS, Pose, Side

SideChoice = Literal["auto", "left", "right"]


def nearness(pose: Pose, side: Side) -> float:
    """Higher = this leg is nearer the camera and better seen (unitless score)."""
    leg = LEGS[side]
    points = (leg.knee, leg.ankle, leg.heel, leg.toe)
    shank = max(pose[leg.knee].distance(pose[leg.ankle]), 1.0)
    depth = sum(pose[p].z for p in points) / len(points) / shank
    visibility = sum(pose[p].visibility for p in points) / len(points)
    return visibility - 0.5 * depth


@dataclass
class SideSelector:
    """Picks the measured leg frame by frame, with hysteresis for `auto`."""

    choice: SideChoice = "auto"
    switch_after_s: float = 1.0
    margin: float = 0.15
    smoothing: float = 0.2
    _side: Side | None = None
    _score: dict[Side, float] = field(default_factory=dict)
    _other_better_since: float | None = None

    @property
    def side(self) -> Side | None:
        return Side(self.choice) if self.choice != "auto" else self._side

    def reset(self) -> None:
        self._side, self._other_better_since = None, None
        self._score.clear()

    def update(self, pose: Pose | None, t: float) -> Side | None:
        if self.choice != "auto":
            return Side(self.choice)
        if pose is None:
            return self._side
        for s in Side:
            value = nearness(pose, s)
            old = self._score.get(s, value)
            self._score[s] = old + self.smoothing * (value - old)
        best = max(Side, key=lambda s: self._score[s])
        if self._side is None:
            self._side = best
        elif best is not self._side and self._score[best] - self._score[self._side] > self.margin:
            if self._other_better_since is None:
                self._other_better_since = t
            if t - self._other_better_since >= self.switch_after_s:
                self._side, self._other_better_since = best, None
        else:
            self._other_better_since = None
        return self._side
