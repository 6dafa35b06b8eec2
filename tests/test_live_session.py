"""The live session without a browser: set-up check, calibration, sets and rests, log, audio."""

from __future__ import annotations

import csv
import io
import itertools
import json
import math
import random
import tomllib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from typing import Any

import numpy as np
import pytest

from coach.camera_view import ViewCheck, ViewIssue
from coach.events import (
    Announcement,
    Calibrated,
    CueGiven,
    RepCompleted,
    Sampled,
    StageChanged,
)
from coach.exercise import EXERCISES_DIR, Exercise, load_exercises, parse_exercise
from coach.landmarks import Pose
from coach.live_session import (
    LiveSession,
    SessionClock,
    SessionPlan,
    SetupCheck,
    Stage,
    frame_brightness,
)
from coach.records import reps_csv
from coach.speech import AudioQueue
from coach.wording import PROMPTS, cue_sentence, prompt_sentence
from tests.conftest import ankle_trace, side_view_pose

EXS = load_exercises()
ROM = EXS["range_of_motion"]


def with_dose(ex: Exercise, **changes: Any) -> Exercise:
    return replace(ex, dose=replace(ex.dose, **changes))


def stream(
    duration_s: float,
    *,
    fps: float = 30.0,
    angle: Callable[[float], float] = ankle_trace,
    pose_fn: Callable[..., Pose | None] = side_view_pose,
    start_s: float = 0.0,
    drop: float = 0.0,
    seed: int = 1,
) -> Iterator[tuple[float, Pose | None]]:
    rng = random.Random(seed)
    n = int(duration_s * fps)
    for i in range(n):
        t = start_s + i / fps
        if drop and rng.random() < drop:
            continue
        yield t, pose_fn(angle(t - start_s))


def run(
    session: LiveSession, frames: Iterator[tuple[float, Pose | None]], light: float = 120
) -> list[tuple[float, Stage]]:
    stages: list[tuple[float, Stage]] = []
    for t, pose in frames:
        session.process_pose(pose, t, light)
        if not stages or stages[-1][1] is not session.stage:
            stages.append((t, session.stage))
    return stages


# -- plan -----------------------------------------------------------------------------------


def test_plan_sets_rest_and_done() -> None:
    plan = SessionPlan(sets=3, reps_per_set=2, rest_s=10.0)
    s = plan.state([], 0.0)
    assert (s.set_no, s.reps_in_set, s.resting, s.done) == (1, 0, False, False)
    s = plan.state([5.0], 6.0)
    assert (s.set_no, s.reps_in_set) == (1, 1)
    s = plan.state([5.0, 8.0], 9.0)
    assert s.resting and s.set_no == 1 and s.rest_left_s == pytest.approx(9.0)
    s = plan.state([5.0, 8.0], 18.5)
    assert not s.resting and (s.set_no, s.reps_in_set) == (2, 0)
    # A rep during the rest starts the next set early.
    s = plan.state([5.0, 8.0, 12.0], 12.5)
    assert not s.resting and (s.set_no, s.reps_in_set) == (2, 1)
    s = plan.state([1, 2, 3, 4, 5, 6], 7.0)
    assert s.done and s.set_no == 3 and not s.resting
    # Extra reps go on the last set; the plan stays done.
    s = plan.state([1, 2, 3, 4, 5, 6, 7], 8.0)
    assert s.done and s.reps_in_set == 3


def test_plan_from_exercise_dose() -> None:
    plan = SessionPlan.from_exercise(EXS["ankle_dorsiflexion"])
    dose = EXS["ankle_dorsiflexion"].dose
    assert (plan.sets, plan.reps_per_set, plan.rest_s) == (dose.sets, dose.reps, dose.rest_s)
    assert plan.set_of_next_rep(0) == 1
    assert plan.set_of_next_rep(dose.reps) == min(2, dose.sets)


# -- set-up check ---------------------------------------------------------------------------


