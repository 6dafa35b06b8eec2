"""Exercise definitions load, validate and fail with file/field/problem messages."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from coach.exercise import (
    EXERCISES_DIR,
    Direction,
    ExerciseError,
    Mode,
    load_exercise,
    load_exercises,
)

SEED = {
    "range_of_motion",
    "ankle_dorsiflexion",
    "heel_raise_standing",
    "heel_raise_seated",
    "towel_stretch",
    "calf_stretch",
    "marble_pickup",
    "ball_lift",
}


def test_all_seed_exercises_load_with_clinical_doses() -> None:
    exs = load_exercises()
    assert set(exs) >= SEED
    dorsi = exs["ankle_dorsiflexion"]
    assert (dorsi.dose.sets, dorsi.dose.reps) == (3, 10) and 5 <= dorsi.dose.hold_s <= 10
    assert exs["heel_raise_standing"].direction is Direction.DOWN
    assert exs["towel_stretch"].mode is Mode.HOLD and 20 <= exs["towel_stretch"].dose.hold_s <= 30
    assert (exs["marble_pickup"].dose.sets, exs["marble_pickup"].dose.reps) == (2, 20)
    assert (exs["ball_lift"].dose.sets, exs["ball_lift"].dose.reps) == (3, 10)
    for ex in exs.values():
        assert ex.instructions and ex.camera and ex.purpose


def _write(tmp_path: Path, text: str, name: str = "bad.toml") -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def _base() -> str:
    return (EXERCISES_DIR / "ankle_dorsiflexion.toml").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("change", "field", "problem"),
    [
        (('signal = "ankle_deg"', 'signal = "elbow"'), "signal", "not one of"),
        (("enter = 5.0", 'enter = "five"'), "thresholds.enter", "expected a number"),
        (("exit = 1.5", "exit = 9.0"), "thresholds.exit", "must be below enter"),
        (("reps = 10", "reps = 0"), "dose.reps", "outside the allowed range"),
        (('mode = "reps"', 'mode = "reps"\ncolour = "red"'), "colour", "unknown field"),
        (('id = "ankle_dorsiflexion"', 'id = "Ankle Dorsi!"'), "id", "lower_case"),
    ],
)
def test_malformed_definition_names_file_field_and_problem(
    tmp_path: Path, change: tuple[str, str], field: str, problem: str
) -> None:
    text = _base().replace(*change, 1)
    with pytest.raises(ExerciseError) as info:
        load_exercise(_write(tmp_path, text))
    msg = str(info.value)
    assert "bad.toml" in msg and f"'{field}'" in msg and problem in msg


def test_missing_field_and_bad_toml(tmp_path: Path) -> None:
    data = tomllib.loads(_base())
    text = "\n".join(line for line in _base().splitlines() if not line.startswith("name ="))
    with pytest.raises(ExerciseError, match="'name': missing"):
        load_exercise(_write(tmp_path, text))
    with pytest.raises(ExerciseError, match="not valid TOML"):
        load_exercise(_write(tmp_path, "id = [unclosed"))
    assert data["id"] == "ankle_dorsiflexion"


def test_duplicate_ids_rejected(tmp_path: Path) -> None:
    _write(tmp_path, _base(), "a.toml")
    _write(tmp_path, _base(), "b.toml")
    with pytest.raises(ExerciseError, match=r"already defined in a\.toml"):
        load_exercises(tmp_path)
