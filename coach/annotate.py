"""Draw the coaching overlay onto a frame: leg skeleton, angle, target band, reps, hold, cue.

Shared by the live camera, the annotated review video and the CLI. Works in
place on a BGR frame (OpenCV's layout) and returns it, so the live callback
does no extra copy.
"""

from __future__ import annotations

import textwrap

import cv2
import numpy as np

from coach.exercise import Exercise, Mode, Signal
from coach.landmarks import LEG_SEGMENTS, LEGS
from coach.processor import FrameResult
from coach.wording import cue_text

GREEN = (80, 200, 80)
AMBER = (0, 190, 255)
RED = (60, 60, 230)
WHITE = (255, 255, 255)
DARK = (30, 30, 30)
FONT = cv2.FONT_HERSHEY_SIMPLEX


def draw_label(
    img: np.ndarray, text: str, org: tuple[int, int], scale: float, color: tuple[int, int, int]
) -> None:
    """Text on a dark box, readable on any background.

    (An outline drawn with a thicker stroke does not work: OpenCV 5's font grows
    wider with thickness, so the outline and the text would not line up.)
    """
    thick = max(1, int(2 * scale))
    (w, h), base = cv2.getTextSize(text, FONT, scale, thick)
    x, y = org
    pad = max(2, int(4 * scale))
    cv2.rectangle(img, (x - pad, y - h - pad), (x + w + pad, y + base + pad // 2), DARK, -1)
    cv2.putText(img, text, org, FONT, scale, color, thick, cv2.LINE_AA)


def _draw_leg(img: np.ndarray, result: FrameResult, color: tuple[int, int, int]) -> None:
    if result.pose is None or result.side is None:
        return
    leg = LEGS[result.side]
    for a, b in LEG_SEGMENTS:
        pa, pb = result.pose[getattr(leg, a)], result.pose[getattr(leg, b)]
        cv2.line(img, (int(pa.x), int(pa.y)), (int(pb.x), int(pb.y)), color, 3, cv2.LINE_AA)
    for name in ("hip", "knee", "ankle", "heel", "toe"):
        p = result.pose[getattr(leg, name)]
        cv2.circle(img, (int(p.x), int(p.y)), 5, WHITE, -1, cv2.LINE_AA)


def _draw_gauge(img: np.ndarray, result: FrameResult, ex: Exercise) -> None:
    """A vertical bar: current excursion against the counting threshold and target band."""
    h = img.shape[0]
    x0, x1 = img.shape[1] - 46, img.shape[1] - 22
    top, bottom = int(h * 0.18), int(h * 0.82)
    lo, hi = ex.counter.exit - 5.0, ex.counter.target + 8.0

    def y_of(v: float) -> int:
        frac = (min(max(v, lo), hi) - lo) / (hi - lo)
        return int(bottom - frac * (bottom - top))

    cv2.rectangle(img, (x0, top), (x1, bottom), DARK, -1)
    band_lo = ex.counter.hold_floor
    cv2.rectangle(
        img,
        (x0, y_of(ex.counter.target + ex.counter.target_tolerance)),
        (x1, y_of(band_lo)),
        GREEN,
        -1,
    )
    cv2.line(img, (x0 - 4, y_of(ex.counter.enter)), (x1 + 4, y_of(ex.counter.enter)), AMBER, 2)
    if result.excursion is not None:
        y = y_of(result.excursion)
        cv2.rectangle(img, (x0 - 6, y - 3), (x1 + 6, y + 3), WHITE, -1)


def annotate(frame_bgr: np.ndarray, result: FrameResult, exercise: Exercise) -> np.ndarray:
    """Draw the overlay for one processed frame (modifies and returns `frame_bgr`)."""
    img = frame_bgr
    ok = result.view.ok
    _draw_leg(img, result, GREEN if ok else AMBER)
    scale = max(0.75, img.shape[0] / 720)  # readable on a 480p webcam, from across the room
    line = int(34 * scale)
    y = line
    reps_text = f"Reps {result.reps}"
    if exercise.mode is Mode.HOLD:
        reps_text = f"Holds {result.reps}"
    draw_label(img, reps_text, (12, y), 1.1 * scale, WHITE)
    y += line
    angle_exercise = exercise.signal in (Signal.ANKLE, Signal.TOE_LIFT)
    if result.ankle_deg is not None and angle_exercise:
        draw_label(img, f"Ankle {result.ankle_deg:+.0f} deg", (12, y), 0.8 * scale, WHITE)
        y += line
    elif angle_exercise and ok:  # counting from an oblique view: say why there is no angle
        draw_label(img, "Angle: needs a side-on view", (12, y), 0.6 * scale, AMBER)
        y += line
    elif result.excursion is not None:
        draw_label(img, f"Lift {result.excursion:.0f}% shank", (12, y), 0.8 * scale, WHITE)
        y += line
    need = exercise.dose.hold_s
    if need > 0 and result.hold_s > 0:
        left = max(0.0, need - result.hold_s)
        color = GREEN if left == 0 else AMBER
        label = f"Hold {left:.0f}s" if left > 0 else "Hold done"
        draw_label(img, label, (12, y), 0.8 * scale, color)
        y += line
    if not result.calibrated and ok:
        draw_label(img, "Calibrating: keep still", (12, y), 0.7 * scale, AMBER)
    _draw_gauge(img, result, exercise)
    cue = result.active_cue
    if cue is not None:
        lines = textwrap.wrap(cue_text(cue), width=max(20, int(img.shape[1] / (15 * scale))))[:2]
        for k, text in enumerate(reversed(lines)):
            y_cue = img.shape[0] - int(16 * scale) - k * int(26 * scale)
            draw_label(img, text, (12, y_cue), 0.6 * scale, AMBER)
    return img
