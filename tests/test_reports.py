"""The therapist's report: the PDF's content read back with pypdf, the CSV, and the
adherence figures computed independently of `coach.reports`."""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pypdf
import pytest
from fpdf.enums import TableCellStyle

from coach.prescription import Prescription
from coach.records import (
    CueRecord,
    DoseRecord,
    GaitRecord,
    RepRecord,
    SessionRecord,
    SessionSource,
    SessionStatus,
    Unit,
)
from coach.reports import (
    ReportData,
    build_csv,
    build_pdf,
    exercise_rows,
    notable_cues,
    weekly_adherence,
)
from coach.reports import pdf as pdf_module
from coach.reports.table import HEADER
from coach.trends import MEASUREMENT_ERROR_DEG, mdc95, session_range

PUMPS, RAISES = "ankle_pumps", "heel_raises"
NAMES = {PUMPS: "Seated ankle pumps", RAISES: "Standing heel raises"}
PLAN = (
    Prescription(PUMPS, sets=2, reps=10, per_week=5, notes="Slowly, full range."),
    Prescription(RAISES, sets=3, reps=8, hold_s=3.0, per_week=3, side="left"),
)


@pytest.fixture
def clinic_tz() -> Iterator[None]:
    """The clinic in India (UTC+5:30, no daylight saving): local dates differ from UTC
    dates in the evening, so the tests see the conversion."""
    mp = pytest.MonkeyPatch()
    mp.setenv("TZ", "Asia/Kolkata")
    time.tzset()
    yield
    mp.undo()
    time.tzset()


def utc(day: date, hour: int = 6, minute: int = 0) -> datetime:
    """06:00 UTC is 11:30 in the clinic: the same date in both."""
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)


def rep(i: int, unit: Unit, *, side_on: bool, hold_s: float = 0.0) -> RepRecord:
    base = 12.0 + i if unit is Unit.DEG else 18.0 + i / 2
    return RepRecord(
        number=i + 1,
        set_no=1 + i // 10,
        start_s=2.0 + 3.0 * i + 0.123456,
        end_s=4.0 + 3.0 * i,
        peak=base + 1.23456,
        range=base,
        hold_s=hold_s,
        reached_target=i % 3 != 0,
        peak_deg=base + 1.0 if side_on else None,
        rom_deg=base + 0.5 if side_on else None,
    )


def session(
    n: int,
    started_at: datetime,
    exercise: str = PUMPS,
    *,
    reps: int = 6,
    status: SessionStatus = SessionStatus.COMPLETED,
    cues: tuple[str, ...] = (),
) -> SessionRecord:
    pumps = exercise == PUMPS
    unit = Unit.DEG if pumps else Unit.PCT_SHANK
    dose = DoseRecord(sets=2, reps=10, hold_s=0.0 if pumps else 3.0, rest_s=30.0)
    return SessionRecord(
        id=f"s{n:04d}",
        patient_id="p1",
        exercise_id=exercise,
        exercise_name=NAMES.get(exercise, exercise),
        source=SessionSource.LIVE,
        started_at=started_at,
        unit=unit,
        dose=dose,
        status=status,
        duration_s=60.0,
        side="left",
        camera="side_on" if pumps else "oblique",
        reps=tuple(
            rep(i, unit, side_on=pumps, hold_s=0.0 if pumps else 2.0 + i % 3) for i in range(reps)
        ),
        cues=tuple(CueRecord(1.0 + k, c) for k, c in enumerate(cues)),
    )


MON = date(2026, 1, 5)  # a Monday
STATUSES = [
    # (day offset from MON, exercise, reps, status): counted when completed or
    # interrupted with a rep
    (0, PUMPS, 6, SessionStatus.COMPLETED),  # week 1: counted
    (1, RAISES, 5, SessionStatus.COMPLETED),  # counted
    (3, PUMPS, 4, SessionStatus.INTERRUPTED),  # counted
    (6, RAISES, 5, SessionStatus.COMPLETED),  # Sunday: counted in week 1
    (7, PUMPS, 0, SessionStatus.COMPLETED),  # week 2: no reps, not counted
    (8, PUMPS, 3, SessionStatus.IN_PROGRESS),  # never finished: not counted
    (9, RAISES, 6, SessionStatus.COMPLETED),  # counted
    (10, PUMPS, 6, SessionStatus.COMPLETED),  # counted
    (14, PUMPS, 2, SessionStatus.COMPLETED),  # week 3: counted
]
CUES = {0: ("knee_moving", "knee_moving", "not_far_enough"), 2: ("knee_moving",), 6: ("too_fast",)}


