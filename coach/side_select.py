"""Which leg to measure: the person's chosen (prescribed) side, or automatically the leg that moves.

"left" and "right" are the person's own sides, not MediaPipe's labels (`_chosen_leg`).

Until either leg moves, `auto` takes the leg nearest the camera: in a side view
the far leg is hidden behind the near one and its landmarks are guesses, and
MediaPipe's depth (z, smaller = nearer) and visibility both favour the near
leg. Once a leg's counted signal moves clearly more than the other's (its
range over the last seconds, `movement`), that leg is measured: the exercising
leg may be the far one in an oblique view, and a table-height camera made the
near-leg rule measure the still leg. Range, not variance: the hidden far leg
of a 45-degree rear view jitters most, but ranking by range picked the moving
leg on 11 of 11 reps (docs/studies/counting-signals.md). The choice switches
only after the other leg has been clearly better for a while, so one odd
frame cannot flip the measured side mid-rep.
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


FACING_MIN = 0.15
"""Toe-ahead-of-heel distance (shank lengths) below which the feet point at the camera."""


def near_side(pose: Pose) -> Side | None:
    """The person's own side facing the camera, from the way both feet point.

    Toes to image-left: the person faces left and shows the camera their left side
    (right-handed geometry; on every shared clip this matched the truth). None when
    the feet point at or away from the camera (front and back views).
    """
    ahead = [
        (pose[leg.toe].x - pose[leg.heel].x) / max(pose[leg.knee].distance(pose[leg.ankle]), 1.0)
        for leg in LEGS.values()
    ]
    mean = sum(ahead) / len(ahead)
    if abs(mean) < FACING_MIN:
        return None
    return Side.LEFT if mean < 0 else Side.RIGHT


@dataclass
class SideSelector:
    """Picks the measured leg frame by frame, with hysteresis for `auto`."""

    choice: SideChoice = "auto"
    switch_after_s: float = 1.0
    margin: float = 0.15
    smoothing: float = 0.2
    moves_more: float = 1.5
    """One leg's movement must be this many times the other's to decide by movement."""
    min_movement: float = 1.0
    """Movement (in the counted signal's units) below this decides nothing."""
    _side: Side | None = None
    _score: dict[Side, float] = field(default_factory=dict)
    _other_better_since: float | None = None

    far_chosen: bool = field(default=False, init=False)
    """The chosen (prescribed) leg is the one away from the camera in a side view."""

    @property
    def side(self) -> Side | None:
        return self._side

    def reset(self) -> None:
        self._side, self._other_better_since = None, None
        self._score.clear()
        self.far_chosen = False

    def update(
        self, pose: Pose | None, t: float, movement: dict[Side, float] | None = None
    ) -> Side | None:
        """The MediaPipe leg (landmark set) to measure in this frame."""
        if pose is None:
            return self._side if self.choice == "auto" else self._side or Side(self.choice)
        for s in Side:
            value = nearness(pose, s)
            old = self._score.get(s, value)
            self._score[s] = old + self.smoothing * (value - old)
        if self.choice != "auto":
            self._side = self._chosen_leg(pose)
            return self._side
        best = max(Side, key=lambda s: self._score[s])
        clear = self._score[best] - self._score[best.other] > self.margin
        mover = self._mover(movement)
        if mover is not None:
            best, clear = mover, True
        if self._side is None:
            self._side = best
        elif best is not self._side and clear:
            if self._other_better_since is None:
                self._other_better_since = t
            if t - self._other_better_since >= self.switch_after_s:
                self._side, self._other_better_since = best, None
        else:
            self._other_better_since = None
        return self._side

    def _chosen_leg(self, pose: Pose) -> Side:
        """The landmarks of the person's own chosen leg.

        From the front or back MediaPipe's labels are the person's sides. In a side or
        oblique view they are not reliable (the README of the shared clips), but the
        way the feet point is: a person facing image-left shows the camera their left
        side. So the chosen leg is the nearer landmark set when it is the side facing
        the camera, else the farther one (and `far_chosen` asks the patient to turn).
        """
        chosen = Side(self.choice)
        facing_camera = near_side(pose)
        if facing_camera is None:
            self.far_chosen = False
            return chosen
        nearer = max(Side, key=lambda s: self._score[s])
        self.far_chosen = facing_camera is not chosen
        return nearer if not self.far_chosen else nearer.other

    def _mover(self, movement: dict[Side, float] | None) -> Side | None:
        """The leg that clearly moves more than the other, if one does."""
        if not movement or len(movement) < len(Side):
            return None
        ranked = sorted(Side, key=lambda s: movement[s], reverse=True)
        top, other = movement[ranked[0]], movement[ranked[1]]
        if top >= self.min_movement and top >= self.moves_more * other:
            return ranked[0]
        return None
