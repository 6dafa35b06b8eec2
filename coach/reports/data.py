"""What a therapist's per-patient report shows, as typed data and pure helpers.

The PDF (`coach.reports.pdf`) and the CSV (`coach.reports.table`) are both drawn from one
`ReportData`, so the two can never disagree about a figure. Everything here is a pure
function of the records (`coach.records`) and the plan (`coach.prescription`): no
database, no clock (the report's "now" is `generated_at`). Dates are the clinic's local
dates: aware UTC datetimes are turned into local time with `.astimezone()`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta

from coach.prescription import Prescription
from coach.records import (
    GaitRecord,
    SessionRecord,
    SessionSummary,
    Unit,
    summarize,
)
from coach.trends import (
    Change,
    TrendPoint,
    WeekAdherence,
    adherence,
    change_vs_baseline,
    exercise_trend,
    week_start,
)

UNIT_LABELS: dict[str, str] = {Unit.DEG: "°", Unit.PCT_SHANK: "% of shin length"}
"""How a counted signal's unit is written for a reader (the ids stay in the CSV)."""

NOT_MEASURED_DEG = "not measured (camera not side-on)"
"""Shown instead of a clinical angle: degrees are only measured with a side-on camera."""


@dataclass(frozen=True, slots=True)
class ReportData:
    """Everything one report shows, gathered by the caller (the page or the CLI)."""

    patient_name: str
    patient_id: str
    affected_side: str | None
    therapist_name: str
    period_start: date | None
    """None: since the patient's first session."""
    period_end: date
    generated_at: datetime
    plan: tuple[Prescription, ...]
    """The active prescriptions."""
    exercise_names: Mapping[str, str]
    """Exercise id -> the name shown."""
    sessions: tuple[SessionRecord, ...]
    """The sessions in the period, oldest first."""
    gait: tuple[GaitRecord, ...] = ()
    notes: tuple[tuple[datetime, str], ...] = ()
    """The therapist's notes: (when written, text)."""


def local_date(moment: datetime) -> date:
    """The clinic's calendar date of a moment (stored moments are aware UTC)."""
    return moment.astimezone().date()


def exercise_name(data: ReportData, exercise_id: str, fallback: str | None = None) -> str:
    """The name to show for an exercise: the report's names, else the session's, else the
    id made readable (a raw id is never shown)."""
    return (
        data.exercise_names.get(exercise_id)
        or fallback
        or exercise_id.replace("_", " ").capitalize()
    )


def report_weeks(data: ReportData) -> list[date]:
    """The Mondays of every ISO week the period touches (and of any session's week)."""
    session_days = [local_date(s.started_at) for s in data.sessions]
    first = data.period_start or min(session_days, default=None)
    mondays = {week_start(d) for d in session_days}
    if first is not None:
        monday, last = week_start(first), week_start(data.period_end)
        while monday <= last:
            mondays.add(monday)
            monday += timedelta(days=7)
    return sorted(mondays)


def weekly_adherence(data: ReportData) -> list[WeekAdherence]:
    """Sessions done against sessions planned, by ISO week, oldest first, for every week
    the period touches: `coach.trends.adherence` (the dashboard's figures) over the
    report's weeks. With no start and no sessions there is no period, so no weeks."""
    mondays = report_weeks(data)
    if not mondays:
        return []
    weeks = (week_start(data.period_end) - mondays[0]).days // 7 + 1
    return adherence(data.sessions, data.plan, today=data.period_end, weeks=weeks)


@dataclass(frozen=True, slots=True)
class AdherenceTotal:
    done: int
    planned: int

    @property
    def percent(self) -> float | None:
        """Done as a share of planned (None: nothing was planned)."""
        return 100.0 * self.done / self.planned if self.planned else None


def adherence_total(weeks: list[WeekAdherence]) -> AdherenceTotal:
    """Done over planned, each week capped at its plan (extra sessions one week do not
    make up for a missed one), as `coach.trends.adherence_share` counts."""
    return AdherenceTotal(sum(min(w.done, w.planned) for w in weeks), sum(w.planned for w in weeks))


@dataclass(frozen=True, slots=True)
class SessionPoint:
    """One session on an exercise's chart (sessions without reps have no point)."""

    day: date
    range_mean: float
    """Mean rep range, in the exercise row's unit."""
    rom_deg_mean: float | None
    """Mean clinical range in degrees over the reps seen side-on (None: none were)."""


