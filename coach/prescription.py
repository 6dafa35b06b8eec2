"""A therapist's prescription and the one resolver from (prescription, definition) to the
exercise a patient actually does.

The exercise definition (TOML) carries the guide's default dose; a prescription
overrides it per patient. Everything downstream (the live session, the plan page, the
counter's hold time, reports) takes the *effective* exercise from `effective_exercise`
and never reads a dose anywhere else. Doses are validated when a `Prescription` is made,
with messages that name the field (as `PoseLandmarkerOptions` checks at creation). Pure.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import datetime

from coach.exercise import Dose, Exercise

MAX_SETS = 10
MAX_REPS = 50
MAX_HOLD_S = 120.0
MAX_REST_S = 600.0
MAX_NOTES = 2000
SIDES = ("left", "right")


class DoseError(ValueError):
    """A dose or target that cannot be prescribed; `field` names which one."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field, self.problem = field, problem


def _whole(field: str, value: object, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise DoseError(field, "must be a whole number")
    if isinstance(value, float) and (not math.isfinite(value) or not value.is_integer()):
        raise DoseError(field, "must be a whole number")
    number = int(value)
    if not low <= number <= high:
        raise DoseError(field, f"must be between {low} and {high} (got {number})")
    return number


def _seconds(field: str, value: object, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise DoseError(field, "must be a number of seconds")
    seconds = float(value)
    if not math.isfinite(seconds) or not 0.0 <= seconds <= high:
        raise DoseError(field, f"must be between 0 and {high:.0f} seconds (got {value})")
    return seconds


def clean_text(field: str, value: str, limit: int) -> str:
    """Free text from a form: stripped, control characters refused, length limited."""
    text = value.replace("\r\n", "\n").strip()
    if any(ord(c) < 32 and c not in "\n\t" for c in text) or "\x7f" in text:
        raise DoseError(field, "contains control characters")
    if len(text) > limit:
        raise DoseError(field, f"is too long ({len(text)} characters, at most {limit})")
    return text


@dataclass(frozen=True, slots=True)
class Prescription:
    """One exercise of a patient's plan, as the therapist set it."""

    exercise_id: str
    sets: int
    reps: int
    hold_s: float | None = None
    """None: the definition's hold time."""
    rest_s: float | None = None
    per_week: int = 7
    side: str | None = None
    """The affected leg to exercise ("left"/"right"); None: the patient's affected side."""
    target: float | None = None
    """The range to reach, in the exercise's unit (None: the definition's target)."""
    notes: str = ""
    id: str | None = None
    set_by: str | None = None
    """The therapist's email."""
    set_at: datetime | None = None
    active: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "sets", _whole("sets", self.sets, 1, MAX_SETS))
        object.__setattr__(self, "reps", _whole("reps", self.reps, 1, MAX_REPS))
        object.__setattr__(self, "per_week", _whole("per_week", self.per_week, 1, 14))
        if self.hold_s is not None:
            object.__setattr__(self, "hold_s", _seconds("hold_s", self.hold_s, MAX_HOLD_S))
        if self.rest_s is not None:
            object.__setattr__(self, "rest_s", _seconds("rest_s", self.rest_s, MAX_REST_S))
        if self.side is not None and self.side not in SIDES:
            raise DoseError("side", "must be left or right")
        if self.target is not None:
            t = self.target
            if isinstance(t, bool) or not isinstance(t, int | float) or not math.isfinite(t):
                raise DoseError("target", "must be a number")
            if not 1.0 <= abs(float(t)) <= 90.0:
                raise DoseError("target", f"must be between 1 and 90 (got {t})")
        object.__setattr__(self, "notes", clean_text("notes", self.notes, MAX_NOTES))

    def check_against(self, exercise: Exercise) -> None:
        """Raise `DoseError` if this dose does not fit the exercise (a hold for a hold)."""
        if exercise.id != self.exercise_id:
            raise DoseError("exercise", f"is {exercise.id}, not {self.exercise_id}")
        hold = self.hold_s if self.hold_s is not None else exercise.dose.hold_s
        if exercise.mode.value == "hold" and hold <= 0:
            raise DoseError("hold_s", f"{exercise.name} is a hold: give a hold time above 0")


def effective_exercise(exercise: Exercise, prescription: Prescription | None) -> Exercise:
    """The exercise as this patient does it: the definition with the prescription's dose
    and target. The one place a dose is resolved."""
    if prescription is None:
        return exercise
    prescription.check_against(exercise)
    base = exercise.dose
    dose = Dose(
        sets=prescription.sets,
        reps=prescription.reps,
        hold_s=base.hold_s if prescription.hold_s is None else prescription.hold_s,
        rest_s=base.rest_s if prescription.rest_s is None else prescription.rest_s,
        frequency=f"{prescription.per_week} days a week",
    )
    counter = exercise.counter
    if prescription.target is not None:
        counter = replace(counter, target=float(prescription.target))
    return replace(exercise, dose=dose, counter=counter)
