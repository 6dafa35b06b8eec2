"""Session replay: the payload sent to the browser, and the page mounting it."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime

import pytest
from streamlit.testing.v1 import AppTest

from coach.records import (
    DoseRecord,
    RepRecord,
    SessionRecord,
    SessionSource,
    TraceFrame,
    Unit,
)
from coach.ui.replay import MAX_FRAMES, NO_MOVEMENT, replay_payload

NAN = float("nan")
LEG = ((0.51234, 0.30001), (0.55, 0.5), (0.52, 0.7), (0.5, 0.72), (0.6, 0.74))


def record(
    trace: list[TraceFrame],
    *,
    unit: Unit = Unit.DEG,
    reps: tuple[RepRecord, ...] = (),
) -> SessionRecord:
    return SessionRecord(
        id="s1",
        patient_id=None,
        exercise_id="toe_lift",
        exercise_name="Toe lift",
        source=SessionSource.LIVE,
        started_at=datetime(2026, 3, 2, 10, tzinfo=UTC),
        unit=unit,
        dose=DoseRecord(sets=1, reps=10, hold_s=0.0, rest_s=30.0),
        reps=reps,
        trace=tuple(trace),
    )


def frames(n: int, dt: float = 0.1) -> list[TraceFrame]:
    return [TraceFrame(i * dt, 10.0 * math.sin(i / 5), LEG) for i in range(n)]


def a_rep(number: int, start: float, end: float) -> RepRecord:
    return RepRecord(number, 1, start, end, 12.0, 12.0, 0.0, True)


def test_payload_shape_and_rounding() -> None:
    trace = [
        TraceFrame(0.00049, 1.2345, LEG),
        TraceFrame(0.1, None, None),
        TraceFrame(0.2, NAN, LEG),
    ]
    p = replay_payload(record(trace, reps=(a_rep(1, 0.12345, 1.98765),)))
    json.dumps(p, allow_nan=False)  # JSON-serialisable, no NaN
    assert p["frames"] == 3 and len(p["t"]) == len(p["value"]) == len(p["points"]) == 3
    assert p["t"] == [0.0, 0.1, 0.2]
    assert p["value"] == [1.2, None, None]
    assert p["points"][0] == [0.512, 0.3, 0.55, 0.5, 0.52, 0.7, 0.5, 0.72, 0.6, 0.74]
    assert p["points"][1] is None
    assert p["bbox"] == [0.5, 0.3, 0.6, 0.74]
    assert p["reps"] == [{"number": 1, "start_s": 0.123, "end_s": 1.988}]
    assert (p["unit"], p["unit_label"], p["id"]) == ("deg", "°", "s1")
    assert p["aspect"] == pytest.approx(4 / 3, abs=1e-4)


@pytest.mark.parametrize(("unit", "label"), [(Unit.DEG, "°"), (Unit.PCT_SHANK, "% of shin length")])
def test_unit_label(unit: Unit, label: str) -> None:
    p = replay_payload(record(frames(3), unit=unit))
    assert (p["unit"], p["unit_label"]) == (unit.value, label)
    assert label in p["value_title"]


@pytest.mark.parametrize(
    ("points", "kept"),
    [
        (LEG, True),
        (None, False),
        (LEG[:4], False),  # a leg with a point missing is a gap, not half a figure
        (((NAN, 0.5), *LEG[1:]), False),
        (((math.inf, 0.5), *LEG[1:]), False),
    ],
    ids=["leg", "none", "four-points", "nan", "inf"],
)
def test_points_gaps(points: tuple[tuple[float, float], ...] | None, kept: bool) -> None:
    p = replay_payload(record([TraceFrame(0.0, 1.0, LEG), TraceFrame(0.1, 2.0, points)]))
    assert (p["points"][1] is not None) == kept
    assert p["value"] == [1.0, 2.0]


@pytest.mark.parametrize(
    ("n", "sent"),
    [(0, 0), (1, 1), (MAX_FRAMES, MAX_FRAMES), (MAX_FRAMES + 1, MAX_FRAMES), (20000, MAX_FRAMES)],
)
def test_thinning_is_even_and_keeps_both_ends(n: int, sent: int) -> None:
    trace = frames(n, dt=0.1)
    p = replay_payload(record(trace))
    assert p["frames"] == len(p["t"]) == len(p["points"]) == sent
    if n:
        assert p["t"][0] == 0.0 and p["t"][-1] == round(trace[-1].t_s, 3)
        steps = [b - a for a, b in zip(p["t"], p["t"][1:], strict=False)]
        assert all(s > 0 for s in steps)  # strictly increasing, no duplicates
        if n > MAX_FRAMES:
            expected = (trace[-1].t_s - trace[0].t_s) / (MAX_FRAMES - 1)
            assert max(steps) - min(steps) <= 0.1 + 1e-6  # at most one frame uneven
            assert sum(steps) / len(steps) == pytest.approx(expected, rel=1e-3)


def test_payload_is_compact() -> None:
    p = replay_payload(record(frames(MAX_FRAMES)))
    assert len(json.dumps(p)) < 80 * MAX_FRAMES  # about 70 characters a frame


def test_empty_record_and_bad_times() -> None:
    p = replay_payload(record([]))
    assert (p["frames"], p["t"], p["points"], p["bbox"], p["reps"]) == (0, [], [], None, [])
    p = replay_payload(record([TraceFrame(NAN, 1.0, LEG), TraceFrame(0.5, None, None)]))
    assert (p["t"], p["bbox"]) == ([0.5], None)
    assert replay_payload(record([]), aspect=NAN)["aspect"] == pytest.approx(4 / 3, abs=1e-4)
    assert replay_payload(record([]), aspect=16 / 9)["aspect"] == pytest.approx(16 / 9, abs=1e-4)


def _page(kind: str) -> None:
    """A page with one replay, run by AppTest (imports inside: it runs as a script)."""
    import math
    from datetime import UTC, datetime

    from coach.records import (
        DoseRecord,
        RepRecord,
        SessionRecord,
        SessionSource,
        TraceFrame,
        Unit,
    )
    from coach.ui.replay import render_replay

    leg = ((0.5, 0.3), (0.55, 0.5), (0.52, 0.7), (0.5, 0.72), (0.6, 0.74))
    if kind == "moving":
        trace = tuple(
            TraceFrame(i / 10, 10 * math.sin(i / 5), None if 20 <= i < 25 else leg)
            for i in range(100)
        )
    elif kind == "unseen":
        trace = (TraceFrame(0.0, None, None),)
    else:
        trace = ()
    rec = SessionRecord(
        id=f"replay-{kind}",
        patient_id=None,
        exercise_id="toe_lift",
        exercise_name="Toe lift",
        source=SessionSource.VIDEO,
        started_at=datetime(2026, 3, 2, 10, tzinfo=UTC),
        unit=Unit.PCT_SHANK,
        dose=DoseRecord(sets=1, reps=10, hold_s=0.0, rest_s=30.0),
        reps=(RepRecord(1, 1, 1.0, 3.0, 12.0, 12.0, 0.0, True),),
        trace=trace,
    )
    render_replay(rec, key=kind)


@pytest.mark.parametrize(
    ("kind", "caption"), [("moving", False), ("unseen", True), ("empty", True)]
)
def test_page_renders_replay(kind: str, caption: bool) -> None:
    at = AppTest.from_function(_page, args=(kind,), default_timeout=60)
    at.run()
    assert not at.exception
    captions = [c.value for c in at.caption]
    assert (NO_MOVEMENT in captions) == caption
    mounted = at.get("bidi_component")
    assert len(mounted) == (0 if caption else 1)
    if mounted:
        proto = mounted[0].proto
        assert proto.component_name == "coach_replay"
        data = json.loads(proto.json)
        assert data["frames"] == 100 and data["points"][20] is None
        assert "__coachReplay" in proto.js_content