@dataclass(frozen=True, slots=True)
class ExerciseRow:
    """One exercise's figures over the period, in its counted unit."""

    exercise_id: str
    name: str
    unit: Unit
    sessions: int
    reps_done: int
    reps_planned: int
    range_mean: float | None
    """Mean over every rep, in `unit`."""
    range_best: float | None
    rom_deg_mean: float | None
    """Mean clinical range in degrees over the reps seen side-on; None: not measured."""
    rom_deg_reps: int
    """How many reps had a clinical angle."""
    hold_targets_s: tuple[float, ...]
    """The hold times asked for (above 0), smallest first; empty: no hold asked."""
    holds_reached: int
    hold_reps: int
    """Reps done in sessions that asked for a hold (what `holds_reached` is out of)."""
    longest_hold_s: float
    points: tuple[SessionPoint, ...]
    range_points: tuple[TrendPoint, ...]
    """The counted range per session in `unit`, with its uncertainty band:
    `coach.trends.session_range` of the session's counted range (its clinical angles left
    out, so every session with reps has a point in the counted unit)."""
    degree_points: tuple[TrendPoint, ...]
    """The clinical angle per session, for the sessions `coach.trends.session_range` measures
    in degrees (seen side-on), with its uncertainty band."""
    change: Change | None
    """The latest sessions against the first ones (`coach.trends.change_vs_baseline` of the
    dashboard's trend); None with fewer than 2 sessions to compare."""

    @property
    def unit_label(self) -> str:
        return UNIT_LABELS[self.unit]


def counted_only(record: SessionRecord) -> SessionRecord:
    """`record` without its clinical angles, so `coach.trends.session_range` gives its
    counted range (in the session's unit) rather than its angle."""
    return replace(record, reps=tuple(replace(r, rom_deg=None) for r in record.reps))


def _exercise_row(data: ReportData, sessions: list[SessionRecord]) -> ExerciseRow:
    summaries: list[tuple[SessionRecord, SessionSummary]] = [(s, summarize(s)) for s in sessions]
    ranges = [r.range for s in sessions for r in s.reps]
    degs = [r.rom_deg for s in sessions for r in s.reps if r.rom_deg is not None]
    held = [(s, m) for s, m in summaries if m.holds_reached is not None]
    points = tuple(
        SessionPoint(local_date(s.started_at), m.range_mean, m.rom_deg_mean)
        for s, m in summaries
        if m.range_mean is not None
    )
    first = sessions[0]
    trend = exercise_trend(sessions, first.exercise_id)
    counted = exercise_trend([counted_only(s) for s in sessions], first.exercise_id)
    return ExerciseRow(
        exercise_id=first.exercise_id,
        name=exercise_name(data, first.exercise_id, first.exercise_name),
        unit=first.unit,
        sessions=len(sessions),
        reps_done=sum(m.reps for _, m in summaries),
        reps_planned=sum(m.planned_reps for _, m in summaries),
        range_mean=sum(ranges) / len(ranges) if ranges else None,
        range_best=max(ranges) if ranges else None,
        rom_deg_mean=sum(degs) / len(degs) if degs else None,
        rom_deg_reps=len(degs),
        hold_targets_s=tuple(sorted({m.hold_target_s for _, m in held})),
        holds_reached=sum(m.holds_reached or 0 for _, m in held),
        hold_reps=sum(m.reps for _, m in held),
        longest_hold_s=max((m.longest_hold_s for _, m in summaries), default=0.0),
        points=points,
        range_points=counted.points,
        degree_points=tuple(p for p in trend.points if p.measured_in_degrees),
        change=change_vs_baseline(trend),
    )


def exercise_rows(data: ReportData) -> list[ExerciseRow]:
    """One row per exercise done in the period (per exercise and unit, should an
    exercise's signal ever change): the plan's order first, then the others in the order
    they were first done. Planned exercises not done have no row (the plan table and the
    adherence show them)."""
    groups: dict[tuple[str, Unit], list[SessionRecord]] = {}
    for s in data.sessions:
        groups.setdefault((s.exercise_id, s.unit), []).append(s)
    order = {p.exercise_id: i for i, p in enumerate(data.plan)}
    keys = sorted(groups, key=lambda k: order.get(k[0], len(order)))
    return [_exercise_row(data, groups[k]) for k in keys]


def notable_cues(data: ReportData, top: int = 5) -> list[tuple[str, int]]:
    """The cues given most often over the period, (cue id, count), most first (ties by
    id, so the report is stable); words are made where shown (`coach.wording`)."""
    counts: Counter[str] = Counter()
    for s in data.sessions:
        counts.update(summarize(s).cue_counts)
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[: max(0, top)]


def period_label(data: ReportData) -> str:
    """The period in words; an open start is dated by the first session in it."""
    end = data.period_end.isoformat()
    if data.period_start is not None:
        return f"{data.period_start.isoformat()} to {end}"
    if data.sessions:
        first = min(local_date(s.started_at) for s in data.sessions)
        return f"{first.isoformat()} (first session) to {end}"
    return f"up to {end}"
