"""Exercise definitions: typed, validated records loaded from readable TOML files.

A therapist can open `coach/exercises/*.toml`, read what each exercise
measures, its thresholds and dose, and change them without touching code. A
clinic can point the app at its own folder with ``COACH_EXERCISES_DIR``. A
malformed file is reported with a message naming the file, the field and the
problem, and the other files still load (`load_library`).
"""

from __future__ import annotations

import logging
import math
import os
import re
import tomllib
import unicodedata
from dataclasses import dataclass
from enum import Enum, StrEnum
from pathlib import Path
from typing import Any

from coach.counter import CounterConfig

log = logging.getLogger(__name__)

EXERCISES_DIR = Path(__file__).parent / "exercises"
"""The built-in definitions."""

ENV_EXERCISES_DIR = "COACH_EXERCISES_DIR"
"""Environment variable naming a folder of definitions that replaces `EXERCISES_DIR`."""


class Signal(StrEnum):
    """What the counter follows. Angles in degrees; heights in % of shank length."""

    ANKLE = "ankle_deg"
    HEEL_HEIGHT = "heel_height"
    TOE_HEIGHT = "toe_height"
    FOOT_HEIGHT = "foot_height"
    TOE_LIFT = "toe_lift"
    """Toe (foot index) height above the heel: the ankle's movement seen from any side view."""

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
    """A definition file is malformed; the message names the file, field and problem.

    `field` is empty for problems with a whole folder (missing, unreadable, empty).
    """

    def __init__(self, source: str, field: str, problem: str) -> None:
        where = f"field '{field}': " if field else ""
        super().__init__(f"{source}: {where}{problem}")
        self.source, self.field, self.problem = source, field, problem

    def __reduce__(self) -> tuple[type[ExerciseError], tuple[str, str, str]]:
        """Survive pickling (a process pool sends errors back to its parent)."""
        return type(self), (self.source, self.field, self.problem)


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
    max_knee_bend_deg: float | None = None
    """A rep in which the knee bends more than this does not count (a squat, not a raise)."""


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


_ID = re.compile(r"[a-z][a-z0-9_]*")

# Longest text a field may hold, in characters (after trimming spaces at the ends).
MAX_ID = 40
MAX_NAME = 80
MAX_LONG_TEXT = 500
MAX_STEP = 300
MAX_STEPS = 20
MAX_FREQUENCY = 120
_MAX_CHOICE = 40