def test_setup_check_needs_light_and_a_steady_usable_view() -> None:
    check = SetupCheck(steady_s=1.0)
    good = ViewCheck((), 0.1, 0.9)
    side = ViewCheck((ViewIssue.NOT_SIDE_ON,), 0.7, 0.9)
    dark = check.update(0.0, good, brightness=10.0)
    assert (
        not dark.ready
        and dark.issue == "too_dark"
        and prompt_sentence(dark.prompt) == PROMPTS["too_dark"]
    )
    turned = check.update(0.1, side, brightness=120.0)
    assert (
        not turned.ready
        and turned.issue == "turn_side_on"
        and "side-on" in prompt_sentence(turned.prompt)
    )
    assert not check.update(0.2, good, 120.0).ready
    half = check.update(0.7, good, 120.0)
    assert not half.ready and half.progress == pytest.approx(0.5)
    assert check.update(1.25, good, 120.0).ready
    # Losing the view starts the wait again.
    check.update(1.3, side, 120.0)
    assert not check.update(1.4, good, 120.0).ready


def test_frame_brightness() -> None:
    assert frame_brightness(np.zeros((48, 64, 3), np.uint8)) == 0.0
    assert frame_brightness(np.full((48, 64, 3), 200, np.uint8)) == pytest.approx(200.0)


# -- a whole session ------------------------------------------------------------------------


def test_session_goes_setup_calibration_counting_done_and_counts_every_rep() -> None:
    session = LiveSession(ROM)
    stages = run(session, stream(3.0 + 10 * 3.0 + 1.0))
    names = [s for _, s in stages]
    assert names == [Stage.SETUP, Stage.CALIBRATING, Stage.COUNTING, Stage.DONE]
    assert len(session.log.reps) == 10
    assert session.status.reps == 10
    assert session.status.plan.done
    assert session.log.neutral_deg is not None and abs(session.log.neutral_deg) < 3
    assert [r.set_no for r in session.log.reps] == [1] * 10
    assert all(r.reached_target for r in session.log.reps)
    kinds = [e.kind for e in session.audio.events]
    assert kinds.count("beep") == 10
    said = [e.text for e in session.audio.events if e.kind == "say"]
    assert any("keep it still" in s for s in said) and any("last set" in s for s in said)


def test_session_never_counts_while_the_view_is_wrong() -> None:
    session = LiveSession(ROM)

    def frontal(angle: float, **kw: Any) -> Pose:
        return side_view_pose(angle, frontal=0.8, **kw)

    run(session, stream(20.0, pose_fn=frontal))
    assert session.stage is Stage.SETUP
    assert session.log.reps == []
    assert "side-on" in prompt_sentence(session.status.prompt)


def test_dark_room_is_reported_before_anything_else() -> None:
    session = LiveSession(ROM)
    run(session, stream(5.0), light=15.0)
    assert session.stage is Stage.SETUP and session.status.prompt == "too_dark"


def test_without_calibration_counting_starts_after_setup() -> None:
    session = LiveSession(ROM, calibrate=False)
    stages = run(session, stream(3.0 + 4 * 3.0))
    assert [s for _, s in stages][:2] == [Stage.SETUP, Stage.COUNTING]
    assert len(session.log.reps) == 4


def test_calibration_times_out_when_the_foot_never_keeps_still() -> None:
    session = LiveSession(ROM, calibration_timeout_s=4.0)
    run(session, stream(12.0, angle=lambda t: 14.0 * math.sin(2 * math.pi * t / 2.0)))
    assert session.counting
    assert any("not still" in w for w in session.log.warnings)


def test_skip_calibration_starts_counting_now() -> None:
    session = LiveSession(ROM)
    run(session, stream(1.5))
    assert session.stage is Stage.CALIBRATING
    session.skip_calibration(1.5)
    assert session.stage is Stage.COUNTING


def test_dropped_frames_do_not_change_the_count() -> None:
    full = LiveSession(ROM)
    run(full, stream(3.0 + 6 * 3.0 + 1.0))
    dropped = LiveSession(ROM)
    run(dropped, stream(3.0 + 6 * 3.0 + 1.0, drop=0.6, seed=3))  # ~12 of 30 fps arrive
    assert len(full.log.reps) == len(dropped.log.reps) == 6


