"""What the therapist's live monitor shows of one session, as one flat, versioned record.

A `LiveState` is made on the patient's app server from the session's own status (see
`coach.telehealth.publisher`), travels to the monitor's server as JSON (under
PostgreSQL's 8000-byte NOTIFY limit: about 700 bytes), and is read back with every
field checked, so a state from a newer or broken server is refused, not half-shown.
Ids, not words: the monitor page words the stage, prompt and cue (`coach.wording`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

STATE_VERSION = 1

GAP_AFTER_S = 3.0
"""No state for this long: the monitor shows a gap (the patient's page sends one at
least every `coach.live_session.PROGRESS_EVERY_S` while the camera runs)."""
GONE_AFTER_S = 120.0
"""No state for this long and not ended: the session left the monitor (the patient
closed the page); a later state brings it back."""
ENDED_SHOWN_S = 60.0
"""An ended session stays on the monitor this long, with its final count."""


class Connection(StrEnum):
    LIVE = "live"
    GAP = "gap"
    """Nothing new for `GAP_AFTER_S`: the patient's network or page has dropped."""
    ENDED = "ended"


class StateError(ValueError):
    """A live state that cannot be read (the message names the field)."""


Point = tuple[float, float]


@dataclass(frozen=True, slots=True)
class LiveState:
    """One live session as its patient's server last saw it."""

    session_id: str
    patient_id: str
    exercise_id: str
    exercise_name: str
    unit: str
    """`coach.records.Unit` of `value`: "deg" or "pct_shank"."""
    stage: str
    """`coach.live_session.Stage` value."""
    prompt: str
    """The instruction on the patient's screen (a `coach.wording` prompt id)."""
    reps: int
    reps_per_set: int
    set_no: int
    sets: int
    value: float | None
    """The counted signal now, in `unit`."""
    angle_deg: float | None
    """The clinical ankle angle, only when the camera sees the leg side-on."""
    hold_s: float
    hold_target_s: float
    cue: str | None
    """The correction shown now (a cue id), if any."""
    not_counting: str | None
    """Why the movement is not counted (a counting-issue id), if so."""
    view_ok: bool
    """The camera sees the leg well enough to count."""
    camera: str | None
    side: str | None
    points: tuple[Point, ...] | None
    """The measured leg (`coach.records.LEG_POINTS`) as shares of the picture."""
    t_s: float
    """Session time of this state."""
    sent_at: float
    """Wall-clock time (Unix seconds) when the patient's server published it."""
    ended: bool = False
    server: str = ""
    """Which app server runs the session (for the therapist's and the admin's eyes)."""
    prompt_params: Mapping[str, float | str] = field(default_factory=dict)

    @property
    def target_reps(self) -> int:
        return self.sets * self.reps_per_set

    def to_json(self) -> str:
        data = asdict(self)
        data["v"] = STATE_VERSION
        data["points"] = None if self.points is None else [list(p) for p in self.points]
        data["prompt_params"] = dict(self.prompt_params)
        return json.dumps(data, separators=(",", ":"), allow_nan=False)

    @staticmethod
    def from_json(text: str | bytes) -> LiveState:
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise StateError("a live state is not JSON") from exc
        return LiveState.from_dict(data)

    @staticmethod
    def from_dict(data: Any) -> LiveState:
        if not isinstance(data, dict):
            raise StateError("a live state must be an object")
        if data.get("v") != STATE_VERSION:
            raise StateError(f"live state version {data.get('v')!r} (this server reads 1)")
        f = _Reader(data)
        return LiveState(
            session_id=f.text("session_id"),
            patient_id=f.text("patient_id"),
            exercise_id=f.text("exercise_id"),
            exercise_name=f.text("exercise_name", limit=200),
            unit=f.text("unit"),
            stage=f.text("stage"),
            prompt=f.text("prompt"),
            reps=f.count("reps"),
            reps_per_set=f.count("reps_per_set"),
            set_no=f.count("set_no"),
            sets=f.count("sets"),
            value=f.number("value", optional=True),
            angle_deg=f.number("angle_deg", optional=True),
            hold_s=f.number("hold_s"),
            hold_target_s=f.number("hold_target_s"),
            cue=f.text("cue", optional=True),
            not_counting=f.text("not_counting", optional=True),
            view_ok=f.flag("view_ok"),
            camera=f.text("camera", optional=True),
            side=f.text("side", optional=True),
            points=f.points("points"),
            t_s=f.number("t_s"),
            sent_at=f.number("sent_at"),
            ended=f.flag("ended"),
            server=f.text("server", limit=200, empty=True),
            prompt_params=f.params("prompt_params"),
        )


def connection_of(state: LiveState, now: float) -> Connection:
    """How the session looks from the monitor at wall-clock `now` (Unix seconds)."""
    if state.ended:
        return Connection.ENDED
    return Connection.GAP if now - state.sent_at > GAP_AFTER_S else Connection.LIVE


def on_monitor(state: LiveState, now: float) -> bool:
    """Whether the monitor still lists this session: running, in a gap of under
    `GONE_AFTER_S`, or ended less than `ENDED_SHOWN_S` ago."""
    age = now - state.sent_at
    return age <= (ENDED_SHOWN_S if state.ended else GONE_AFTER_S)


class _Reader:
    """Typed fields of a decoded state; the first problem raises `StateError` naming it."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data

    def _get(self, name: str, optional: bool) -> Any:
        if name not in self.data:
            raise StateError(f"live state: {name} is missing")
        value = self.data[name]
        if value is None and not optional:
            raise StateError(f"live state: {name} must not be empty")
        return value

    def text(
        self, name: str, *, optional: bool = False, limit: int = 100, empty: bool = False
    ) -> Any:
        value = self._get(name, optional)
        if value is None:
            return None
        if not isinstance(value, str) or len(value) > limit or (not value and not empty):
            raise StateError(f"live state: {name} must be text of 1-{limit} characters")
        return value

    def number(self, name: str, *, optional: bool = False) -> Any:
        value = self._get(name, optional)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise StateError(f"live state: {name} must be a number")
        if not math.isfinite(value):
            raise StateError(f"live state: {name} must be finite")
        return float(value)

    def count(self, name: str) -> int:
        value = self._get(name, False)
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 100_000:
            raise StateError(f"live state: {name} must be a whole number from 0")
        return value

    def flag(self, name: str) -> bool:
        value = self._get(name, False)
        if not isinstance(value, bool):
            raise StateError(f"live state: {name} must be true or false")
        return value

    def points(self, name: str) -> tuple[Point, ...] | None:
        value = self._get(name, True)
        if value is None:
            return None
        if not isinstance(value, list) or len(value) > 33:
            raise StateError(f"live state: {name} must be a list of points")
        out = []
        for p in value:
            if (
                not isinstance(p, list)
                or len(p) != 2
                or not all(isinstance(c, int | float) and math.isfinite(c) for c in p)
            ):
                raise StateError(f"live state: {name} must be [x, y] pairs of numbers")
            out.append((float(p[0]), float(p[1])))
        return tuple(out)

    def params(self, name: str) -> dict[str, float | str]:
        value = self.data.get(name, {})
        if not isinstance(value, dict) or len(value) > 20:
            raise StateError(f"live state: {name} must be an object")
        out: dict[str, float | str] = {}
        for k, v in value.items():
            if isinstance(v, bool) or not isinstance(v, int | float | str):
                raise StateError(f"live state: {name}.{k} must be a number or text")
            out[str(k)] = v
        return out
