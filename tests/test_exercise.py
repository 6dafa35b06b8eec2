"""Exercise definitions load, validate and fail with file/field/problem messages."""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from coach import cli
from coach.exercise import (
    ENV_EXERCISES_DIR,
    EXERCISES_DIR,
    Direction,
    ExerciseError,
    Mode,
    load_exercise,
    load_exercises,
    load_library,
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
        (('signal = "toe_lift"', 'signal = "elbow"'), "signal", "not one of"),
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


def _long(n: int) -> str:
    return "x" * n


def _steps(*steps: str) -> str:
    return "instructions = [" + ", ".join(f'"{s}"' for s in steps) + "]"


_STEPS = _base()[_base().index("instructions = [") : _base().index("]\n") + 1]


@pytest.mark.parametrize(
    ("change", "field", "problem"),
    [
        # TOML allows nan and inf: each number must be finite, or it ends up in reports.
        (("enter = 5.0", "enter = nan"), "thresholds.enter", "must be a finite number, got nan"),
        (("target = 8.0", "target = inf"), "thresholds.target", "finite number, got inf"),
        (("exit = 1.5", "exit = -nan"), "thresholds.exit", "finite number, got nan"),
        (("hold_s = 5", "hold_s = nan"), "dose.hold_s", "finite number, got nan"),
        (("rest_s = 60", "rest_s = -inf"), "dose.rest_s", "finite number, got -inf"),
        (("min_rep_s = 1.0", "min_rep_s = nan"), "form.min_rep_s", "finite number"),
        (("min_up_s = 0.15", "min_up_s = inf"), "thresholds.min_up_s", "finite number"),
        # Counts are TOML integers: 2.5 (or 2.0) is not silently cut to 2.
        (("sets = 3", "sets = 2.5"), "dose.sets", "expected a whole number, got 2.5"),
        (("reps = 10", "reps = 10.0"), "dose.reps", "expected a whole number, got 10.0"),
        (("sets = 3", "sets = true"), "dose.sets", "expected a whole number, got True"),
        (("sets = 3", "sets = nan"), "dose.sets", "expected a whole number, got nan"),
        (("reps = 10", f"reps = {10**30}"), "dose.reps", "outside the allowed range 1..200"),
        (("enter = 5.0", "enter = 1e400"), "thresholds.enter", "finite number, got inf"),
        # Texts: length limits and no control characters in one-line fields.
        (('name = "Active', f'name = "{_long(81)}" #'), "name", "81 characters long; at most 80"),
        (('name = "Active', 'name = "Tab\there" #'), "name", "contains a tab"),
        (('name = "Active', r'name = "Two\nlines" #'), "name", "contains a line break"),
        (('name = "Active', r'name = "Bell\u0007" #'), "name", "control character U+0007"),
        (('name = "Active', r'name = "Sep\u2028x" #'), "name", "control character U+2028"),
        (('id = "ankle_dorsiflexion"', f'id = "{_long(41)}"'), "id", "at most 40"),
        (('id = "ankle_dorsiflexion"', r'id = "ank\nle"'), "id", "contains a line break"),
        (('id = "ankle_dorsiflexion"', 'id = "   "'), "id", "must not be empty"),
        (('purpose = "Strengthens', f'purpose = "{_long(501)}" #'), "purpose", "at most 500"),
        (('camera = "Sit', 'camera = "Tab\tin it" #'), "camera", "contains a tab"),
        (("frequency = ", f'frequency = "{_long(121)}" #'), "dose.frequency", "at most 120"),
        (('frequency = "daily', r'frequency = "dai\nly'), "dose.frequency", "a line break"),
        ((_STEPS, _steps(*["Lift."] * 21)), "instructions", "has 21 steps; at most 20"),
        ((_STEPS, _steps("Sit.", _long(301))), "instructions", "step 2 is 301 characters"),
        ((_STEPS, _steps("Sit.", "Lift\\tup")), "instructions", "step 2 contains a tab"),
        ((_STEPS, _steps("Sit.", "  ")), "instructions", "step 2 must not be empty"),
        ((_STEPS, "instructions = [1]"), "instructions", "step 1: expected text, got 1"),
        ((_STEPS, "instructions = []"), "instructions", "at least one step"),
        ((_STEPS, 'instructions = "Sit."'), "instructions", "expected a list of steps"),
        (('mode = "reps"', f'mode = "{_long(500)}"'), "mode", "at most 40"),
    ],
)
def test_bad_values_name_file_field_and_problem(
    tmp_path: Path, change: tuple[str, str], field: str, problem: str
) -> None:
    assert change[0] in _base()
    text = _base().replace(*change, 1)
    with pytest.raises(ExerciseError) as info:
        load_exercise(_write(tmp_path, text))
    msg = str(info.value)
    assert msg.startswith(f"bad.toml: field '{field}': "), msg
    assert problem in msg and "\n" not in msg and len(msg) < 200, msg


def test_limits_and_line_breaks_that_are_allowed(tmp_path: Path) -> None:
    text = (
        _base()
        .replace('name = "Active', f'name = "{_long(80)}" #')
        .replace('purpose = "Strengthens', 'purpose = """Line one.\r\nLine two.""" #')
        .replace(_STEPS, _steps(*[_long(300)] * 20))
        .replace("sets = 3", "sets = 20")
        .replace("hold_s = 5", "hold_s = 7.5")
    )
    ex = load_exercise(_write(tmp_path, text))
    assert ex.name == _long(80) and ex.purpose == "Line one.\nLine two."
    assert len(ex.instructions) == 20 and ex.dose.sets == 20 and ex.dose.hold_s == 7.5
    assert isinstance(ex.dose.sets, int) and isinstance(ex.dose.reps, int)


def test_duplicate_id_is_a_problem_for_the_second_file_only(tmp_path: Path) -> None:
    _write(tmp_path, _base(), "a.toml")
    _write(tmp_path, _base().replace('name = "Active', 'name = "Copy #'), "b.toml")
    library = load_library(tmp_path)
    assert list(library.exercises) == ["ankle_dorsiflexion"]
    assert library.exercises["ankle_dorsiflexion"].source == "a.toml"
    [problem] = library.problems
    assert str(problem) == "b.toml: field 'id': 'ankle_dorsiflexion' is already defined in a.toml"


# -- a folder with good and bad files --------------------------------------------------------


def _rom() -> str:
    return (EXERCISES_DIR / "range_of_motion.toml").read_text(encoding="utf-8")


@pytest.fixture
def mixed(tmp_path: Path) -> Path:
    """Two good files, three bad ones (value, TOML syntax, encoding) and files to ignore."""
    _write(tmp_path, _base(), "a_dorsi.toml")
    _write(tmp_path, _base().replace("sets = 3", "sets = 2.5"), "b_sets.toml")
    _write(tmp_path, "id = [unclosed", "c_syntax.toml")
    (tmp_path / "d_latin1.toml").write_bytes(_rom().replace("pumps", "pümps").encode("latin-1"))
    _write(tmp_path, _rom(), "e_rom.toml")
    _write(tmp_path, "broken", ".#a_dorsi.toml")  # an editor's lock file
    _write(tmp_path, "notes", "README.md")
    return tmp_path


MIXED_PROBLEMS = [
    ("b_sets.toml", "dose.sets", "expected a whole number, got 2.5"),
    ("c_syntax.toml", "(file)", "not valid TOML"),
    ("d_latin1.toml", "(file)", "is not UTF-8 text"),
]


def test_one_bad_file_hides_nothing(mixed: Path) -> None:
    library = load_library(mixed)
    assert list(library.exercises) == ["ankle_dorsiflexion", "range_of_motion"]
    got = [(p.source, p.field, p.problem) for p in library.problems]
    assert [g[:2] for g in got] == [m[:2] for m in MIXED_PROBLEMS]
    assert all(m[2] in g[2] for g, m in zip(got, MIXED_PROBLEMS, strict=True))
    # load_exercises (the analysis path) keeps working with the good ones.
    assert list(load_exercises(mixed)) == ["ankle_dorsiflexion", "range_of_motion"]


def test_no_usable_definition_is_one_error_naming_the_folder(tmp_path: Path) -> None:
    with pytest.raises(ExerciseError, match=r"no exercise definitions \(\*\.toml"):
        load_exercises(tmp_path)
    _write(tmp_path, "id = [unclosed", "bad.toml")
    with pytest.raises(ExerciseError) as info:
        load_exercises(tmp_path)
    assert str(info.value) == (
        f"{tmp_path}: no usable exercise definitions: its one definition file has a problem"
    )


@pytest.fixture
def env_dir(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    monkeypatch.delenv(ENV_EXERCISES_DIR, raising=False)
    yield monkeypatch


def test_env_folder_replaces_the_built_in_one(tmp_path: Path, env_dir: pytest.MonkeyPatch) -> None:
    _write(tmp_path, _rom(), "only.toml")
    assert set(load_exercises()) > {"range_of_motion"}
    env_dir.setenv(ENV_EXERCISES_DIR, str(tmp_path))
    assert list(load_exercises()) == ["range_of_motion"]
    assert load_library().directory == tmp_path


@pytest.mark.parametrize(
    ("make", "problem"),
    [
        (lambda p: p / "missing", "exercise folder not found"),
        (lambda p: _write(p, _rom(), "a.toml"), "is a file, not a folder of exercise definitions"),
    ],
)
def test_a_wrong_env_folder_is_a_clear_error(
    tmp_path: Path, env_dir: pytest.MonkeyPatch, make: object, problem: str
) -> None:
    folder = make(tmp_path)  # type: ignore[operator]
    env_dir.setenv(ENV_EXERCISES_DIR, str(folder))
    with pytest.raises(ExerciseError) as info:
        load_library()
    assert str(info.value) == f"{folder} (set by {ENV_EXERCISES_DIR}): {problem}"


def test_an_unreadable_folder_is_an_error_not_an_empty_library(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Path.glob would quietly find nothing in a folder it may not list."""
    _write(tmp_path, _rom(), "a.toml")

    def refuse(self: Path) -> Iterator[Path]:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "iterdir", refuse)
    with pytest.raises(ExerciseError) as info:
        load_library(tmp_path)
    assert str(info.value) == f"{tmp_path}: exercise folder cannot be read: Permission denied"


# -- the callers: CLI list, CLI analyze, library page ----------------------------------------


def test_cli_lists_good_exercises_and_warns_once_per_bad_file(
    mixed: Path, env_dir: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    env_dir.setenv(ENV_EXERCISES_DIR, str(mixed))
    assert cli.main(["exercises"]) == 0
    out, err = capsys.readouterr()
    assert [line.split()[0] for line in out.splitlines()] == [
        "ankle_dorsiflexion",
        "range_of_motion",
    ]
    lines = err.splitlines()
    assert len(lines) == len(MIXED_PROBLEMS)
    for line, (source, field, problem) in zip(lines, MIXED_PROBLEMS, strict=True):
        assert line.startswith(f"warning: {source}: field '{field}': {problem}"), line


def test_cli_with_no_good_exercise_exits_2_with_one_error_line(
    tmp_path: Path, env_dir: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _write(tmp_path, _base().replace("sets = 3", "sets = 2.5"))
    env_dir.setenv(ENV_EXERCISES_DIR, str(tmp_path))
    assert cli.main(["exercises"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.splitlines() == [
        "warning: bad.toml: field 'dose.sets': expected a whole number, got 2.5",
        f"error: {tmp_path} (set by {ENV_EXERCISES_DIR}): no usable exercise definitions: "
        "its one definition file has a problem",
    ]
    env_dir.setenv(ENV_EXERCISES_DIR, str(tmp_path / "nope"))
    assert cli.main(["exercises"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"error: {tmp_path / 'nope'} (set by {ENV_EXERCISES_DIR}): exercise folder not found"
    ]


def test_cli_analyze_unknown_exercise_still_lists_the_good_ones(
    mixed: Path, env_dir: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    env_dir.setenv(ENV_EXERCISES_DIR, str(mixed))
    assert cli.main(["analyze", str(mixed / "clip.mp4"), "--exercise", "nope"]) == 2
    err = capsys.readouterr().err
    assert (
        "error: unknown exercise 'nope'; choose one of: ankle_dorsiflexion, range_of_motion"
        in err.splitlines()
    )
    assert "Traceback" not in err


def test_library_page_shows_one_plain_warning_per_bad_file(
    mixed: Path, env_dir: pytest.MonkeyPatch
) -> None:
    from streamlit.testing.v1 import AppTest

    from coach.ui import state

    env_dir.setenv(ENV_EXERCISES_DIR, str(mixed))
    state._load_library.clear()  # cached per server: drop the built-in library
    try:
        at = AppTest.from_file(str(Path(__file__).parents[1] / "app.py"), default_timeout=60)
        at.run()
        at.switch_page("coach/ui/pages/library.py").run()
        assert not at.exception and not at.error
        assert len(at.expander) == 2
        warnings = [w.value for w in at.warning]
        assert len(warnings) == len(MIXED_PROBLEMS)
        for text, (source, _, _) in zip(warnings, MIXED_PROBLEMS, strict=True):
            escaped = source.replace("_", "\\_").replace(".", "\\.")
            assert text.startswith(f"The exercise file **{escaped}** was not loaded"), text
            assert "Traceback" not in text and "Error" not in text
        assert "In **dose\\.sets**: expected a whole number, got 2\\.5." in warnings[0]
    finally:
        state._load_library.clear()
