"""Gait analysis on the real shared clips, through the real model (full), against hand labels.

Each clip runs through `analyze_gait_video` once per session (module fixtures;
the machine is small). Labels (`real/labels.json`) give every visible initial
contact with the person's own side and strike type, read by eye at 30 fps.

Measured with MediaPipe full (see the report of this work for lite):
- treadmill_run_side: 34/34 contacts within 2.5 frames, 0 extra, sides 34/34, kinds
  33/33 heel-first (the first contact is marked "foot hidden": the far foot's visibility
  is below 0.5 in the first frames). The far (right) foot's contacts come out 1.0 frame
  early on average and up to 2.5 frames (near foot: within 1 frame). The labeller notes a
  possible +-1-frame side-dependent reading bias on this blurred clip, so 2 frames is not
  reached for the far foot; 2.5 is the honest bound.
  The model is asked for one person while only one is in view (`TrackOneUntilMore`): asked
  for two throughout, MediaPipe re-detects the runner in every frame, the landmarks get
  noisier and 4 contacts fell outside 2.5 frames (the far foot's at 50, 92 and 157, and the
  last one, 357).
- outdoor_walk_side_two_people: needs more than one person per frame from the pose model
  (a second person jumps off a box and a single-person detector follows him for 170 of 230
  frames). The look for several people finds the walker at 2.0 s (frame 60) and follows
  both from then on: 7/9 contacts within 2.5 frames (near foot within 1.4, far foot within
  2.1: the far foot's contact at frame 169 comes 2.1 frames late, so 2 frames is not
  reached), 0 extra, sides 7/7, kinds 6/6. The two missed contacts (frames 38 and 60)
  happen before the walker is first found (she emerges from behind a tree at frame 59);
  the last one, with her toes out of frame, is found and marked not valid. Not asserted:
  a low-confidence swing-time asymmetry flag (0.42 s left vs 0.55 s right) comes and goes
  with small differences in MediaPipe's tracking; the right foot is the far one and its
  toe-offs are the least certain events.
- walk_rear_view: nothing valid is reported.
Since issue 8: the landing call compares the foot with itself flat just after the contact
(`coach.gait.strike`), so the treadmill's last contact, 0.07 s before the end, is not
judged; the far foot's swing gives no flag, and its toe read below the floor (-0.02) is
not reported; live practice replayed on the same poses makes the recorded call.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from coach.gait.analyze import analyze_gait_video, open_walk_estimator
from coach.gait.live import GaitTracker
from coach.landmarks import Pose

FPS = 30.0


def _labels(clips_dir: Path, clip: str) -> list[dict[str, Any]]:
    labels = json.loads((clips_dir / "real" / "labels.json").read_text())
    contacts: list[dict[str, Any]] = labels[f"real/{clip}"]["contacts"]
    return contacts


def _match(
    labels: list[dict[str, Any]], contacts: list[dict[str, Any]], tol_frames: float
) -> tuple[list[tuple[dict[str, Any], dict[str, Any], float]], list[dict[str, Any]], list[Any]]:
    """Pair each label with the nearest unused contact within `tol_frames`."""
    used: set[int] = set()
    pairs, missed = [], []
    for lab in labels:
        best, best_err = None, None
        for j, c in enumerate(contacts):
            err = c["t_s"] * FPS - lab["frame"]
            if (
                j not in used
                and abs(err) <= tol_frames
                and (best_err is None or abs(err) < abs(best_err))
            ):
                best, best_err = j, err
        if best is None or best_err is None:
            missed.append(lab)
        else:
            used.add(best)
            pairs.append((lab, contacts[best], best_err))
    extras = [c for j, c in enumerate(contacts) if j not in used]
    return pairs, missed, extras


def _side(label: dict[str, Any]) -> str:
    return {"L": "left", "R": "right"}[label["foot"]]


class Recording:
    """The walk estimator (as `analyze_gait_video` opens it), keeping every frame's people
    so that live practice can be replayed on the same poses without running the model again."""

    def __init__(self, model: str) -> None:
        self.inner = open_walk_estimator(model)
        self.frames: list[tuple[float, list[Pose]]] = []

    def detect_all(self, frame_bgr: np.ndarray, t_s: float) -> Sequence[Pose]:
        people = self.inner.detect_all(frame_bgr, t_s)
        self.frames.append((t_s, people))
        return people

    def detect(self, frame_bgr: np.ndarray, t_s: float) -> Pose | None:
        people = self.detect_all(frame_bgr, t_s)
        return people[0] if people else None

    def close(self) -> None:
        self.inner.close()


def _recorded(path: Path) -> tuple[dict[str, Any], list[tuple[float, list[Pose]]]]:
    rec = Recording("full")
    try:
        return analyze_gait_video(path, estimator=rec), rec.frames
    finally:
        rec.close()


@pytest.fixture(scope="module")
def treadmill_run(clips_dir: Path) -> tuple[dict[str, Any], list[tuple[float, list[Pose]]]]:
    return _recorded(clips_dir / "real" / "treadmill_run_side.mp4")


@pytest.fixture(scope="module")
def outdoor_run(clips_dir: Path) -> tuple[dict[str, Any], list[tuple[float, list[Pose]]]]:
    return _recorded(clips_dir / "real" / "outdoor_walk_side_two_people.mp4")


@pytest.fixture(scope="module")
def treadmill(treadmill_run: tuple[dict[str, Any], Any]) -> dict[str, Any]:
    return treadmill_run[0]


@pytest.fixture(scope="module")
def outdoor(outdoor_run: tuple[dict[str, Any], Any]) -> dict[str, Any]:
    return outdoor_run[0]


@pytest.fixture(scope="module")
def rear(clips_dir: Path) -> dict[str, Any]:
    return analyze_gait_video(clips_dir / "real" / "walk_rear_view.mp4", max_s=8.0)


def test_treadmill_contacts_match_labels(treadmill: dict[str, Any], clips_dir: Path) -> None:
    labels = _labels(clips_dir, "treadmill_run_side.mp4")
    pairs, missed, extras = _match(labels, treadmill["contacts"], tol_frames=2.5)
    assert not missed
    assert not extras
    assert all(c["side"] == _side(lab) for lab, c, _ in pairs)
    near = [err for lab, _, err in pairs if lab["side_basis"] == "near foot"]
    assert max(abs(e) for e in near) <= 1.0
    valid = [c for _, c, _ in pairs if c["valid"]]
    assert len(valid) >= 33
    # Every label is heel-first. The last contact (frame 357) comes 0.07 s before the
    # recording ends, too soon to see the foot flat after it: its landing is not judged.
    judged = [c for c in valid if c["kind"] is not None]
    assert len(judged) >= 32 and all(c["kind"] == "heel" for c in judged)


def test_treadmill_summary_and_running(treadmill: dict[str, Any]) -> None:
    s = treadmill["summary"]
    assert s["cadence_spm"] == pytest.approx(169.2, abs=3)  # labels: 169.2 steps/min
    assert s["gait"] == "running"
    assert not treadmill["flags"]  # foot-drop flags are for walking
    assert treadmill["bouts"][0]["side_facing_camera"] == "left"
    assert treadmill["realtime_factor"] > 0


def test_outdoor_walk_contacts_match_labels(outdoor: dict[str, Any], clips_dir: Path) -> None:
    labels = _labels(clips_dir, "outdoor_walk_side_two_people.mp4")
    pairs, missed, extras = _match(labels, outdoor["contacts"], tol_frames=2.5)
    # Both misses happen before MediaPipe first finds the walker (behind the tree).
    assert [lab["frame"] for lab in missed] == [38, 60]
    first_seen = outdoor["bouts"][0]["start_s"]
    assert all(lab["t"] <= first_seen + 0.1 for lab in missed)
    assert not extras
    assert all(c["side"] == _side(lab) for lab, c, _ in pairs)
    near = [err for lab, _, err in pairs if lab["side_basis"].startswith("near")]
    assert max(abs(e) for e in near) <= 1.5
    valid = [c for _, c, _ in pairs if c["valid"]]
    assert len(valid) >= 6
    assert all(c["kind"] == "heel" for c in valid)
    assert outdoor["summary"]["gait"] == "walking"
    assert outdoor["summary"]["cadence_spm"] == pytest.approx(100, abs=8)  # labels: ~0.6 s/step
    assert any("More than one person" in w for w in outdoor["warnings"])


@pytest.mark.parametrize("clip", ["treadmill_run_side.mp4", "outdoor_walk_side_two_people.mp4"])
def test_contacts_are_within_a_frame_of_the_labels_and_none_after_the_walk(
    clip: str, clips_dir: Path, request: pytest.FixtureRequest
) -> None:
    """Measured (full): median error -0.46 frames on the treadmill, +0.10 on the walk;
    the heel's own arrival on the floor came 1-2.4 frames off on one clip or the other
    (see docs/studies/gait-timing.md), so initial contact stays Zeni's heel-forward peak."""
    report = request.getfixturevalue("treadmill" if "treadmill" in clip else "outdoor")
    labels = _labels(clips_dir, clip)
    pairs, _, extras = _match(labels, report["contacts"], tol_frames=2.5)
    errors = [err for _, _, err in pairs]
    assert abs(statistics.median(errors)) <= 1.0
    assert statistics.median(abs(e) for e in errors) <= 1.0
    last = max(lab["frame"] for lab in labels)
    assert not [c for c in report["contacts"] if c["t_s"] * FPS > last + 2.5]
    assert not extras