def sample(**changes: object) -> ReportData:
    sessions = tuple(
        session(n, utc(MON + timedelta(days=d)), ex, reps=r, status=st, cues=CUES.get(n, ()))
        for n, (d, ex, r, st) in enumerate(STATUSES)
    )
    data = ReportData(
        patient_name="Ada Lovelace",
        patient_id="p1",
        affected_side="left",
        therapist_name="Dr Grace Hopper",
        period_start=MON,
        period_end=MON + timedelta(days=20),
        generated_at=datetime(2026, 1, 26, 9, 0, tzinfo=UTC),
        plan=PLAN,
        exercise_names=NAMES,
        sessions=sessions,
        gait=(
            GaitRecord(
                "g1",
                "p1",
                utc(MON + timedelta(days=4)),
                30.0,
                steps=42,
                cadence_spm=96.44,
                flags=("low_toe_clearance",),
            ),
        ),
        notes=((utc(MON + timedelta(days=13)), "Progressing well; add a hold next week."),),
    )
    return replace(data, **changes)  # type: ignore[arg-type]


def pdf_text(pdf: bytes) -> tuple[str, int]:
    """All pages' text, whitespace collapsed (tables and wrapping split lines), and the
    page count."""
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    text = " ".join(page.extract_text() for page in reader.pages)
    return " ".join(text.split()), len(reader.pages)


# --- PDF


def test_pdf_shows_patient_plan_adherence_cues_gait_and_notes() -> None:
    data = sample(patient_id="0123abcd-internal")
    pdf = build_pdf(data)
    assert pdf.startswith(b"%PDF")
    text, pages = pdf_text(pdf)

    assert "Exercise report" in text
    assert "Ada Lovelace" in text and "Dr Grace Hopper" in text
    assert "2026-01-05 to 2026-01-25" in text
    for name in NAMES.values():
        assert name in text

    # adherence, computed here without coach.reports: 3 ISO weeks, 5 + 3 a week planned;
    # a session with at least one rep counts (one still in progress too), each week capped.
    counted = [s for s in data.sessions if s.reps]
    assert len(counted) == 4 + 3 + 1
    assert f"8 of 24 planned sessions done ({round(100 * 8 / 24)}%)" in text

    # cues in words, never ids; the gait flag readable
    assert "Knee moving" in text and "Not far enough" in text and "Too fast" in text
    assert "knee_moving" not in text and "not_far_enough" not in text
    assert "low toe clearance" in text and "96.4" in text
    assert "Progressing well; add a hold next week." in text
    # degrees shown for the side-on exercise; the oblique one says why there are none
    assert "not measured (camera not side-on)" in text
    assert "% of shin length" in text and "°" in text
    assert "Page 1 of " + str(pages) in text
    assert pages >= 2
    # no internal ids: the report may be handed to the patient (ids stay in the CSV)
    assert "(ID " not in text and "0123abcd" not in text
    assert not any(s.id in text for s in data.sessions)
    # the band in words under each chart, and the change for each exercise (both have
    # at least 2 sessions with reps)
    assert text.count("Shaded: measurement uncertainty (camera error and the spread") == 2
    assert text.count("Change from the first sessions:") == 2
    assert f"within the minimal detectable change ({mdc95('deg'):.1f}°)" in text
    # the adherence rule as coach.trends.adherence counts
    assert "Any session with at least one rep counts" in text
    assert "each week counts at most its planned sessions" in text
    assert "completed (or cut short)" not in text


def test_plan_hold_fallbacks() -> None:
    plan = (
        Prescription(PUMPS, sets=2, reps=10, per_week=5),  # no hold resolved
        Prescription(RAISES, sets=3, reps=8, hold_s=0.0, per_week=3),
    )
    text, _ = pdf_text(build_pdf(sample(plan=plan, sessions=())))
    assert "as defined" not in text
    assert "2 x 10 - 5" in text and "3 x 8 none 3" in text


