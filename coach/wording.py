"""Words at the edge: the sentences for the core's cue, issue and prompt ids.

The core (feedback, the live session) emits ids with parameters; the overlay, the
pages, the spoken audio, the JSON report's `message` and the PDF render them here, so a
translation or a rewording is one file and stored data never holds a sentence.
"""

from __future__ import annotations

from collections.abc import Mapping

from coach.camera_view import ViewIssue
from coach.feedback import CountingIssue, Cue

Params = Mapping[str, float | str]

VIEW_CUES: dict[str, str] = {
    ViewIssue.NO_PERSON: "I can't see you. Step into the camera's view.",
    ViewIssue.MOVE_BACK: "Move back so your whole leg, from hip to toes, is visible.",
    ViewIssue.FOOT_OUT_OF_VIEW: (
        "Your foot is out of view. Make sure the camera sees your whole foot."
    ),
    ViewIssue.OTHER_LEG_NEAREST: (
        "Turn round so the leg you are exercising is the one nearest the camera."
    ),
    ViewIssue.NOT_SIDE_ON: (
        "Turn side-on to the camera (or up to 45 degrees), exercising leg nearest to it."
    ),
}

COUNTING_CUES: dict[str, str] = {
    CountingIssue.KNEES_BENT: (
        "Keep your knees straight: rise up onto your toes, do not bend down."
    ),
    CountingIssue.MOVEMENT_TOO_SMALL: (
        "I can see a small movement, too small to count: move further, or turn the "
        "camera so it sees your foot from the side."
    ),
    CountingIssue.NOT_BACK_TO_REST: "Go all the way back to where you started to finish the rep.",
}

CUE_LABELS: dict[str, str] = {
    ViewIssue.NO_PERSON: "Out of the camera's view",
    ViewIssue.MOVE_BACK: "Leg not wholly in view",
    ViewIssue.FOOT_OUT_OF_VIEW: "Foot out of view",
    ViewIssue.OTHER_LEG_NEAREST: "Wrong leg nearest the camera",
    ViewIssue.NOT_SIDE_ON: "Not side-on to the camera",
    CountingIssue.KNEES_BENT: "Knees bent (squatting)",
    CountingIssue.MOVEMENT_TOO_SMALL: "Movement too small to count",
    CountingIssue.NOT_BACK_TO_REST: "Not back to rest",
    "knee_moving": "Knee moving",
    "heel_lifting": "Heel lifting",
    "not_far_enough": "Not far enough",
    "hold_longer": "Hold too short",
    "too_fast": "Too fast",
    "stretch_further": "Stretch not far enough",
}
"""Short names for a cue id, for the dashboard and the report's tables."""


def _amount(params: Params) -> str:
    short, unit = params.get("short"), params.get("unit", "")
    if isinstance(short, int | float):
        return f"about {max(short, 1):.0f}{'°' if unit == '°' else ' ' + str(unit)}"
    return "a little"


def cue_sentence(cue_id: str, params: Params | None = None) -> str:
    """What the coach says for a cue id with its parameters."""
    p = params or {}
    if cue_id in VIEW_CUES:
        return VIEW_CUES[cue_id]
    if cue_id in COUNTING_CUES:
        return COUNTING_CUES[cue_id]
    if cue_id == "knee_moving":
        if p.get("position") == "standing":
            return "Keep your knees straight."
        return "Keep your knee still: move only your ankle."
    if cue_id == "heel_lifting":
        return "Keep your heel on the floor."
    if cue_id == "not_far_enough":
        if p.get("when") == "attempt":
            return f"Almost! Go {_amount(p)} further for it to count."
        return f"Good. Try to go {_amount(p)} further next time."
    if cue_id == "hold_longer":
        return (
            f"Hold at the top for {float(p.get('need_s', 0)):.0f} seconds "
            f"(that was {float(p.get('held_s', 0)):.0f})."
        )
    if cue_id == "too_fast":
        return "Slow down: move smoothly, up and down."
    if cue_id == "stretch_further":
        return "Stretch a little further, gently."
    return cue_label(cue_id)


def cue_text(cue: Cue) -> str:
    return cue_sentence(cue.id, cue.params)


def cue_label(cue_id: str) -> str:
    """A short name for a cue id (an unknown id is shown readably, never raw)."""
    return CUE_LABELS.get(cue_id) or cue_id.replace("_", " ").capitalize()


PROMPTS: dict[str, str] = {
    "press_start": "Press START and let the browser use your camera.",
    "too_dark": "It is too dark for the camera to see your leg. Turn on a light or face a window.",
    "view_ready": "The camera can see your leg well.",
    "view_hold_still": "Good, the camera can see your leg. Stay like that.",
    "calibrate": "Relax your foot and keep it still for a moment.",
    "calibrate_now": "Now relax your foot and keep it still.",
    "last_set_done": "Well done! That was your last set.",
    "all_done": "All sets done - well done! Press Stop to see your summary.",
}


def message_sentence(message: tuple[str, str]) -> str:
    """A therapist's message on the patient's screen: (who, what)."""
    return prompt_sentence("therapist_message", {"name": message[0], "text": message[1]})


def prompt_sentence(prompt_id: str, params: Params | None = None) -> str:
    """The live session's prompts and announcements (set-up, calibration, sets, rests)."""
    p = params or {}
    if prompt_id in PROMPTS:
        return PROMPTS[prompt_id]
    if prompt_id in VIEW_CUES:
        return VIEW_CUES[prompt_id]
    if prompt_id == "countdown":
        return f"Get into place: starting in {int(float(p.get('seconds', 0)))} s."
    if prompt_id == "countdown_tick":
        return f"{int(float(p.get('seconds', 0)))}"
    if prompt_id == "rep_number":
        return f"{int(float(p.get('number', 0)))}"
    if prompt_id == "start":
        first = "Calibrated. " if p.get("calibrated") else ""
        return f"{first}Let's start: {p.get('exercise', 'your exercise')}."
    if prompt_id == "set_done":
        return f"Set {p.get('set_no')} done. Rest for {float(p.get('rest_s', 0)):.0f} seconds."
    if prompt_id == "start_set":
        return f"Start set {p.get('set_no')}."
    if prompt_id == "therapist_message":
        name = str(p.get("name") or "Your therapist")
        return f"{name} says: {p.get('text', '')}"
    if prompt_id == "dose_changed":
        name = str(p.get("name") or "Your therapist")
        hold = float(p.get("hold_s", 0))
        held = f", holding {hold:.0f} s" if hold > 0 else ""
        return (
            f"{name} changed your plan: {int(float(p.get('sets', 0)))} sets of "
            f"{int(float(p.get('reps', 0)))}{held}."
        )
    if prompt_id == "resting":
        return (
            f"Rest. Set {p.get('next_set')} of {p.get('sets')} starts in "
            f"{float(p.get('left_s', 0)):.0f} s."
        )
    if prompt_id == "to_go":
        left = int(float(p.get("left", 0)))
        what = str(p.get("what", "rep")) + ("" if left == 1 else "s")
        return f"Set {p.get('set_no')} of {p.get('sets')}: {left} {what} to go."
    return ""