def test_healthy_walker_gets_no_foot_drop_flag_and_no_negative_clearance(
    outdoor: dict[str, Any],
) -> None:
    """The far (right) foot is partly hidden in swing: its toe read below the floor here."""
    ids = {f["id"] for f in outdoor["flags"]}
    assert not ids & {"low_toe_clearance", "foot_slap_or_toe_first", "steppage"}
    clear = [st["toe_clearance"] for st in outdoor["steps"]]
    assert all(c is None or c >= 0 for c in clear)
    assert [c for c in clear if c is not None]  # the near foot's clearances are measured
    for side in outdoor["summary"]["per_side"].values():
        assert side["toe_clearance"] is None or side["toe_clearance"] >= 0
    assert not [f for f in outdoor["flags"] if f["side"] == "right"]  # the far foot


@pytest.mark.parametrize("clip", ["treadmill", "outdoor"])
def test_live_practice_makes_the_recorded_landing_call(
    clip: str, request: pytest.FixtureRequest
) -> None:
    report, frames = request.getfixturevalue(f"{clip}_run")
    tracker = GaitTracker()
    for t_s, people in frames:
        tracker.update(people, t_s)
    recorded = report["steps"]
    pairs = []
    for st in tracker.steps:
        rec = min(recorded, key=lambda r: abs(r["t_s"] - st.t_s))
        if abs(rec["t_s"] - st.t_s) < 1 / FPS:
            pairs.append((st, rec))
    assert len(pairs) == len(tracker.steps) >= len(recorded) - 2
    assert [st.kind for st, _ in pairs] == [rec["kind"] for _, rec in pairs]
    assert sum(st.kind == "heel" for st, _ in pairs) >= len(pairs) - 2


def test_rear_view_reports_nothing_valid(rear: dict[str, Any]) -> None:
    assert not [c for c in rear["contacts"] if c["valid"]]
    assert not [s for s in rear["steps"] if s["valid"]]
    assert not rear["flags"]
    assert rear["summary"]["cadence_spm"] is None
    assert "not seen side-on" in rear["warnings"][0]
