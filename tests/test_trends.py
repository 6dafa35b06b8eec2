"""Trends over sessions: adherence weeks, range/hold trends with bands, MDC95 changes."""

from __future__ import annotations

import math
import os
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, timedelta

import pytest

from coach import trends
from coach.prescription import Prescription
from coach.records import (
    CueRecord,
    DoseRecord,
    GaitRecord,
    RepRecord,
    SessionRecord,
    SessionSource,
    Unit,
)
from coach.trends import (
    Change,
    GaitPoint,
    Trend,
    TrendPoint,
    WeekAdherence,
    adherence,
    adherence_share,
    change_vs_baseline,
    exercise_trend,
    gait_trend,
    hold_trend,
    recent_cues,
)

NAN = float("nan")
MON = date(2026, 3, 2)  # a Monday
"""Weeks in these tests start on MON - 7 days, MON, MON + 7 days ..."""


def rep(
    range_: float = 10.0, rom_deg: float | None = None, hold_s: float = 0.0, number: int = 1
) -> RepRecord:
    return RepRecord(
        number=number,
        set_no=1,
        start_s=number * 3.0,
        end_s=number * 3.0 + 2.0,
        peak=range_,
        range=range_,
        hold_s=hold_s,
        reached_target=True,
        peak_deg=rom_deg,
        rom_deg=rom_deg,
    )


def session(
    started_at: datetime,
    reps: Sequence[RepRecord] = (),
    *,
    exercise_id: str = "toe_lift",
    unit: Unit = Unit.PCT_SHANK,
    cues: Sequence[str] = (),
    sid: str = "",
) -> SessionRecord:
    return SessionRecord(
        id=sid or started_at.isoformat(),
        patient_id="p1",
        exercise_id=exercise_id,
        exercise_name=exercise_id,
        source=SessionSource.LIVE,
        started_at=started_at,
        unit=unit,
        dose=DoseRecord(sets=1, reps=10, hold_s=0.0, rest_s=30.0),
        reps=tuple(reps),
        cues=tuple(CueRecord(1.0, c) for c in cues),
    )


def at(day: date, hour: int = 10, minute: int = 0) -> datetime:
    """A naive datetime: local time, as `astimezone` reads it."""
    return datetime(day.year, day.month, day.day, hour, minute)


def rx(per_week: int, set_at: datetime | None = None, active: bool = True) -> Prescription:
    return Prescription(
        "toe_lift", sets=1, reps=10, per_week=per_week, set_at=set_at, active=active
    )


# --- adherence ---------------------------------------------------------------------------

SUN = MON - timedelta(days=1)


@pytest.mark.parametrize(
    ("started", "plan", "today", "weeks", "expected"),
    [
        # Sunday 23:59 belongs to the week before; Monday 00:00 starts a new one.
        (
            [at(SUN, 23, 59), at(MON, 0, 0)],
            [rx(3)],
            MON + timedelta(days=3),
            2,
            [(MON - timedelta(days=7), 1, 3), (MON, 1, 3)],
        ),
        # `today` on a Sunday is still in the week starting 6 days before.
        ([at(SUN, 9)], [rx(2)], SUN, 1, [(MON - timedelta(days=7), 1, 2)]),
        # A prescription added mid-period counts from its own week on (its Monday too).
        (
            [at(MON - timedelta(days=7)), at(MON + timedelta(days=8))],
            [rx(3), rx(2, set_at=at(MON + timedelta(days=10)))],
            MON + timedelta(days=10),
            3,
            [(MON - timedelta(days=7), 1, 3), (MON, 0, 3), (MON + timedelta(days=7), 1, 5)],
        ),
        # A prescription set after the period plans nothing in it; an inactive one never.
        (
            [],
            [rx(4, set_at=at(MON + timedelta(days=30))), rx(5, active=False)],
            MON,
            1,
            [(MON, 0, 0)],
        ),
        # Sessions outside the weeks asked for, and in the future, are not counted.
        (
            [at(MON - timedelta(days=8)), at(MON + timedelta(days=9))],
            [rx(1)],
            MON,
            1,
            [(MON, 0, 1)],
        ),
        ([at(MON)], [rx(1)], MON, 0, []),
    ],
    ids=["sun-mon", "today-sunday", "added-mid-period", "future-inactive", "outside", "no-weeks"],
)
def test_adherence_weeks(
    started: list[datetime],
    plan: list[Prescription],
    today: date,
    weeks: int,
    expected: list[tuple[date, int, int]],
) -> None:
    sessions = [session(t, [rep()]) for t in started]
    got = adherence(sessions, plan, today=today, weeks=weeks)
    assert [(w.week_start, w.done, w.planned) for w in got] == expected
    assert all(w.week_start.weekday() == 0 and w.week_end.weekday() == 6 for w in got)
    assert [w.current for w in got] == [i == len(got) - 1 for i in range(len(got))]