@pytest.mark.parametrize("fps", [7.0, 6.0, 5.0])
def test_a_busy_machine_at_5_to_7_frames_a_second_counts_every_heel_raise(fps: float) -> None:
    """Live, 5-7 analysed frames a second once counted 2 of 8 heel raises."""
    ex = with_dose(EXS["heel_raise_standing"], sets=1, reps=8)
    session = LiveSession(ex)

    def standing(angle: float, **_: Any) -> Pose:
        return side_view_pose(angle, standing=True)

    raise_trace = lambda t: -1.2 * max(0.0, ankle_trace(t))  # noqa: E731 - up onto the toes
    run(session, stream(3.0 + 8 * 3.0 + 1.0, fps=fps, angle=raise_trace, pose_fn=standing))
    assert len(session.log.reps) == 8


def test_movement_not_counted_is_said_not_keep_going() -> None:
    """The page shows why (here: too small to count) instead of a reassuring silence."""
    session = LiveSession(ROM, calibrate=False)
    run(session, stream(20.0, angle=lambda t: 0.15 * ankle_trace(t)))
    assert session.stage is Stage.COUNTING and session.log.reps == []
    assert session.status.not_counting is not None
    assert session.status.not_counting == "movement_too_small"
    assert "too small to count" in cue_sentence(session.status.not_counting)


def test_sets_rests_and_announcements() -> None:
    ex = with_dose(ROM, sets=2, reps=3, rest_s=5.0)
    session = LiveSession(ex)
    stages = run(session, stream(3.0 + 3 * 3.0 + 8.0, angle=lambda t: ankle_trace(t)))
    # 3 reps then the rest: this trace keeps moving, so the rest ends early with a rep of set 2.
    names = [s for _, s in stages]
    assert Stage.RESTING in names
    said = [e.text for e in session.audio.events if e.kind == "say"]
    assert any("Set 1 done" in s and "5 seconds" in s for s in said)
    assert [r.set_no for r in session.log.reps][:4] == [1, 1, 1, 2]


def test_rest_countdown_then_next_set_is_announced() -> None:
    ex = with_dose(ROM, sets=2, reps=2, rest_s=4.0)
    session = LiveSession(ex)

    def two_reps_then_still(t: float) -> float:
        return ankle_trace(t) if t < 3.0 + 2 * 3.0 else 0.0

    run(session, stream(3.0 + 2 * 3.0 + 1.0, angle=two_reps_then_still))
    assert session.stage is Stage.RESTING
    assert 0 < session.status.plan.rest_left_s <= 4.0
    run(session, stream(5.0, angle=lambda t: 0.0, start_s=3.0 + 2 * 3.0 + 1.0))
    assert session.stage is Stage.COUNTING and session.status.plan.set_no == 2
    said = [e.text for e in session.audio.events if e.kind == "say"]
    assert said[-1] == "Start set 2."


def test_hold_exercise_counts_only_held_reps() -> None:
    ex = with_dose(EXS["towel_stretch"], hold_s=2.0, reps=2)

    def holds(t: float) -> float:
        if t < 3.0:
            return 0.0
        ph = (t - 3.0) % 5.0
        return 12.0 if 0.5 < ph < 3.5 else 0.0

    session = LiveSession(ex)
    run(session, stream(3.0 + 2 * 5.0 + 0.5, angle=holds))
    assert len(session.log.reps) == 2
    assert all(r.hold_s >= 2.0 for r in session.log.reps)
    assert session.log.summary().holds_reached == 2


