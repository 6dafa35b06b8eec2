"""Exercise library: what each exercise is for, how to set up the camera, how to do it, dose."""

from __future__ import annotations

import streamlit as st

from coach.exercise import Exercise, ExerciseError, Mode, Signal
from coach.ui.common import SELECTED_KEY, dose_text, md_escape
from coach.ui.state import get_exercise_problems, get_exercises

CATEGORY_NAMES = {
    "range_of_motion": "Range of motion",
    "strength": "Strength",
    "stretch": "Stretch",
    "dexterity": "Foot control",
    "gait": "Walking",
}
POSITION_NAMES = {"seated": "Seated", "standing": "Standing", "long_sitting": "Sitting, leg out"}


def _measured(ex: Exercise) -> str:
    c = ex.counter
    up = ex.direction.value == "up"
    if ex.signal is Signal.ANKLE:
        what = "the ankle angle (toes towards the shin)"
        if not up:
            what = "the ankle angle (toes pointing away)"
        unit = "°"
    elif ex.signal is Signal.TOE_LIFT:
        what = (
            "how far your toes rise above your heel"
            if up
            else "how far your heel rises above your toes"
        )
        what, unit = f"{what}, in % of your shin length", "%"
    else:
        part = {
            Signal.HEEL_HEIGHT: "heel",
            Signal.TOE_HEIGHT: "toes",
            Signal.FOOT_HEIGHT: "foot",
        }[ex.signal]
        what, unit = f"how high the {part} lifts, in % of your shin length", "%"
    counted = "a hold counts" if ex.mode is Mode.HOLD else "a rep counts"
    if c.min_range is not None:
        return (
            f"The coach follows {what}. {counted.capitalize()} relative to your own "
            f"movement, so it works whatever the camera's height or angle; movements "
            f"smaller than {c.min_range:.0f}{unit} are not counted. Aim for "
            f"{c.target:.0f}{unit} or more."
        )
    return (
        f"The coach follows {what}, from your neutral. {counted.capitalize()} once you "
        f"pass {c.enter:.0f}{unit}; aim for {c.target:.0f}{unit} or more."
    )


def problem_text(problem: ExerciseError) -> str:
    """A skipped definition file in plain words for the therapist (file text escaped)."""
    what = md_escape(problem.problem)
    if problem.field not in ("", "(file)"):
        detail = f"In **{md_escape(problem.field)}**: {what}"
    else:
        detail = what[:1].upper() + what[1:]
    return (
        f"The exercise file **{md_escape(problem.source)}** was not loaded, so its exercise "
        f"is not listed. {detail}. Correct the file, then restart the app to load it."
    )


def _start(ex_id: str) -> None:
    st.session_state[SELECTED_KEY] = ex_id


def render() -> None:
    st.title("Exercise library")
    st.write(
        "The exercises in your programme. Each one says what it is for, how to place the "
        "camera and how to do it. The dose shown is the default; your therapist may set "
        "a different plan."
    )
    for problem in get_exercise_problems():
        st.warning(problem_text(problem))
    exercises = get_exercises()
    for ex in exercises.values():
        category = CATEGORY_NAMES.get(ex.category, ex.category)
        position = POSITION_NAMES.get(ex.position, ex.position)
        with st.expander(f"**{ex.name}** · {category} · {position}"):
            st.markdown(f"**What it is for.** {ex.purpose}")
            st.markdown(f"**Camera set-up.** {ex.camera}")
            st.markdown("**How to do it.**")
            st.markdown("\n".join(f"{i}. {s}" for i, s in enumerate(ex.instructions, 1)))
            st.markdown(f"**Default dose.** {dose_text(ex)}")
            st.caption(_measured(ex))
            if st.button("Do this exercise now", key=f"coach_lib_start_{ex.id}"):
                _start(ex.id)
                st.switch_page("coach/ui/pages/exercise.py")