@pytest.mark.parametrize(
    ("reps_per_session", "done"),
    [([0], 0), ([0, 0, 3], 1), ([1, 2], 2)],
    ids=["only-empty", "empty-and-one", "two"],
)
def test_sessions_without_reps_are_not_done(reps_per_session: list[int], done: int) -> None:
    sessions = [
        session(at(MON, 9 + i), [rep(number=k + 1) for k in range(n)])
        for i, n in enumerate(reps_per_session)
    ]
    (week,) = adherence(sessions, [rx(3)], today=MON, weeks=1)
    assert week.done == done


@pytest.fixture
def berlin_time() -> Iterator[None]:
    old = os.environ.get("TZ")
    os.environ["TZ"] = "Europe/Berlin"
    time.tzset()
    yield
    if old is None:
        os.environ.pop("TZ", None)
    else:
        os.environ["TZ"] = old
    time.tzset()


@pytest.mark.usefixtures("berlin_time")
def test_week_uses_local_date_of_an_aware_time() -> None:
    """23:30 UTC on a Sunday is 00:30 on Monday in Berlin: that Monday's week."""
    late_sunday_utc = datetime(SUN.year, SUN.month, SUN.day, 23, 30, tzinfo=UTC)
    got = adherence([session(late_sunday_utc, [rep()])], [rx(1)], today=MON, weeks=2)
    assert [(w.week_start, w.done) for w in got] == [(MON - timedelta(days=7), 0), (MON, 1)]


@pytest.mark.parametrize(
    ("done", "planned", "share"),
    [(0, 3, 0.0), (2, 4, 0.5), (3, 3, 1.0), (9, 3, 1.0), (2, 0, None), (0, 0, None)],
)
def test_week_share_is_capped_and_defined(done: int, planned: int, share: float | None) -> None:
    assert WeekAdherence(MON, done, planned).share == share


@pytest.mark.parametrize(
    ("weeks", "include_current", "expected"),
    [
        ([(5, 3, False), (1, 4, True)], True, 4 / 7),  # the extra 2 do not make up week 2
        ([(5, 3, False), (1, 4, True)], False, 1.0),
        ([(0, 0, False), (1, 2, True)], True, 0.5),  # a week with no plan is left out
        ([(2, 0, False), (0, 0, True)], True, None),
        ([], True, None),
    ],
    ids=["capped", "without-current", "unplanned-week", "nothing-planned", "empty"],
)
def test_adherence_share(
    weeks: list[tuple[int, int, bool]], include_current: bool, expected: float | None
) -> None:
    rows = [
        WeekAdherence(MON + timedelta(weeks=i), d, p, current=c)
        for i, (d, p, c) in enumerate(weeks)
    ]
    got = adherence_share(rows, include_current=include_current)
    if expected is None:
        assert got is None
    else:
        assert got == pytest.approx(expected)


# --- exercise and hold trends ------------------------------------------------------------


def band(values: Sequence[float], error: float) -> float:
    n = len(values)
    mean = sum(values) / n
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else 0.0
    return math.hypot(error, sd / math.sqrt(n))


