"""Exercise definitions: typed, validated records loaded from readable TOML files.

A therapist can open `coach/exercises/*.toml`, read what each exercise
measures, its thresholds and dose, and change them without touching code. A
malformed file fails loading with a message naming the file, the field and the
problem.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from enum import Enum, StrEnum
from pathlib import Path
from typing import Any

from coach.counter import CounterConfig

EXERCISES_DIR = Path(__file__).parent / "exercises"


class Signal(StrEnum):
    """What the counter follows. Angles in degrees; heights in % of shank length."""

    ANKLE = "ankle_deg"
    HEEL_HEIGHT = "heel_height"
    TOE_HEIGHT = "toe_height"
    FOOT_HEIGHT = "foot_height"

    @property
    def unit(self) -> str:
        return "°" if self is Signal.ANKLE else "% shank"


class Direction(StrEnum):
    """Whether the movement makes the signal grow (up) or shrink (down)."""

    UP = "up"
    DOWN = "down"

    @property
    def sign(self) -> float:
        return 1.0 if self is Direction.UP else -1.0


class Mode(StrEnum):
    """Reps are counted on return to rest; holds are counted when the hold time is reached."""

    REPS = "reps"
    HOLD = "hold"


CATEGORIES = ("range_of_motion", "strength", "stretch", "dexterity", "gait")
POSITIONS = ("seated", "standing", "long_sitting")


class ExerciseError(ValueError):
    """A definition file is malformed; the message names the file, field and problem."""

    def __init__(self, source: str, field: str, problem: str) -> None:
        super().__init__(f"{source}: field '{field}': {problem}")
        self.source, self.field, self.problem = source, field, problem


@dataclass(frozen=True, slots=True)
class Dose:
    sets: int
    reps: int
    hold_s: float
    rest_s: float
    frequency: str


@dataclass(frozen=True, slots=True)
class FormRules:
    """Limits that trigger form cues; None switches a rule off."""

    min_rep_s: float | None
    knee_still_deg: float | None
    heel_down_pct: float | None


@dataclass(frozen=True, slots=True)
class Exercise:
    id: str
    name: str
    category: str
    position: str
    purpose: str
    camera: str
    instructions: tuple[str, ...]
    signal: Signal
    direction: Direction
    mode: Mode
    counter: CounterConfig
    dose: Dose
    form: FormRules
    source: str

    @property
    def unit(self) -> str:
        return self.signal.unit

    def excursion(self, value: float, neutral: float) -> float:
        """How far `value` has moved from neutral in the exercise's direction."""
        return self.direction.sign * (value - neutral)

    def from_excursion(self, excursion: float, neutral: float) -> float:
        """Back from excursion to the signal's own units (e.g. the ankle angle)."""
        return neutral + self.direction.sign * excursion


_ID = re.compile(r"^[a-z][a-z0-9_]*$")


class _Fields:
    """Typed access to one TOML table with errors that name file and field."""

    def __init__(self, data: dict[str, Any], source: str, prefix: str = "") -> None:
        self.data, self.source, self.prefix = data, source, prefix
        self.used: set[str] = set()

    def _name(self, key: str) -> str:
        return f"{self.prefix}{key}"

    def get(self, key: str, kind: type | tuple[type, ...], default: Any = ..., *, what: str) -> Any:
        self.used.add(key)
        if key not in self.data:
            if default is ...:
                raise ExerciseError(self.source, self._name(key), f"missing ({what})")
            return default
        value = self.data[key]
        if isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
            raise ExerciseError(self.source, self._name(key), f"expected {what}, got {value!r}")
        if not isinstance(value, kind):
            raise ExerciseError(self.source, self._name(key), f"expected {what}, got {value!r}")
        return value

    def text(self, key: str, default: Any = ...) -> str:
        value = self.get(key, str, default, what="text")
        if value is not None and not value.strip():
            raise ExerciseError(self.source, self._name(key), "must not be empty")
        return None if value is None else str(value).strip()  # type: ignore[return-value]

    def number(
        self, key: str, default: Any = ..., *, low: float | None = None, high: float | None = None
    ) -> Any:
        value = self.get(key, (int, float), default, what="a number")
        if value is None:
            return None
        if (low is not None and value < low) or (high is not None and value > high):
            raise ExerciseError(
                self.source, self._name(key), f"{value} is outside the allowed range {low}..{high}"
            )
        return float(value)

    def choice(self, key: str, options: tuple[str, ...] | type[Enum], default: Any = ...) -> str:
        names = tuple(o.value for o in options) if isinstance(options, type) else options
        value = self.text(key, default)
        if value not in names:
            raise ExerciseError(
                self.source, self._name(key), f"{value!r} is not one of {', '.join(names)}"
            )
        return value

    def table(self, key: str) -> _Fields:
        value = self.get(key, dict, {}, what="a table")
        return _Fields(value, self.source, f"{self._name(key)}.")

    def check_unknown(self) -> None:
        unknown = sorted(set(self.data) - self.used)
        if unknown:
            raise ExerciseError(self.source, self._name(unknown[0]), "unknown field (a typo?)")