def _shown(value: Any, limit: int = 40) -> str:
    """A value quoted for a message: on one line (repr escapes newlines) and short."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _text_problem(value: str, max_len: int, *, multiline: bool) -> str | None:
    """What is wrong with a (trimmed) text, or None.

    Control characters are never wanted: a tab or line break in a one-line field (a
    name, a step) breaks the layout and the one-line messages; long texts (purpose,
    camera) may hold line breaks, as TOML's triple-quoted strings give.
    """
    if not value:
        return "must not be empty"
    if len(value) > max_len:
        return f"is {len(value)} characters long; at most {max_len} are allowed"
    for char in value:
        if char == "\n" and multiline:
            continue
        if unicodedata.category(char) in ("Cc", "Zl", "Zp"):
            name = {"\t": "a tab", "\n": "a line break", "\r": "a line break"}.get(
                char, f"the control character U+{ord(char):04X}"
            )
            where = "a one-line field" if not multiline else "this field"
            return f"contains {name}, which is not allowed in {where}"
    return None


class _Fields:
    """Typed access to one TOML table with errors that name file and field."""

    def __init__(self, data: dict[str, Any], source: str, prefix: str = "") -> None:
        self.data, self.source, self.prefix = data, source, prefix
        self.used: set[str] = set()

    def _name(self, key: str) -> str:
        return f"{self.prefix}{key}"

    def error(self, key: str, problem: str) -> ExerciseError:
        return ExerciseError(self.source, self._name(key), problem)

    def get(self, key: str, kind: type | tuple[type, ...], default: Any = ..., *, what: str) -> Any:
        """The raw value, checked to be of `kind` (a TOML true/false never counts as a number)."""
        self.used.add(key)
        if key not in self.data:
            if default is ...:
                raise self.error(key, f"missing ({what})")
            return default
        value = self.data[key]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if (isinstance(value, bool) and bool not in kinds) or not isinstance(value, kinds):
            raise self.error(key, f"expected {what}, got {_shown(value)}")
        return value

    def text(self, key: str, default: Any = ..., *, max_len: int, multiline: bool = False) -> Any:
        value = self.get(key, str, default, what="text")
        if key not in self.data:
            return value
        value = value.strip()
        problem = _text_problem(value, max_len, multiline=multiline)
        if problem:
            raise self.error(key, problem)
        return value

    def texts(self, key: str, *, max_items: int, max_len: int, what: str) -> tuple[str, ...]:
        """A non-empty list of one-line texts; a problem names the item ("step 2 ...")."""
        items = self.get(key, list, what=f"a list of {what}s")
        if not items:
            raise self.error(key, f"must list at least one {what}")
        if len(items) > max_items:
            raise self.error(key, f"has {len(items)} {what}s; at most {max_items} are allowed")
        out = []
        for i, item in enumerate(items, 1):
            if not isinstance(item, str):
                raise self.error(key, f"{what} {i}: expected text, got {_shown(item)}")
            problem = _text_problem(item.strip(), max_len, multiline=False)
            if problem:
                raise self.error(key, f"{what} {i} {problem}")
            out.append(item.strip())
        return tuple(out)

    def _in_range(self, key: str, value: float, low: float, high: float) -> None:
        # TOML allows nan and inf; nan would pass any range test and end up in reports.
        if isinstance(value, float) and not math.isfinite(value):
            raise self.error(key, f"must be a finite number, got {value}")
        if not low <= value <= high:
            raise self.error(key, f"{_shown(value)} is outside the allowed range {low:g}..{high:g}")

    def number(self, key: str, default: Any = ..., *, low: float, high: float) -> Any:
        """A finite float in low..high (TOML integers are accepted: `hold_s = 5`)."""
        value = self.get(key, (int, float), default, what="a number")
        if value is None:
            return None
        self._in_range(key, value, low, high)
        return float(value)

    def integer(self, key: str, default: Any = ..., *, low: int, high: int) -> int:
        """A TOML integer in low..high: a count such as sets; 2.5 (or 2.0) is an error."""
        value = self.get(key, int, default, what="a whole number")
        self._in_range(key, value, low, high)
        return int(value)

    def choice(self, key: str, options: tuple[str, ...] | type[Enum], default: Any = ...) -> str:
        names = tuple(o.value for o in options) if isinstance(options, type) else options
        value = self.text(key, default, max_len=_MAX_CHOICE)
        if value not in names:
            raise self.error(key, f"{_shown(value)} is not one of {', '.join(names)}")
        return str(value)

    def table(self, key: str) -> _Fields:
        value = self.get(key, dict, {}, what="a table")
        return _Fields(value, self.source, f"{self._name(key)}.")

    def check_unknown(self) -> None:
        unknown = sorted(set(self.data) - self.used)
        if unknown:
            raise self.error(unknown[0], "unknown field (a typo?)")


def parse_exercise(data: dict[str, Any], source: str) -> Exercise:
    """Validate one definition (already parsed from TOML)."""
    f = _Fields(data, source)
    ex_id = f.text("id", max_len=MAX_ID)
    if not _ID.fullmatch(ex_id):
        raise f.error("id", f"{_shown(ex_id)} must be lower_case letters, digits and _")
    name = f.text("name", max_len=MAX_NAME)
    category = f.choice("category", CATEGORIES)
    position = f.choice("position", POSITIONS)
    purpose = f.text("purpose", max_len=MAX_LONG_TEXT, multiline=True)
    camera = f.text("camera", max_len=MAX_LONG_TEXT, multiline=True)
    steps = f.texts("instructions", max_items=MAX_STEPS, max_len=MAX_STEP, what="step")
    signal = Signal(f.choice("signal", Signal))
    direction = Direction(f.choice("direction", Direction))
    mode = Mode(f.choice("mode", Mode, "reps"))

    t = f.table("thresholds")
    enter = t.number("enter", low=0.1, high=90)
    exit_ = t.number("exit", low=-90, high=90)
    target = t.number("target", low=0.1, high=120)
    if exit_ >= enter:
        raise t.error("exit", f"{exit_:g} must be below enter ({enter:g})")
    if target < enter:
        raise t.error("target", f"{target:g} must be at least enter ({enter:g})")
    counter = CounterConfig(
        enter=enter,
        exit=exit_,
        target=target,
        target_tolerance=t.number("target_tolerance", 2.0, low=0, high=30),
        min_up_s=t.number("min_up_s", 0.2, low=0, high=10),
        min_rest_s=t.number("min_rest_s", 0.1, low=0, high=10),
        max_gap_s=t.number("max_gap_s", 1.0, low=0.05, high=30),
        min_range=t.number("min_range", None, low=0.5, high=90),
    )
    t.check_unknown()

    d = f.table("dose")
    dose = Dose(
        sets=d.integer("sets", low=1, high=20),
        reps=d.integer("reps", low=1, high=200),
        hold_s=d.number("hold_s", 0.0, low=0, high=300),
        rest_s=d.number("rest_s", 60.0, low=0, high=600),
        frequency=d.text("frequency", "as your therapist advises", max_len=MAX_FREQUENCY),
    )
    d.check_unknown()
    if mode is Mode.HOLD and dose.hold_s <= 0:
        raise d.error("hold_s", "a hold exercise needs a hold time above 0")

    r = f.table("form")
    form = FormRules(
        min_rep_s=r.number("min_rep_s", None, low=0, high=60),
        knee_still_deg=r.number("knee_still_deg", None, low=1, high=90),
        heel_down_pct=r.number("heel_down_pct", None, low=1, high=100),
        max_knee_bend_deg=r.number("max_knee_bend_deg", None, low=5, high=120),
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
        instructions=steps,
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
    except OSError as exc:
        raise ExerciseError(path.name, "(file)", f"cannot be read: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ExerciseError(path.name, "(file)", "is not UTF-8 text") from None
    return parse_exercise(data, path.name)


@dataclass(frozen=True, slots=True)
class ExerciseLibrary:
    """The good definitions in a folder plus one problem per bad file.

    One typo in one file must not hide the other exercises, nor be hidden itself: callers
    show `problems` (the CLI as warnings, the library page as a note per file).
    """

    directory: Path
    label: str
    """How messages name the folder (says when it came from ``COACH_EXERCISES_DIR``)."""
    exercises: dict[str, Exercise]
    problems: tuple[ExerciseError, ...]

    def usable(self) -> dict[str, Exercise]:
        """The good exercises; an `ExerciseError` naming the folder when there is none."""
        if self.exercises:
            return self.exercises
        count = len(self.problems)
        if count:
            files = (
                "its one definition file has a problem"
                if count == 1
                else (f"all {count} definition files have problems")
            )
            raise ExerciseError(self.label, "", f"no usable exercise definitions: {files}")
        raise ExerciseError(self.label, "", "no exercise definitions (*.toml files) in this folder")


def exercises_dir() -> Path:
    """The folder to load: ``COACH_EXERCISES_DIR`` if set, else the built-in one."""
    value = os.environ.get(ENV_EXERCISES_DIR, "").strip()
    return Path(value).expanduser() if value else EXERCISES_DIR


def _definition_files(directory: Path, label: str) -> list[Path]:
    """The folder's ``*.toml`` files by name; hidden files (editor leftovers) are skipped.

    Lists the folder itself (``Path.glob`` silently yields nothing for a folder it
    cannot read), so a wrong or unreadable folder is an error naming it (`label`).
    """
    try:
        entries = list(directory.iterdir())
    except FileNotFoundError:
        raise ExerciseError(label, "", "exercise folder not found") from None
    except NotADirectoryError:
        raise ExerciseError(label, "", "is a file, not a folder of exercise definitions") from None
    except OSError as exc:
        raise ExerciseError(
            label, "", f"exercise folder cannot be read: {exc.strerror or exc}"
        ) from None
    return sorted(
        (p for p in entries if p.suffix == ".toml" and not p.name.startswith(".")),
        key=lambda p: p.name,
    )


def load_library(directory: Path | None = None) -> ExerciseLibrary:
    """Every definition in a folder (default: `exercises_dir()`), good ones by id.

    A bad file, or one repeating an id already loaded from an earlier file (by name),
    becomes a problem and is skipped; a missing or unreadable folder raises `ExerciseError`.
    """
    folder = exercises_dir() if directory is None else directory
    label = str(folder)
    if directory is None and folder != EXERCISES_DIR:
        label = f"{folder} (set by {ENV_EXERCISES_DIR})"
    exercises: dict[str, Exercise] = {}
    problems: list[ExerciseError] = []
    for path in _definition_files(folder, label):
        try:
            ex = load_exercise(path)
        except ExerciseError as exc:
            problems.append(exc)
            continue
        if ex.id in exercises:
            first = exercises[ex.id].source
            problems.append(
                ExerciseError(path.name, "id", f"{ex.id!r} is already defined in {first}")
            )
            continue
        exercises[ex.id] = ex
    return ExerciseLibrary(folder, label, exercises, tuple(problems))


def load_exercises(directory: Path | None = None) -> dict[str, Exercise]:
    """The good definitions by id, in file-name order; each bad file is logged and skipped.

    Raises `ExerciseError` only when none is usable. Callers that show problems to a
    person (the CLI's list, the library page) use `load_library` instead.
    """
    library = load_library(directory)
    for problem in library.problems:
        log.warning("skipped an exercise definition: %s", problem)
    return library.usable()