@pytest.mark.parametrize(
    ("unit", "reps", "value", "out_unit", "degrees", "n", "error_values"),
    [
        # Side-on: every rep has a clinical angle -> degrees.
        (Unit.DEG, [(8, 10.0), (8, 14.0)], 12.0, "deg", True, 2, (5.0, [10.0, 14.0])),
        # Half the reps side-on is enough for degrees (mean over those that have it).
        (
            Unit.PCT_SHANK,
            [(20, 10.0), (22, None), (24, 16.0), (26, None)],
            13.0,
            "deg",
            True,
            2,
            (5.0, [10.0, 16.0]),
        ),
        # Fewer than half: the counted range in the session's unit.
        (
            Unit.PCT_SHANK,
            [(20, 10.0), (22, None), (24, None), (26, None)],
            23.0,
            "pct_shank",
            False,
            4,
            (3.0, [20.0, 22.0, 24.0, 26.0]),
        ),
        # A degree-counted exercise seen obliquely: degrees, but not the clinical angle.
        (Unit.DEG, [(9, None), (11, None)], 10.0, "deg", False, 2, (5.0, [9.0, 11.0])),
        # One rep: no spread, the band is the camera error alone.
        (Unit.PCT_SHANK, [(15, None)], 15.0, "pct_shank", False, 1, (3.0, [15.0])),
        # NaN and None never reach the mean.
        (
            Unit.DEG,
            [(8, NAN), (8, 12.0), (8, 14.0), (NAN, None)],
            13.0,
            "deg",
            True,
            2,
            (5.0, [12.0, 14.0]),
        ),
    ],
    ids=["side-on", "half-side-on", "mostly-oblique", "deg-oblique", "one-rep", "nan"],
)
def test_exercise_trend_point(
    unit: Unit,
    reps: list[tuple[float, float | None]],
    value: float,
    out_unit: str,
    degrees: bool,
    n: int,
    error_values: tuple[float, list[float]],
) -> None:
    s = session(at(MON), [rep(r, d, number=i + 1) for i, (r, d) in enumerate(reps)], unit=unit)
    (p,) = exercise_trend([s], "toe_lift").points
    half = band(error_values[1], error_values[0])
    assert (p.value, p.unit, p.measured_in_degrees, p.n_reps) == (
        pytest.approx(value),
        out_unit,
        degrees,
        n,
    )
    assert (p.low, p.high) == (pytest.approx(value - half), pytest.approx(value + half))
    assert p.started_at == s.started_at and p.session_id == s.id


def test_exercise_trend_orders_filters_and_skips_empty_sessions() -> None:
    sessions = [
        session(at(MON, 12), [rep(30)], sid="late"),
        session(at(MON, 8), [rep(10)], sid="early"),
        session(at(MON, 9), [], sid="empty"),
        session(at(MON, 10), [rep(NAN)], sid="all-nan"),
        session(at(MON, 11), [rep(50)], exercise_id="heel_raise", sid="other"),
    ]
    trend = exercise_trend(sessions, "toe_lift")
    assert [p.session_id for p in trend.points] == ["early", "late"]
    assert trend.unit == "pct_shank"
    assert exercise_trend([], "toe_lift") == Trend("toe_lift", ())
    assert exercise_trend([], "toe_lift").unit is None


@pytest.mark.parametrize(
    ("holds", "value", "half"),
    [
        ([5.0], 5.0, 0.0),
        ([4.0, 6.0], 5.0, 1.0),  # SD √2 over √2 reps
        ([4.0, NAN, 6.0], 5.0, 1.0),
    ],
)
def test_hold_trend(holds: list[float], value: float, half: float) -> None:
    s = session(at(MON), [rep(hold_s=h, number=i + 1) for i, h in enumerate(holds)])
    (p,) = hold_trend([s, session(at(MON, 11))], "toe_lift").points
    assert (p.value, p.unit, p.measured_in_degrees) == (pytest.approx(value), "s", False)
    assert (p.low, p.high) == (pytest.approx(value - half), pytest.approx(value + half))


# --- change against baseline -------------------------------------------------------------


def trend_of(values: Sequence[float], units: Sequence[str] | None = None) -> Trend:
    units = units or ["deg"] * len(values)
    points = tuple(
        TrendPoint(at(MON) + timedelta(days=i), v, v - 1, v + 1, 5, u, u == "deg")
        for i, (v, u) in enumerate(zip(values, units, strict=True))
    )
    return Trend("toe_lift", points)


def test_mdc95_constants_match_the_clinical_notes() -> None:
    """clinical.md: MDC95 about 4.6° (inclinometer), video angles 5-7° MAE."""
    assert 4.6 <= trends.mdc95("deg") <= 7.0
    assert trends.mdc95("deg") == pytest.approx(1.96 * math.sqrt(2) * trends.SEM_DEG)
    assert trends.mdc95("pct_shank") == pytest.approx(1.96 * math.sqrt(2) * 1.5)