def test_session_survives_the_camera_stopping() -> None:
    """A new stream (camera restarted) continues the same session and log."""
    session = LiveSession(ROM)
    clock = SessionClock()
    first, second = object(), object()
    for t, pose in stream(3.0 + 3 * 3.0):
        session.process_pose(pose, clock.to_session(first, 100.0 + t, now_s=t), 120)
    assert len(session.log.reps) == 3
    # Ten seconds later, a new stream whose own clock starts at a random value.
    gap = 10.0
    for t, pose in stream(4 * 3.0, angle=lambda t: ankle_trace(t + 3.0)):
        now = 3.0 + 3 * 3.0 + gap + t
        session.process_pose(pose, clock.to_session(second, 5000.0 + t, now_s=now), 120)
    assert len(session.log.reps) == 7
    starts = [r.start_s for r in session.log.reps]
    assert starts == sorted(starts) and starts[3] > 3.0 + 3 * 3.0 + gap


def test_session_clock_keeps_frame_spacing_and_is_strictly_increasing() -> None:
    clock = SessionClock()
    a = object()
    ts = [clock.to_session(a, 7.0 + dt, now_s=50.0 + dt * 1.1) for dt in (0.0, 0.033, 0.2, 0.2)]
    assert ts[0] == 0.0
    assert ts[1] == pytest.approx(0.033) and ts[2] == pytest.approx(0.2)
    assert ts[3] > ts[2]  # a repeated frame time still moves forward
    b = object()
    t_new = clock.to_session(b, 0.0, now_s=60.0)
    assert t_new == pytest.approx(10.0)
    assert clock.to_session(None, None, now_s=61.0) > t_new


# -- log and exports ------------------------------------------------------------------------


def test_log_exports_json_and_csv() -> None:
    ex = with_dose(ROM, sets=2, reps=2, rest_s=0.0)
    session = LiveSession(ex)
    run(session, stream(3.0 + 4 * 3.0 + 1.0))
    log = session.log
    record = log.record()
    data = json.loads(json.dumps(record.to_dict()))
    assert data["record"] == "session" and data["exercise"] == ROM.id
    assert data["source"] == "live" and data["unit"] == "pct_shank"
    assert len(data["reps"]) == 4
    assert [d["set"] for d in data["reps"]] == [1, 1, 2, 2]
    assert record.sets_completed == 2
    assert data["trace"] and len(data["trace"][0]) == 3  # [t_s, value, leg points]
    assert data["trace"][-1][2] is not None and len(data["trace"][-1][2]) == 10
    rows = list(csv.DictReader(io.StringIO(reps_csv(record))))
    assert len(rows) == 4 and rows[0]["set"] == "1" and float(rows[0]["range_pct_shank"]) > 10
    summary = log.summary()
    assert summary.reps == 4 and summary.range_best >= summary.range_mean > 10


def test_cues_are_logged_and_spoken_one_at_a_time() -> None:
    session = LiveSession(ROM)

    def fast(t: float) -> float:  # reps of 0.8 s: "too fast"
        return ankle_trace(t, rep_s=3.0) if t < 6.0 else ankle_trace((t - 6.0) * 3.5 + 6.0)

    run(session, stream(16.0, angle=fast))
    assert session.log.cues, "fast reps should draw a cue"
    # Sentences keep their distance; the rep numbers are brief words said on time.
    says = [
        e
        for e in session.audio.events
        if e.kind == "say" and not e.important and not e.text.isdigit()
    ]
    gaps = [b.t_s - a.t_s for a, b in itertools.pairwise(says)]
    assert all(g >= AudioQueue().gap_s for g in gaps)
    numbers = [e.text for e in session.audio.events if e.kind == "say" and e.text.isdigit()]
    assert numbers == [str(r.number) for r in session.log.reps][-len(numbers) :]


def test_audio_queue_drops_cues_that_would_talk_over_and_keeps_announcements() -> None:
    q = AudioQueue(gap_s=3.0, keep=5)
    assert q.say(0.0, "one")
    assert not q.say(1.0, "two")
    assert q.say(1.5, "Set 1 done.", important=True)
    assert not q.say(3.0, "three")
    assert q.say(4.6, "four")
    for i in range(10):
        q.beep(5.0 + i)
    assert len(q.events) == 5
    ids = [e.id for e in q.events]
    assert ids == sorted(ids) and len(set(ids)) == 5