def test_tables_after_a_chart_are_not_filled_in_its_colour(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """fpdf2 starts a table's cells from the current fill colour: after a chart that is
    the series' colour, unless the table sets its own."""
    fills: list[tuple[float, ...] | None] = []
    draw = TableCellStyle.draw_cell_border

    def record(self: TableCellStyle, pdf: object, *args: object, **kw: object) -> None:
        colour: Any = kw.get("fill_color")
        fills.append(None if colour is None else tuple(round(255 * c) for c in colour.colors))
        draw(self, pdf, *args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(TableCellStyle, "draw_cell_border", record)
    build_pdf(sample())
    assert fills  # the plan, adherence, exercise, cue and gait tables
    allowed = {None, pdf_module.WHITE, pdf_module.TABLE_HEADER_FILL}
    assert set(fills) <= allowed, set(fills) - allowed
    assert not set(fills) & set(pdf_module.SERIES_COLOURS)


def test_change_line_says_whether_it_is_detectable() -> None:
    # ankle pumps whose clinical range grows by 10° a session: larger than the MDC
    grown = tuple(
        replace(
            session(n, utc(MON + timedelta(days=n))),
            reps=tuple(
                replace(r, rom_deg=r.rom_deg + 10.0 * n)  # type: ignore[operator]
                for r in session(n, utc(MON)).reps
            ),
        )
        for n in range(4)
    )
    row = exercise_rows(sample(sessions=grown))[0]
    assert row.change is not None and row.change.detectable and row.change.n_baseline == 2
    text, _ = pdf_text(build_pdf(sample(sessions=grown)))
    assert f"larger than the minimal detectable change of {mdc95('deg'):.1f}°: better" in text
    assert "+20.0°" in text  # mean of the last 2 minus the first 2

    one = sample(sessions=(session(1, utc(MON)),))
    assert exercise_rows(one)[0].change is None
    text, _ = pdf_text(build_pdf(one))
    assert "Change from the first sessions: needs at least 2 sessions" in text


def test_empty_period_says_so() -> None:
    pdf = build_pdf(sample(sessions=(), gait=(), notes=()))
    text, _ = pdf_text(pdf)
    assert "No sessions in this period." in text
    assert "0 of 24 planned sessions done (0%)" in text
    assert "Page 1 of 1" in text or "Page 1 of 2" in text


def test_empty_report_with_open_start_and_no_plan() -> None:
    text, _ = pdf_text(
        build_pdf(sample(sessions=(), gait=(), notes=(), plan=(), period_start=None))
    )
    assert "No sessions in this period." in text and "No active prescriptions." in text


def test_one_session_draws_a_one_point_chart() -> None:
    data = sample(sessions=(session(1, utc(MON), RAISES, reps=4),))
    text, _ = pdf_text(build_pdf(data))
    assert "Standing heel raises" in text and "Range per session" in text
    assert "1 of 24 planned sessions done (4%)" in text


HOSTILE = "Zoë 😀👍🏽 محمد 王小明 \"<script>alert('x')</script>\" O'Brien =SUM(A1)"
NOTE = "<b>Bold?</b> \"double\" and 'single' quotes ❤️ 中文 & done"


@pytest.mark.parametrize("fonts", ["dejavu", "core"])
def test_hostile_text_does_not_crash_and_ascii_survives(
    fonts: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if fonts == "core":  # no DejaVu anywhere: Helvetica with "?" for what it lacks
        monkeypatch.setenv("COACH_FONT_DIR", str(tmp_path))
        monkeypatch.setattr(pdf_module, "SYSTEM_FONT_DIR", tmp_path)
    elif pdf_module.font_files() is None:
        pytest.skip("DejaVu Sans not installed (apt-get install fonts-dejavu-core)")
    long_word = "x" * 700
    data = sample(
        patient_name=HOSTILE + " " + long_word,
        therapist_name="Ünïcödé \u202eevil\u202c\x00\x07 therapist",
        notes=((utc(MON), NOTE + "\n" + "A long note. " * 150 + long_word),),
        exercise_names={PUMPS: HOSTILE, RAISES: "Heel raises " * 20},
    )
    pdf = build_pdf(data)
    text, pages = pdf_text(pdf)
    # (pypdf reorders the text next to the right-to-left name, so only pieces are checked)
    assert "alert('x')</script>" in text and "O'Brien" in text and "=SUM(A1)" in text
    assert "<b>Bold?</b> \"double\" and 'single' quotes" in text and "& done" in text
    assert "therapist" in text and "A long note." in text
    if fonts == "dejavu":
        assert "Zoë" in text
    else:
        assert "Zo" in text and "?" in text
    # nothing drawn off the page: every piece of text starts inside the paper
    starts: list[float] = []

    def record_start(text: str, cm: list[float], tm: list[float], *_: object) -> None:
        starts.append(tm[4] * cm[0] + cm[4])

    reader = pypdf.PdfReader(io.BytesIO(pdf))
    for page in reader.pages:
        page.extract_text(visitor_text=record_start)
    width = float(reader.pages[0].mediabox.width)
    assert starts and all(0 <= x <= width for x in starts)
    assert pages < 20


def test_two_hundred_sessions_fit_in_a_few_pages() -> None:
    sessions = tuple(
        session(n, utc(MON + timedelta(days=n // 2)), PUMPS if n % 2 else RAISES, reps=10)
        for n in range(200)
    )
    data = sample(sessions=sessions, period_end=MON + timedelta(days=99))
    text, pages = pdf_text(build_pdf(data))
    # 200 sessions, 14 a week, over 15 weeks of an 8-a-week plan: each week counts at most
    # its 8; the last week (2 days, 4 sessions) counts 4.
    assert "116 of 120 planned sessions done (97%)" in text
    assert pages <= 6


# --- CSV


def test_csv_has_one_rounded_row_per_rep_and_neutralises_formulas() -> None:
    names = {PUMPS: '=HYPERLINK("http://evil","click")', RAISES: "@SUM(1+1)"}
    data = sample(exercise_names=names)
    rows = list(csv.reader(io.StringIO(build_csv(data))))
    assert tuple(rows[0]) == HEADER
    assert len(rows) - 1 == sum(len(s.reps) for s in data.sessions)

    records = [dict(zip(HEADER, r, strict=True)) for r in rows[1:]]
    assert {r["exercise_name"] for r in records} == {"'" + n for n in names.values()}
    first = records[0]
    assert first["date"] == "2026-01-05" and first["session_id"] == "s0000"
    assert first["unit"] == "deg" and first["source"] == "live"
    assert first["start_s"] == "2.123"  # t_s: 3 decimals
    assert first["peak"] == "13.2"  # deg: 1 decimal (13.23456)
    assert first["rom_deg"] == "12.5" and first["tempo_s"] == "1.88"  # s: 2 decimals
    assert first["reached_target"] == "0"
    raises = next(r for r in records if r["exercise_id"] == RAISES)
    assert raises["unit"] == "pct_shank" and raises["rom_deg"] == "" and raises["peak_deg"] == ""


def test_csv_of_an_empty_period_is_the_header() -> None:
    assert build_csv(sample(sessions=())) == ",".join(HEADER) + "\n"


# --- the figures behind the report


def test_exercise_rows_and_cues() -> None:
    rows = {r.exercise_id: r for r in exercise_rows(sample())}
    pumps, raises = rows[PUMPS], rows[RAISES]
    assert [r.exercise_id for r in exercise_rows(sample())] == [PUMPS, RAISES]  # plan order
    assert pumps.sessions == 6 and pumps.reps_done == 6 + 4 + 0 + 3 + 6 + 2
    assert pumps.rom_deg_mean is not None and pumps.unit_label == "°"
    assert raises.rom_deg_mean is None and raises.unit_label == "% of shin length"
    assert raises.hold_targets_s == (3.0,) and raises.hold_reps == 16
    # holds 2, 3, 4, 2, 3, ... s against 3 s: 3 and 4 reach it
    assert raises.holds_reached == sum(2 + i % 3 >= 3 for n in (5, 5, 6) for i in range(n))
    assert len(pumps.points) == 5  # the 0-rep session has no point
    # chart bands are coach.trends' (per session), not a constant of the PDF's own
    assert len(pumps.range_points) == len(pumps.degree_points) == 5
    assert all(p.measured_in_degrees and p.unit == "deg" for p in pumps.degree_points)
    assert all(not p.measured_in_degrees for p in pumps.range_points)
    assert raises.degree_points == () and len(raises.range_points) == 3
    assert all(p.unit == "pct_shank" for p in raises.range_points)
    first = next(s for s in sample().sessions if s.exercise_id == PUMPS)
    assert pumps.degree_points[0] == session_range(first)
    widths = {round(p.high - p.low, 6) for p in pumps.range_points}
    assert len(widths) > 1  # the spread between reps varies the band per session
    assert all(p.high - p.low >= 2 * MEASUREMENT_ERROR_DEG for p in pumps.range_points)
    assert not hasattr(pdf_module, "DEG_UNCERTAINTY")
    assert not hasattr(pdf_module, "PCT_SHANK_UNCERTAINTY")
    assert notable_cues(sample()) == [("knee_moving", 3), ("not_far_enough", 1), ("too_fast", 1)]
    assert notable_cues(sample(), top=1) == [("knee_moving", 3)]


def W(day: date, done: int, planned: int = 8) -> tuple[date, int, int]:
    return (day, done, planned)


DONE = SessionStatus.COMPLETED


@pytest.mark.parametrize(
    ("sessions", "start", "end", "expected"),
    [
        pytest.param(  # 18:00 UTC Sunday is 23:30 Sunday in the clinic; 19:00 is Monday
            [(utc(date(2026, 1, 11), 18), 3, DONE), (utc(date(2026, 1, 11), 19), 3, DONE)],
            date(2026, 1, 5),
            date(2026, 1, 18),
            [W(date(2026, 1, 5), 1), W(date(2026, 1, 12), 1)],
            id="sunday-night-vs-monday-local",
        ),
        pytest.param(  # 20:00 UTC on Sunday 4 Jan is already Monday 5 Jan in the clinic
            [(utc(date(2026, 1, 4), 20), 3, DONE)],
            date(2026, 1, 5),
            date(2026, 1, 11),
            [W(date(2026, 1, 5), 1)],
            id="utc-sunday-is-local-monday",
        ),
        pytest.param(
            [
                (utc(date(2026, 1, 6)), 0, DONE),
                (utc(date(2026, 1, 6)), 2, SessionStatus.IN_PROGRESS),
                (utc(date(2026, 1, 7)), 1, SessionStatus.INTERRUPTED),
                (utc(date(2026, 1, 8)), 5, DONE),
            ],
            date(2026, 1, 5),
            date(2026, 1, 11),
            [W(date(2026, 1, 5), 3)],
            id="zero-reps-not-counted",
        ),
        pytest.param(
            [(utc(date(2026, 12, 31)), 4, DONE), (utc(date(2027, 1, 1)), 4, DONE)],
            date(2026, 12, 28),
            date(2027, 1, 3),
            [W(date(2026, 12, 28), 2)],
            id="iso-week-across-new-year",
        ),
        pytest.param(
            [(utc(date(2026, 1, 14)), 4, DONE)],
            None,
            date(2026, 1, 25),
            [W(date(2026, 1, 12), 1), W(date(2026, 1, 19), 0)],
            id="open-start-begins-at-first-session",
        ),
        pytest.param(
            [],
            date(2026, 1, 7),
            date(2026, 1, 19),
            [W(date(2026, 1, 5), 0), W(date(2026, 1, 12), 0), W(date(2026, 1, 19), 0)],
            id="partial-weeks-planned-in-full",
        ),
        pytest.param([], None, date(2026, 1, 19), [], id="no-start-no-sessions"),
    ],
)
def test_weekly_adherence(
    clinic_tz: None,
    sessions: list[tuple[datetime, int, SessionStatus]],
    start: date | None,
    end: date,
    expected: list[tuple[date, int, int]],
) -> None:
    records = tuple(
        session(n, at, reps=reps, status=status) for n, (at, reps, status) in enumerate(sessions)
    )
    data = sample(sessions=records, period_start=start, period_end=end)
    got = [(w.week_start, w.done, w.planned) for w in weekly_adherence(data)]
    assert got == expected


def test_report_dates_are_the_clinics(clinic_tz: None) -> None:
    late = utc(date(2026, 1, 11), 20)  # Monday 01:30 in the clinic
    data = sample(sessions=(session(0, late),), period_start=None)
    assert build_csv(data).splitlines()[1].startswith("2026-01-12,")
    text, _ = pdf_text(build_pdf(data))
    assert "2026-01-12 (first session) to 2026-01-25" in text