@pytest.mark.parametrize(
    ("values", "units", "expected"),
    [
        ([], None, None),
        ([10.0], None, None),  # one session: nothing to compare
        ([10.0, 20.0], None, (10.0, 20.0, 1, True, "better")),
        ([10.0, 15.0], None, (10.0, 15.0, 1, False, "no detectable change")),
        ([20.0, 10.0], None, (20.0, 10.0, 1, True, "worse")),
        ([10.0, 12.0, 14.0, 16.0, 18.0], None, (11.0, 17.0, 2, False, "no detectable change")),
        ([10, 11, 12, 13, 14, 19, 20, 21], None, (11.0, 20.0, 3, True, "better")),
        # Lifts: MDC95 about 4.2 points.
        ([10.0, 15.0], ["pct_shank"] * 2, (10.0, 15.0, 1, True, "better")),
        ([10.0, 13.0], ["pct_shank"] * 2, (10.0, 13.0, 1, False, "no detectable change")),
        # Only sessions in the latest unit are compared; too few of them: no change.
        ([10.0, 40.0, 30.0], ["deg", "pct_shank", "pct_shank"], (40.0, 30.0, 1, True, "worse")),
        ([10.0, 12.0, 30.0], ["deg", "deg", "pct_shank"], None),
        ([10.0, NAN, 20.0], None, (10.0, 20.0, 1, True, "better")),
    ],
    ids=[
        "empty",
        "one",
        "two-better",
        "two-within-mdc",
        "two-worse",
        "five-k2",
        "eight-k3",
        "pct-detectable",
        "pct-not",
        "unit-switch",
        "unit-switch-too-few",
        "nan-skipped",
    ],
)
def test_change_vs_baseline(
    values: list[float],
    units: list[str] | None,
    expected: tuple[float, float, int, bool, str] | None,
) -> None:
    got = change_vs_baseline(trend_of(values, units))
    if expected is None:
        assert got is None
        return
    baseline, latest, k, detectable, direction = expected
    assert isinstance(got, Change)
    assert (got.baseline, got.latest) == (pytest.approx(baseline), pytest.approx(latest))
    assert got.delta == pytest.approx(latest - baseline)
    assert (got.n_baseline, got.n_latest, got.detectable, got.direction) == (
        k,
        k,
        detectable,
        direction,
    )
    assert got.mdc95 == pytest.approx(trends.mdc95(got.unit))


def test_change_on_hold_trend_and_from_sessions() -> None:
    sessions = [
        session(at(MON + timedelta(days=d)), [rep(hold_s=h), rep(hold_s=h, number=2)])
        for d, h in enumerate([2.0, 2.0, 5.0, 5.0])
    ]
    change = change_vs_baseline(hold_trend(sessions, "toe_lift"))
    assert change is not None and change.unit == "s" and change.direction == "better"
    assert change_vs_baseline(exercise_trend(sessions[:1], "toe_lift")) is None


# --- cues and gait -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("top", "since", "expected"),
    [
        (5, None, [("knee_bent", 3), ("too_fast", 3), ("heel_up", 1)]),
        (2, None, [("knee_bent", 3), ("too_fast", 3)]),
        (0, None, []),
        (5, at(MON, 12), [("too_fast", 2)]),
        (5, MON + timedelta(days=1), [("too_fast", 2)]),
        (5, MON, [("knee_bent", 3), ("too_fast", 3), ("heel_up", 1)]),
        (5, MON + timedelta(days=5), []),
    ],
    ids=["all", "top2", "top0", "since-datetime", "since-date", "since-same-day", "none-since"],
)
def test_recent_cues(top: int, since: datetime | date | None, expected: list) -> None:
    sessions = [
        session(at(MON, 9), cues=["knee_bent", "knee_bent", "too_fast", "heel_up", "knee_bent"]),
        session(at(MON + timedelta(days=1), 9), [rep()], cues=["too_fast", "too_fast"]),
        session(at(MON + timedelta(days=2), 9)),
    ]
    assert recent_cues(sessions, top=top, since=since) == expected


def test_gait_trend() -> None:
    def walk(day: date, cadence: float | None, steps: int, flags: tuple[str, ...] = ()):
        return GaitRecord(f"g{day}", "p1", at(day), 30.0, steps, cadence, flags)

    got = gait_trend(
        [
            walk(MON + timedelta(days=2), NAN, 4),
            walk(MON, 98.5, 40, ("low_toe_clearance",)),
            walk(MON + timedelta(days=1), None, 0),
        ]
    )
    assert got == [
        GaitPoint(MON, 98.5, 40, ("low_toe_clearance",)),
        GaitPoint(MON + timedelta(days=1), None, 0, ()),
        GaitPoint(MON + timedelta(days=2), None, 4, ()),
    ]
    assert got[0].cadence_spm == 98.5 and gait_trend([]) == []