@pytest.mark.parametrize(("sets", "reps"), [(1, 3), (2, 2), (3, 1)])
def test_the_dose_in_the_definition_file_is_the_session_that_runs(sets: int, reps: int) -> None:
    """From the TOML text to the live session: exactly `sets` x `reps`, then done."""
    text = (EXERCISES_DIR / "range_of_motion.toml").read_text(encoding="utf-8")
    text = text.replace("sets = 1", f"sets = {sets}").replace("reps = 10", f"reps = {reps}")
    text = text.replace("rest_s = 30", "rest_s = 0")
    ex = parse_exercise(tomllib.loads(text), "dose.toml")
    assert (ex.dose.sets, ex.dose.reps) == (sets, reps)
    session = LiveSession(ex)
    planned = sets * reps
    done_at: int | None = None
    for t, pose in stream(3.0 + (planned + 2) * 3.0):  # two reps more than planned
        session.process_pose(pose, t, 120)
        if done_at is None and session.stage is Stage.DONE:
            done_at = len(session.log.reps)
    assert done_at == planned
    assert [r.set_no for r in session.log.reps][:planned] == [
        n for n in range(1, sets + 1) for _ in range(reps)
    ]
    summary = session.log.summary()
    assert (summary.planned_sets, summary.planned_reps) == (sets, planned)
    assert summary.sets_completed == sets
    assert session.log.record().to_dict()["dose"]["sets"] == sets


# -- get-into-place countdown ---------------------------------------------------------------


def record_events(session: LiveSession) -> list[Any]:
    seen: list[Any] = []
    session.bus.subscribe(seen.append)
    return seen


def ticks(events: list[Any]) -> list[tuple[float, float | str]]:
    return [
        (e.t_s, e.params["seconds"])
        for e in events
        if isinstance(e, Announcement) and e.prompt_id == "countdown_tick"
    ]


def stage_changes(events: list[Any]) -> list[tuple[float, str]]:
    return [(e.t_s, e.stage) for e in events if isinstance(e, StageChanged)]


def timed(times: Iterable[float], angle: Callable[[float], float]) -> Iterator[tuple[float, Pose]]:
    for t in times:
        yield t, side_view_pose(angle(t))


def walking(t: float) -> float:
    """The patient walks back to the chair: the feet swing a lot (big "reps")."""
    return 18.0 * math.sin(2 * math.pi * t / 1.2)


def at_fps(fps: float, until_s: float, gap: tuple[float, float] | None = None) -> list[float]:
    times = [i / fps for i in range(int(until_s * fps) + 1)]
    if gap is not None:
        times = [t for t in times if not gap[0] < t < gap[1]]
    return times


@pytest.mark.parametrize("countdown_s", [-1.0, math.nan, math.inf, -math.inf])
def test_countdown_must_be_a_finite_number_of_seconds(countdown_s: float) -> None:
    with pytest.raises(ValueError, match="countdown must be 0 or more seconds"):
        LiveSession(ROM, countdown_s=countdown_s)


