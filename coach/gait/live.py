"""Live gait practice: count steps and cue the patient as they walk (pure core).

`GaitTracker.update(pose, t_s)` takes one camera frame's pose at a time. Every
`analyze_every_s` it re-runs the offline analysis (`coach.gait.core`) on the last
`window_s` of poses (`prepare_series` puts them on a regular time grid, so
dropped frames become short gaps that are bridged, not squeezed out). A contact
is counted once, when it first appears in a window; a step's measures are the
offline ones, so what the patient is told live matches the recorded report.
A step is counted once the window runs `settle_s` past its contact: how the
foot landed is judged against the same foot flat just after the contact
(`coach.gait.strike`), so the live call waits for those frames and is then the
recorded call. Steps appear about 0.35-0.55 s after the foot lands.

Cues: a step that shows a flagged sign (low toe clearance, flat or toe-first
landing, steppage) prompts a cue when the same sign was also seen in another of
that side's last `confirm_of` steps (one noisy step does not nag), at most one
cue per `cooldown_s`. Only the foot nearer the camera cues: the far foot is
partly hidden behind the near leg in swing and its figures are too noisy to nag
about (it still counts steps). No cues while running, where those signs are normal.
"""

from __future__ import annotations

import math
import statistics
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

from coach.gait.core import analyze_series, prepare_series
from coach.gait.events import EventConfig
from coach.gait.flags import CUES, DEFAULT_FLAGS, FlagConfig, step_signs
from coach.gait.metrics import Step, values
from coach.gait.person import leg_length_px, pelvis, pick_walker
from coach.landmarks import Pose, Side

CUE_PRIORITY = ("low_toe_clearance", "foot_slap_or_toe_first", "steppage")
MIN_CADENCE_STEPS = 3
"""Step times a window needs before it reports a cadence (one or two noisy ones do not)."""
JUMP_LEGS = 1.0
"""The walker's pelvis moving further than this many leg lengths, plus `JUMP_LEGS_PER_S`
per second between sightings, is a new walk (a looped clip restarting), not a step."""
JUMP_LEGS_PER_S = 3.0


def since_last_jump(t_s: Sequence[float], poses: Sequence[Pose | None]) -> int:
    """Index of the first frame after the last place where the walker jumped."""
    start = 0
    prev: tuple[float, Pose] | None = None
    for i, (t, pose) in enumerate(zip(t_s, poses, strict=True)):
        if pose is None:
            continue
        if prev is not None:
            (px, py), (qx, qy) = pelvis(prev[1]), pelvis(pose)
            leg = max(leg_length_px(prev[1]), leg_length_px(pose))
            if math.hypot(qx - px, qy - py) / leg > JUMP_LEGS + JUMP_LEGS_PER_S * (t - prev[0]):
                start = i
        prev = (t, pose)
    return start


@dataclass(frozen=True)
class GaitFrame:
    """What the live view shows after one frame."""

    t_s: float
    steps: int
    steps_by_side: dict[Side, int]
    new_steps: tuple[Step, ...]
    """Steps counted in this update (usually none, sometimes one)."""
    last_step: Step | None
    cue: str | None
    """A short instruction to show or speak now, or None."""
    cue_reason: str | None
    """The flag id behind the cue."""
    walking: bool
    """A side-on walking bout is in view (steps are being measured)."""
    message: str | None
    """What the patient should change when nothing can be measured."""
    cadence_spm: float | None
    gait: str
    """'walking', 'running' or 'unknown' over the current window."""


