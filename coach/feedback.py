"""Form feedback: rules that propose cues, and an arbiter that lets one through at a time.

Each rule looks at one frame's facts and proposes zero or more cues with a
priority (setup problems first: nothing else can be judged until the camera
sees the leg). The arbiter speaks one cue at a time, keeps a global cooldown so
the patient is not talked over, and does not repeat the same cue too soon.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import IntEnum, StrEnum

from coach.camera_view import ViewIssue
from coach.counter import Attempt, Phase, Rep
from coach.exercise import Exercise, Mode


class Priority(IntEnum):
    """Lower value = more urgent."""

    SETUP = 0
    SAFETY = 1
    FORM = 2
    RANGE = 3
    HOLD = 4
    TEMPO = 5


@dataclass(frozen=True, slots=True)
class Cue:
    """A correction to give: an id and its parameters (`coach.wording` makes the sentence)."""

    id: str
    priority: Priority
    t_s: float = 0.0
    params: Mapping[str, float | str] = field(default_factory=dict)


class CountingIssue(StrEnum):
    """Why movement the camera sees is not being counted (said within seconds, never silence)."""

    KNEES_BENT = "knees_bent"
    MOVEMENT_TOO_SMALL = "movement_too_small"
    NOT_BACK_TO_REST = "not_back_to_rest"


@dataclass(frozen=True, slots=True)
class FrameFacts:
    """What the rules need to know about one frame (already smoothed)."""

    t_s: float
    view_issue: ViewIssue | None
    view_issue_for_s: float
    phase: Phase
    knee_change_deg: float | None
    heel_rise_pct: float | None
    excursion: float | None
    hold_s: float
    rep: Rep | None
    attempt: Attempt | None
    counting_issue: CountingIssue | None = None
    """Why the movement seen is not being counted now, if it is not."""


def propose(ex: Exercise, f: FrameFacts, *, view_grace_s: float = 1.0) -> list[Cue]:
    """All cues this frame's facts justify, unordered."""
    cues: list[Cue] = []
    if f.view_issue is not None:
        if f.view_issue_for_s >= view_grace_s:
            cues.append(Cue(f.view_issue.value, Priority.SETUP, f.t_s))
        return cues  # nothing else can be judged from a bad view
    moving = f.phase in (Phase.RISING, Phase.ACTIVE, Phase.RETURNING)
    rules = ex.form
    issue = f.counting_issue
    if issue is not None:
        cues.append(Cue(issue.value, Priority.FORM, f.t_s))
        if issue is CountingIssue.KNEES_BENT:
            return cues  # nothing else is judged until the knees straighten
    knee_limit, knee = rules.knee_still_deg, f.knee_change_deg
    if moving and knee_limit is not None and knee is not None and abs(knee) > knee_limit:
        position = "standing" if ex.position == "standing" else "seated"
        cues.append(Cue("knee_moving", Priority.FORM, f.t_s, {"position": position}))
    heel_limit, heel = rules.heel_down_pct, f.heel_rise_pct
    if moving and heel_limit is not None and heel is not None and heel > heel_limit:
        cues.append(Cue("heel_lifting", Priority.FORM, f.t_s))
    unit = ex.unit
    target = ex.counter.target
    # Degrees mean something to a patient; % of shank length does not, and adaptive
    # thresholds have no fixed distance to name.
    say_amount = unit == "°" and ex.counter.min_range is None
    if f.attempt is not None:
        params: dict[str, float | str] = {"when": "attempt"}
        if say_amount:
            params |= {"short": round(ex.counter.enter - f.attempt.peak, 1), "unit": unit}
        cues.append(Cue("not_far_enough", Priority.RANGE, f.t_s, params))
    if f.rep is not None:
        rep = f.rep
        if not rep.reached_target:
            after: dict[str, float | str] = {"when": "rep"}
            if say_amount:
                after |= {"short": round(target - rep.peak, 1), "unit": unit}
            cues.append(Cue("not_far_enough", Priority.RANGE, f.t_s, after))
        need = ex.dose.hold_s
        if ex.mode is Mode.REPS and need > 0 and rep.hold_s < need - 0.5:
            held = round(rep.hold_s, 1)
            cues.append(Cue("hold_longer", Priority.HOLD, f.t_s, {"need_s": need, "held_s": held}))
        if rules.min_rep_s is not None and rep.duration_s < rules.min_rep_s:
            cues.append(Cue("too_fast", Priority.TEMPO, f.t_s))
    x = f.excursion
    holding = ex.mode is Mode.HOLD and f.phase is Phase.ACTIVE
    if holding and x is not None and x < ex.counter.hold_floor and f.hold_s == 0.0:
        cues.append(Cue("stretch_further", Priority.RANGE, f.t_s))
    return cues


@dataclass
class CueArbiter:
    """One cue at a time: a global cooldown and a longer per-cue repeat interval."""

    cooldown_s: float = 4.0
    repeat_s: float = 12.0
    _last_t: float | None = None
    _last_by_id: dict[str, float] = field(default_factory=dict)

    def reset(self) -> None:
        self._last_t = None
        self._last_by_id.clear()

    def choose(self, t: float, candidates: list[Cue]) -> Cue | None:
        if not candidates:
            return None
        if self._last_t is not None and t - self._last_t < self.cooldown_s:
            return None
        for cue in sorted(candidates, key=lambda c: c.priority):
            last = self._last_by_id.get(cue.id)
            if last is not None and t - last < self.repeat_s:
                continue
            self._last_t = t
            self._last_by_id[cue.id] = t
            return cue
        return None