@pytest.mark.parametrize(
    ("fps", "gap", "said"),
    [
        (10.0, None, [3, 2, 1]),
        (30.0, None, [3, 2, 1]),
        (30.0, (1.5, 3.4), [2, 1]),  # dropped frames hide "3": it is not said late
        (30.0, (3.9, 5.7), [3, 2]),  # the frames stop over the end: set-up starts after them
        (7.0, None, [3, 2, 1]),  # 5/7 is not a frame time: the end falls between frames
    ],
)
def test_countdown_lasts_its_seconds_on_the_timeline_whatever_the_frames(
    fps: float, gap: tuple[float, float] | None, said: list[int]
) -> None:
    countdown_s = 5.0
    session = LiveSession(ROM, countdown_s=countdown_s)
    events = record_events(session)
    assert session.stage is Stage.COUNTDOWN and session.status.stage is Stage.COUNTDOWN
    times = at_fps(fps, 8.0, gap)
    seen: list[tuple[float, Stage, str, Any, float]] = []
    for t, pose in timed(times, walking):
        session.process_pose(pose, t, 120)
        s = session.status
        seen.append((t, s.stage, s.prompt, dict(s.prompt_params), s.progress))
    first_setup = next(t for t in times if t >= countdown_s)
    # Exactly countdown_s: the set-up check starts at the first frame at or after it.
    assert stage_changes(events)[0] == (first_setup, "setup")
    for t, stage, prompt, params, progress in seen:
        if t < countdown_s:
            assert (stage, prompt) == (Stage.COUNTDOWN, "countdown")
            assert params == {"seconds": math.ceil(countdown_s - t - 1e-9)}
            assert progress == pytest.approx(t / countdown_s)
        else:
            assert stage is not Stage.COUNTDOWN and prompt != "countdown"
    # Each number once, when the seconds left reach it; the start said how long it lasts.
    assert [n for _, n in ticks(events)] == said
    for t_tick, n in ticks(events):
        assert t_tick == next(t for t in times if t >= countdown_s - float(n))
    intro = [e for e in events if isinstance(e, Announcement) and e.prompt_id == "countdown"]
    assert [(e.t_s, dict(e.params)) for e in intro] == [(0.0, {"seconds": 5})]
    # Nothing checked, cued or recorded while the patient walked back.
    before = [e for e in events if not isinstance(e, Sampled) and e.t_s < first_setup]
    assert not [e for e in before if isinstance(e, CueGiven | RepCompleted | Calibrated)]
    assert not [e for e in events if isinstance(e, Sampled) and e.frame.t_s < first_setup]


def test_countdown_seconds_round_up_and_progress_grows() -> None:
    session = LiveSession(ROM, countdown_s=2.5)
    events = record_events(session)
    expected = {0.0: 3, 0.4: 3, 0.5: 2, 0.6: 2, 1.49: 2, 1.5: 1, 1.9: 1, 2.49: 1}
    for t, seconds in expected.items():
        session.process_pose(side_view_pose(0.0), t, 120)
        assert session.stage is Stage.COUNTDOWN
        assert session.status.prompt_params == {"seconds": seconds}, t
        assert session.status.progress == pytest.approx(t / 2.5)
    session.process_pose(side_view_pose(0.0), 2.5, 120)
    assert session.stage is Stage.SETUP and session.status.prompt != "countdown"
    # 2.5 s: "starting in 3 s" at the start, then 2 and 1 as they come.
    assert [n for _, n in ticks(events)] == [2, 1]
    assert prompt_sentence("countdown", {"seconds": 3}) == "Get into place: starting in 3 s."


@pytest.mark.parametrize("fps", [10.0, 30.0])
def test_movement_during_the_countdown_is_never_counted_then_the_session_runs_as_before(
    fps: float,
) -> None:
    countdown_s = 6.0
    ex = with_dose(ROM, sets=1, reps=6)
    session = LiveSession(ex, countdown_s=countdown_s)
    events = record_events(session)
    # Walking back: big swings, the leg out of view for a while, nobody for a moment.
    for t in at_fps(fps, countdown_s - 0.01):
        if 2.0 < t < 3.0:
            session.process_pose(None, t, 120)
        elif 3.0 <= t < 4.0:
            session.process_pose(side_view_pose(walking(t), frontal=0.8), t, 120)
        else:
            session.process_pose(side_view_pose(walking(t)), t, 120)
        assert session.stage is Stage.COUNTDOWN and session.status.reps == 0
        assert session.status.cue is None and session.status.not_counting is None
    assert session.log.reps == [] and session.log.cues == [] and session.log.trace == []
    # Then the usual session: set-up, calibration, six reps, done.
    stages = run(session, stream(3.0 + 6 * 3.0 + 1.0, fps=fps, start_s=countdown_s))
    assert [s for _, s in stages] == [Stage.SETUP, Stage.CALIBRATING, Stage.COUNTING, Stage.DONE]
    assert [s for _, s in stage_changes(events)] == ["setup", "calibrating", "counting", "done"]
    assert len(session.log.reps) == 6
    assert all(r.start_s > countdown_s for r in session.log.reps)
    assert session.log.neutral_deg is not None and abs(session.log.neutral_deg) < 3
    # The numbers are spoken, but not as important: the browser may drop one.
    numbers = [
        e
        for e in session.audio.events
        if e.kind == "say" and e.text in {"3", "2", "1"} and e.t_s <= countdown_s
    ]
    assert [e.text for e in numbers] == ["3", "2", "1"]
    assert not any(e.important for e in numbers)