def parse_exercise(data: dict[str, Any], source: str) -> Exercise:
    """Validate one definition (already parsed from TOML)."""
    f = _Fields(data, source)
    ex_id = f.text("id")
    if not _ID.match(ex_id):
        raise ExerciseError(source, "id", f"{ex_id!r} must be lower_case letters, digits and _")
    name = f.text("name")
    category = f.choice("category", CATEGORIES)
    position = f.choice("position", POSITIONS)
    purpose = f.text("purpose")
    camera = f.text("camera")
    steps = f.get("instructions", list, what="a list of steps")
    if not steps or not all(isinstance(s, str) and s.strip() for s in steps):
        raise ExerciseError(source, "instructions", "must be a non-empty list of text steps")
    signal = Signal(f.choice("signal", Signal))
    direction = Direction(f.choice("direction", Direction))
    mode = Mode(f.choice("mode", Mode, "reps"))

    t = f.table("thresholds")
    enter = t.number("enter", low=0.1, high=90)
    exit_ = t.number("exit", low=-90, high=90)
    target = t.number("target", low=0.1, high=120)
    if exit_ >= enter:
        raise ExerciseError(source, "thresholds.exit", f"{exit_} must be below enter ({enter})")
    if target < enter:
        raise ExerciseError(
            source, "thresholds.target", f"{target} must be at least enter ({enter})"
        )
    counter = CounterConfig(
        enter=enter,
        exit=exit_,
        target=target,
        target_tolerance=t.number("target_tolerance", 2.0, low=0, high=30),
        min_up_s=t.number("min_up_s", 0.2, low=0, high=10),
        min_rest_s=t.number("min_rest_s", 0.1, low=0, high=10),
        max_gap_s=t.number("max_gap_s", 1.0, low=0.05, high=30),
    )
    t.check_unknown()

    d = f.table("dose")
    dose = Dose(
        sets=int(d.number("sets", low=1, high=20)),
        reps=int(d.number("reps", low=1, high=200)),
        hold_s=d.number("hold_s", 0.0, low=0, high=300),
        rest_s=d.number("rest_s", 60.0, low=0, high=600),
        frequency=d.text("frequency", "as your therapist advises"),
    )
    d.check_unknown()
    if mode is Mode.HOLD and dose.hold_s <= 0:
        raise ExerciseError(source, "dose.hold_s", "a hold exercise needs a hold time above 0")

    r = f.table("form")
    form = FormRules(
        min_rep_s=r.number("min_rep_s", None, low=0, high=60),
        knee_still_deg=r.number("knee_still_deg", None, low=1, high=90),
        heel_down_pct=r.number("heel_down_pct", None, low=1, high=100),
    )
    r.check_unknown()
    f.check_unknown()
    return Exercise(
        id=ex_id,
        name=name,
        category=category,
        position=position,
        purpose=purpose,
        camera=camera,
        instructions=tuple(s.strip() for s in steps),
        signal=signal,
        direction=direction,
        mode=mode,
        counter=counter,
        dose=dose,
        form=form,
        source=source,
    )


def load_exercise(path: Path) -> Exercise:
    """Load and validate one TOML file."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ExerciseError(path.name, "(file)", f"not valid TOML: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ExerciseError(path.name, "(file)", f"cannot be read: {exc}") from None
    return parse_exercise(data, path.name)


def load_exercises(directory: Path = EXERCISES_DIR) -> dict[str, Exercise]:
    """All definitions in a folder, by id, in file-name order; duplicate ids are an error."""
    out: dict[str, Exercise] = {}
    for path in sorted(directory.glob("*.toml")):
        ex = load_exercise(path)
        if ex.id in out:
            raise ExerciseError(
                path.name, "id", f"{ex.id!r} is already defined in {out[ex.id].source}"
            )
        out[ex.id] = ex
    return out