@dataclass
class GaitTracker:
    """Per-frame step counter and cue source for walking in front of the camera."""

    window_s: float = 6.0
    analyze_every_s: float = 0.2
    cooldown_s: float = 4.0
    confirm_of: int = 3
    """A sign must show in 2 of the side's last `confirm_of` steps (1 = every step cues)."""
    settle_s: float = 0.35
    """A contact is counted when the window runs this far past it: the end of the landing
    call's flat window (0.25 s) plus a margin for the smoothing at the window's end."""
    duplicate_s: float = 0.15
    """Contacts closer than this to a counted one are the same contact seen again."""
    max_gap_s: float = 1.0
    """A longer loss of the person restarts the window (a new walk)."""
    flag_cfg: FlagConfig = DEFAULT_FLAGS
    event_cfg: EventConfig | None = None
    _buffer: deque[tuple[float, tuple[Pose, ...]]] = field(default_factory=deque, init=False)
    _size: tuple[int, int] | None = field(default=None, init=False)
    _last_analysis: float = field(default=-math.inf, init=False)
    _last_seen: float = field(default=-math.inf, init=False)
    _counted: list[float] = field(default_factory=list, init=False)
    _steps: list[Step] = field(default_factory=list, init=False)
    _signs: dict[Side, deque[frozenset[str]]] = field(default_factory=dict, init=False)
    _last_cue_t: float = field(default=-math.inf, init=False)
    _walking: bool = field(default=False, init=False)
    _message: str | None = field(default=None, init=False)
    _cadence: float | None = field(default=None, init=False)
    _gait: str = field(default="unknown", init=False)
    _last_t: float = field(default=-math.inf, init=False)

    @property
    def steps(self) -> list[Step]:
        return list(self._steps)

    def reset(self) -> None:
        """Forget everything (new session, or the patient asks to start again)."""
        self._buffer.clear()
        self._size = None
        self._last_analysis = self._last_seen = self._last_cue_t = self._last_t = -math.inf
        self._counted.clear()
        self._steps.clear()
        self._signs.clear()
        self._walking, self._message, self._cadence, self._gait = False, None, None, "unknown"

    def update(self, pose: Pose | Sequence[Pose] | None, t_s: float) -> GaitFrame:
        """Feed one frame's pose, or every pose found in it; timestamps must increase.

        None or an empty sequence: nobody detected. Given every person in the frame
        (a bystander is common), the window's walker is picked as the recorded
        analysis does (`coach.gait.person.pick_walker`); a single detection is also
        checked that way, since a one-person model may follow someone else for a while.
        """
        if t_s <= self._last_t:
            return self._frame(t_s, (), None, None)  # repeated or out-of-order frame: ignore
        self._last_t = t_s
        people: tuple[Pose, ...] = (
            () if pose is None else (pose,) if isinstance(pose, Pose) else tuple(pose)
        )
        if people:
            size = (people[0].width, people[0].height)
            if self._size is not None and size != self._size:
                self._buffer.clear()  # the camera changed resolution: coordinates changed
            self._size = size
            if t_s - self._last_seen > self.max_gap_s:
                self._buffer.clear()
            self._last_seen = t_s
        self._buffer.append((t_s, people))
        while self._buffer and self._buffer[0][0] < t_s - self.window_s:
            self._buffer.popleft()
        if t_s - self._last_seen > self.max_gap_s:
            self._walking = False
            self._message = "Step into view, side-on to the camera."
        new: tuple[Step, ...] = ()
        cue = reason = None
        if t_s - self._last_analysis >= self.analyze_every_s and self._size is not None:
            self._last_analysis = t_s
            new = self._analyze(t_s)
            cue, reason = self._cue_for(new, t_s)
        return self._frame(t_s, new, cue, reason)

    def _analyze(self, now: float) -> tuple[Step, ...]:
        assert self._size is not None
        grid_t = [t for t, _ in self._buffer]
        walker = pick_walker(grid_t, [people for _, people in self._buffer])
        grid_p = walker.poses
        start = since_last_jump(grid_t, grid_p)
        grid_t, grid_p = grid_t[start:], grid_p[start:]
        if sum(p is not None for p in grid_p) < 10:
            self._walking = False
            self._cadence = None
            self._message = "Step into view, side-on to the camera."
            return ()
        s = prepare_series(grid_t, grid_p, *self._size)
        a = analyze_series(s, event_cfg=self.event_cfg, flag_cfg=self.flag_cfg)
        bouts = a.events.bouts
        self._walking = bool(bouts) and bouts[-1].stop >= s.n - 2
        self._gait = str(a.summary.get("gait", "unknown"))
        self._cadence = self._cadence_of(a.steps)
        self._message = None if self._walking else self._why_not(a.events.frame_issue[-1])
        new: list[Step] = []
        for st in a.steps:
            if st.t_s > s.t[-1] - self.settle_s:
                continue  # not settled: its landing call still needs the frames after it
            if any(abs(st.t_s - t) < self.duplicate_s for t in self._counted):
                continue
            if self._counted and st.t_s < self._counted[-1]:
                continue  # older than what was already counted: seen too late to matter
            self._counted.append(st.t_s)
            new.append(st)
        self._counted = self._counted[-50:]
        self._steps.extend(new)
        return tuple(new)

    @staticmethod
    def _cadence_of(steps: Sequence[Step]) -> float | None:
        """Median step time of the window, as the recorded summary, once there are enough."""
        times = values(steps, None, "step_s")
        if len(times) < MIN_CADENCE_STEPS:
            return None
        median = statistics.median(times)
        return 60.0 / median if median > 0 else None

    @staticmethod
    def _why_not(issue: int) -> str:
        if issue == 1:
            return "Step into view, side-on to the camera."
        if issue == 2:
            return "Turn side-on to the camera and walk across its view."
        return "Keep walking across the camera's view."

    def _cue_for(self, new: tuple[Step, ...], t_s: float) -> tuple[str | None, str | None]:
        if self._gait == "running":
            return None, None
        cue: tuple[str | None, str | None] = (None, None)
        for st in new:
            if not st.near_camera:
                continue
            signs = frozenset(step_signs(st, self.flag_cfg))
            history = self._signs.setdefault(st.side, deque(maxlen=self.confirm_of))
            history.append(signs)
            if t_s - self._last_cue_t < self.cooldown_s:
                continue
            for sign in CUE_PRIORITY:
                confirmed = sum(sign in h for h in history) >= min(2, self.confirm_of)
                if sign in signs and confirmed:
                    self._last_cue_t = t_s
                    cue = (CUES[sign], sign)
                    break
        return cue

    def _frame(
        self, t_s: float, new: tuple[Step, ...], cue: str | None, reason: str | None
    ) -> GaitFrame:
        by_side = {side: sum(1 for st in self._steps if st.side is side) for side in Side}
        return GaitFrame(
            t_s=t_s,
            steps=len(self._steps),
            steps_by_side=by_side,
            new_steps=new,
            last_step=self._steps[-1] if self._steps else None,
            cue=cue,
            cue_reason=reason,
            walking=self._walking,
            message=self._message,
            cadence_spm=self._cadence,
            gait=self._gait,
        )