def test_skip_calibration_during_the_countdown_starts_counting_at_once() -> None:
    session = LiveSession(ROM, countdown_s=8.0)
    events = record_events(session)
    run(session, stream(1.0))
    assert session.stage is Stage.COUNTDOWN
    session.skip_calibration(session.status.t_s)
    assert session.stage is Stage.COUNTING and session.status.prompt == "to_go"
    run(session, stream(3.0 + 4 * 3.0 + 1.0, start_s=1.05))
    assert session.counting and len(session.log.reps) == 4
    assert [s for _, s in stage_changes(events)] == ["counting"]
    assert ticks(events) == []  # the countdown is over: no number after the skip


def test_no_countdown_is_the_session_of_before() -> None:
    def trail(session: LiveSession) -> list[Any]:
        events = record_events(session)
        run(session, stream(3.0 + 4 * 3.0 + 1.0))
        return [
            (type(e).__name__, getattr(e, "t_s", None), getattr(e, "prompt_id", None))
            for e in events
        ]

    default, zero = LiveSession(ROM), LiveSession(ROM, countdown_s=0.0)
    assert default.stage is zero.stage is Stage.SETUP
    assert zero.status.stage is Stage.SETUP and zero.status.prompt == "press_start"
    assert trail(default) == trail(zero)
    assert len(zero.log.reps) == len(default.log.reps) == 4
    assert [e.text for e in zero.audio.events] == [e.text for e in default.audio.events]


def test_a_rejoined_session_counts_down_again() -> None:
    """After a reload the patient has to get back to the chair too."""
    first = LiveSession(ROM, calibrate=False)
    run(first, stream(3.0 + 3 * 3.0))
    record = first.log.record()
    assert len(record.reps) == 3
    again = LiveSession(ROM, calibrate=False, countdown_s=3.0)
    events = record_events(again)
    again.resume(record)
    assert again.stage is Stage.COUNTDOWN
    # The page's clock starts again at 0; the session carries on after the stored part.
    back_in_place = lambda t: walking(t) if t < 3.0 else ankle_trace(t - 3.0)  # noqa: E731
    run(again, stream(3.0 + 3.0 + 2 * 3.0 + 1.0, angle=back_in_place))
    offset = record.duration_s + 1.0
    changes = stage_changes(events)
    assert [s for _, s in changes] == ["setup", "counting"]
    assert changes[0][0] == pytest.approx(offset + 3.0)
    assert [n for _, n in ticks(events)] == [2, 1]
    assert len(again.log.reps) == 5
    assert all(r.start_s > offset + 3.0 for r in again.log.reps[3:])


def test_countdown_numbers_skip_the_cooldown_and_never_hold_a_cue_back() -> None:
    q = AudioQueue(gap_s=3.0)
    q.on_event(Announcement(0.0, "countdown", {"seconds": 3}))
    for n in (2, 1):
        q.on_event(Announcement(3.0 - n, "countdown_tick", {"seconds": n}))
    q.on_event(CueGiven(3.5, "turn_side_on", {}, logged=False))
    said = [(e.text, e.important) for e in q.events]
    assert said == [
        ("Get into place: starting in 3 s.", True),
        ("2", False),
        ("1", False),
        (cue_sentence("turn_side_on"), False),
    ]
    assert prompt_sentence("countdown_tick", {"seconds": 3}) == "3"
