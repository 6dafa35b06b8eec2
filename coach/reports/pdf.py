"""The therapist's per-patient PDF report, drawn with fpdf2 from a `ReportData`.

A pure function of the data (`build_pdf(data) -> bytes`): no database, no clock, no
matplotlib; charts use fpdf2's own lines and shapes so the report needs nothing beyond
fpdf2 and a font. Text comes from patients and therapists (names, notes), so every
string is cleaned for the font in use: DejaVu Sans when found (most scripts), else the
core Helvetica with anything outside latin-1 shown as "?". A report never fails on text.
"""

from __future__ import annotations

import os
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from fpdf import FPDF
from fpdf.enums import XPos, YPos
from fpdf.fonts import FontFace

from coach.records import ROUNDING, Unit, rounded
from coach.reports.data import (
    NOT_MEASURED_DEG,
    ExerciseRow,
    ReportData,
    adherence_total,
    exercise_name,
    exercise_rows,
    local_date,
    notable_cues,
    period_label,
    weekly_adherence,
)
from coach.trends import Change, TrendPoint
from coach.wording import cue_label

FONT_DIR_ENV = "COACH_FONT_DIR"
SYSTEM_FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
"""Debian's fonts-dejavu-core."""
REGULAR_TTF, BOLD_TTF = "DejaVuSans.ttf", "DejaVuSans-Bold.ttf"

BODY_PT, SMALL_PT = 10, 8
LINE_MM = 5.0
CHART_H_MM = 48.0
EXERCISE_BLOCK_MM = CHART_H_MM + 90

INK = (30, 30, 30)
GREY = (120, 120, 120)
GRID = (225, 225, 225)
WHITE = (255, 255, 255)
TABLE_HEADER_FILL = (238, 238, 238)
TABLE_RULE = (160, 160, 160)
SERIES_COLOURS = ((31, 97, 168), (200, 90, 20))
"""Blue for the counted range, orange for the clinical angle (distinct in greyscale)."""


def font_files() -> tuple[Path, Path | None] | None:
    """DejaVu Sans (and its bold, if there) from `COACH_FONT_DIR`, else the system's;
    None when neither has it."""
    dirs = [Path(d) for d in [os.environ.get(FONT_DIR_ENV, "")] if d] + [SYSTEM_FONT_DIR]
    for folder in dirs:
        regular = folder / REGULAR_TTF
        if regular.is_file():
            bold = folder / BOLD_TTF
            return regular, bold if bold.is_file() else None
    return None


MODIFIERS = frozenset([*range(0xFE00, 0xFE10), *range(0x1F3FB, 0x1F400)])
"""Variation selectors and emoji skin tones: dropped, not shown as "?", when the font
lacks them (they only modify the character before)."""


class _Report(FPDF):
    """An A4 page with "Page N of M" at the foot, and text cleaned for its font."""

    def __init__(self) -> None:
        super().__init__(orientation="P", unit="mm", format="A4")
        self.set_margins(15, 15, 15)
        self.set_auto_page_break(auto=True, margin=18)
        self.text_family = "helvetica"
        self.glyphs: frozenset[int] | None = None
        """Code points every style of the font can draw (None: the latin-1 core font)."""
        files = font_files()
        if files is not None:
            try:
                self._add_unicode_font(*files)
            except Exception:  # a damaged font file: the core font still makes a report
                self.text_family, self.glyphs = "helvetica", None
        self.set_font(self.text_family, size=BODY_PT)
        self.set_text_color(*INK)

    def _add_unicode_font(self, regular: Path, bold: Path | None) -> None:
        self.add_font("dejavu", "", str(regular))
        self.add_font("dejavu", "B", str(bold or regular))
        maps = []
        for style in ("", "B"):
            self.set_font("dejavu", style)
            maps.append(set(self.current_font.cmap))  # type: ignore[union-attr]
        self.text_family, self.glyphs = "dejavu", frozenset(maps[0] & maps[1])

    def clean(self, text: object) -> str:
        """`text` as this font can draw it: control characters become spaces, characters
        it has no glyph for become "?" (joiners and variation selectors are dropped)."""
        out = []
        for ch in str(text).replace("\r\n", "\n"):
            code = ord(ch)
            if ch == "\n":
                out.append(ch)
            elif code < 32 or 0x7F <= code < 0xA0:
                out.append(" ")
            elif (code in self.glyphs) if self.glyphs is not None else code < 256:
                out.append(ch)
            elif unicodedata.category(ch) in ("Cf", "Mn", "Me") or code in MODIFIERS:
                continue
            else:
                out.append("?")
        return "".join(out)

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font(self.text_family, size=SMALL_PT)
        self.set_text_color(*GREY)
        self.cell(0, 6, f"Page {self.page_no()} of {{nb}}", align="C")
        self.set_text_color(*INK)

    # text blocks

    def heading(self, text: str, size: int = 14) -> None:
        if self.will_page_break(size * 0.6 + 20):
            self.add_page()
        self.ln(3)
        self.set_font(self.text_family, "B", size)
        self.multi_cell(0, size * 0.5, self.clean(text), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.set_font(self.text_family, "", BODY_PT)
        self.ln(1)

    def para(self, text: str, size: int = BODY_PT, bold: bool = False) -> None:
        self.set_font(self.text_family, "B" if bold else "", size)
        self.multi_cell(
            0, LINE_MM * size / BODY_PT, self.clean(text), new_x=XPos.LMARGIN, new_y=YPos.NEXT
        )
        self.set_font(self.text_family, "", BODY_PT)

    def grid(
        self, header: Sequence[str], rows: Sequence[Sequence[str]], widths: Sequence[float]
    ) -> None:
        """A table that wraps long cells and repeats its header on a new page.

        Its colours are set here every time (fpdf2 starts a table's cells from the current
        fill and text colours, which a chart leaves in its series' colours): rows white,
        the header light grey, grey rules, ink text."""
        self.set_font(self.text_family, "", SMALL_PT + 1)
        self.set_fill_color(*WHITE)
        self.set_draw_color(*TABLE_RULE)
        self.set_text_color(*INK)
        self.set_line_width(0.2)
        with self.table(
            col_widths=tuple(widths),
            line_height=4.5,
            text_align="LEFT",
            first_row_as_headings=True,
            borders_layout="HORIZONTAL_LINES",
            padding=1,
            headings_style=FontFace(emphasis="BOLD", color=INK, fill_color=TABLE_HEADER_FILL),
            cell_fill_color=WHITE,
            cell_fill_mode="ALL",
        ) as table:
            for values in [header, *rows]:
                row = table.row()
                for value in values:
                    row.cell(self.clean(value))
        self.set_font(self.text_family, "", BODY_PT)
        self.ln(2)


# numbers in words


def fmt(value: float | None, unit: str) -> str:
    """A number with the rounding policy's decimals for its unit ("-" when missing)."""
    v = rounded(value, unit)
    return "-" if v is None else f"{v:.{ROUNDING[unit]}f}"


def with_unit(value: float | None, unit: Unit) -> str:
    if value is None:
        return "-"
    if unit is Unit.DEG:
        return f"{fmt(value, 'deg')}°"
    return f"{fmt(value, unit.value)}% of shin length"


def seconds(value: float) -> str:
    text = fmt(value, "s").rstrip("0").rstrip(".")
    return f"{text} s"


def percent(done: int, planned: int) -> str:
    return f"{round(100 * done / planned)}%" if planned else "-"


# sections


def _header(pdf: _Report, data: ReportData) -> None:
    pdf.set_font(pdf.text_family, "B", 20)
    pdf.cell(0, 10, "Exercise report", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(2)
    generated = data.generated_at.astimezone().strftime("%Y-%m-%d %H:%M")
    side = data.affected_side or "not recorded"
    for label, value in (
        ("Patient", data.patient_name),  # no ids: the report may be handed to the patient
        ("Affected side", side),
        ("Therapist", data.therapist_name),
        ("Period", period_label(data)),
        ("Generated", generated),
    ):
        pdf.para(f"{label}: {value}")


def _plan(pdf: _Report, data: ReportData) -> None:
    pdf.heading("Plan")
    if not data.plan:
        pdf.para("No active prescriptions.")
        return
    affected = f"{data.affected_side} (affected)" if data.affected_side else "affected side"
    rows = [
        (
            exercise_name(data, p.exercise_id),
            f"{p.sets} x {p.reps}",
            "-" if p.hold_s is None else ("none" if p.hold_s == 0 else seconds(p.hold_s)),
            str(p.per_week),
            p.side or affected,
            p.notes or "",
        )
        for p in data.plan
    ]
    header = ("Exercise", "Sets x reps", "Hold", "Days a week", "Side", "Notes")
    pdf.grid(header, rows, (40, 20, 18, 18, 24, 60))


def _adherence(pdf: _Report, data: ReportData) -> None:
    pdf.heading("Adherence")
    weeks = weekly_adherence(data)
    total = adherence_total(weeks)
    if not weeks:
        pdf.para("No sessions in this period.")
        return
    if total.planned == 0:
        pdf.para(f"No sessions were planned; {total.done} sessions done.")
    else:
        pdf.para(
            f"{total.done} of {total.planned} planned sessions done "
            f"({percent(total.done, total.planned)}).",
            bold=True,
        )
    pdf.para(
        "Any session with at least one rep counts, and each week counts at most its planned "
        "sessions. Planned: the plan's days a week, summed over its exercises, each counted "
        "from the week it was prescribed.",
        size=SMALL_PT,
    )
    pdf.ln(1)
    rows = [
        (f"{w.week_start.isoformat()}", str(w.done), str(w.planned), percent(w.done, w.planned))
        for w in weeks
    ]
    pdf.grid(("Week of (Monday)", "Done", "Planned", "Done %"), rows, (60, 30, 30, 30))


BAND_WORDS = (
    "Dots: one per session. Shaded: measurement uncertainty (camera error and the spread "
    "between reps)."
)
"""Under each chart: what its band is (`coach.trends.session_range`'s band)."""


@dataclass(frozen=True, slots=True)
class ChartPoint:
    day: date
    value: float
    low: float
    high: float
    """The session's uncertainty band, `low`..`high`, in the series' unit."""


@dataclass(frozen=True, slots=True)
class Series:
    label: str
    points: tuple[ChartPoint, ...]


def chart_points(points: Sequence[TrendPoint]) -> tuple[ChartPoint, ...]:
    """`coach.trends` points on the clinic's calendar, each with its own band."""
    return tuple(ChartPoint(local_date(p.started_at), p.value, p.low, p.high) for p in points)


def _nice_step(span: float, ticks: int = 5) -> float:
    raw = max(span, 1e-9) / ticks
    magnitude = 10 ** _floor_log10(raw)
    for m in (1.0, 2.0, 2.5, 5.0, 10.0):
        if raw <= m * magnitude:
            return m * magnitude
    return 10 * magnitude


def _floor_log10(x: float) -> int:
    n = 0
    while x >= 10:
        x, n = x / 10, n + 1
    while x < 1:
        x, n = x * 10, n - 1
    return n


def _tick_label(value: float, step: float) -> str:
    return f"{value:.0f}" if step >= 1 else f"{value:.1f}"


def _chart(pdf: _Report, title: str, axis_unit: str, series: Sequence[Series]) -> None:
    """One line chart over dates: axes with labelled ticks, a line with a dot per
    session, each series' uncertainty as a shaded band."""
    series = [s for s in series if s.points]
    if not series:
        return
    if pdf.will_page_break(CHART_H_MM + 22):
        pdf.add_page()
    pdf.para(title, size=SMALL_PT + 1, bold=True)
    top = pdf.get_y() + 2
    left, right = pdf.l_margin + 14, pdf.w - pdf.r_margin - 2
    bottom = top + CHART_H_MM

    days = [p.day.toordinal() for s in series for p in s.points]
    d0, d1 = min(days), max(days)
    if d0 == d1:
        d0, d1 = d0 - 1, d1 + 1
    low = min(min(0.0, p.low, p.value) for s in series for p in s.points)
    high = max(max(p.high, p.value) for s in series for p in s.points)
    step = _nice_step(high - low)
    low = step * int(low // step)
    high = step * -int(-high // step)
    if high <= low:
        high = low + step

    def x_of(day: date) -> float:
        return left + (day.toordinal() - d0) / (d1 - d0) * (right - left)

    def y_of(value: float) -> float:
        return bottom - (value - low) / (high - low) * (bottom - top)

    pdf.set_font(pdf.text_family, "", SMALL_PT - 1)
    pdf.set_line_width(0.2)
    tick = low
    while tick <= high + step / 1000:
        y = y_of(tick)
        pdf.set_draw_color(*GRID)
        pdf.line(left, y, right, y)
        pdf.set_draw_color(*INK)
        pdf.line(left - 1, y, left, y)
        label = _tick_label(tick, step)
        pdf.text(left - 2 - pdf.get_string_width(label), y + 1, label)
        tick += step
    pdf.set_draw_color(*INK)
    pdf.line(left, top, left, bottom)
    pdf.line(left, bottom, right, bottom)
    pdf.text(pdf.l_margin, top - 1, pdf.clean(axis_unit))

    span = d1 - d0
    labels = 5 if span >= 4 else span + 1
    placed: set[int] = set()
    for i in range(labels):
        ordinal = d0 + round(i * span / max(1, labels - 1))
        if ordinal in placed:
            continue
        placed.add(ordinal)
        day = date.fromordinal(ordinal)
        x = x_of(day)
        pdf.line(x, bottom, x, bottom + 1)
        label = day.isoformat()
        pdf.text(x - pdf.get_string_width(label) / 2, bottom + 4, label)

    legend_y = bottom + 8
    legend_x = left
    for colour, s in zip(SERIES_COLOURS, series, strict=False):
        xy = [(x_of(p.day), y_of(p.value)) for p in s.points]
        pdf.set_fill_color(*colour)
        with pdf.local_context(fill_opacity=0.18):
            if len(xy) == 1:
                x, p = xy[0][0], s.points[0]
                pdf.rect(x - 2, y_of(p.high), 4, y_of(p.low) - y_of(p.high), "F")
            else:
                upper = [(x_of(p.day), y_of(p.high)) for p in s.points]
                lower = [(x_of(p.day), y_of(p.low)) for p in s.points]
                pdf.polygon([*upper, *reversed(lower)], style="F")
        pdf.set_draw_color(*colour)
        pdf.set_line_width(0.4)
        if len(xy) > 1:
            pdf.polyline(xy)
        r = 0.9 if len(xy) <= 40 else 0.5
        for x, y in xy:
            pdf.ellipse(x - r, y - r, 2 * r, 2 * r, style="F")
        pdf.set_line_width(0.2)
        label = pdf.clean(s.label)
        if legend_x > left and legend_x + 4 + pdf.get_string_width(label) > right:
            legend_x, legend_y = left, legend_y + 4
        pdf.rect(legend_x, legend_y - 2, 3, 2, "F")
        pdf.text(legend_x + 4, legend_y, label)
        legend_x += 4 + pdf.get_string_width(label) + 8
    legend_y += 4
    pdf.text(left, legend_y, pdf.clean(BAND_WORDS))
    pdf.set_draw_color(*INK)
    pdf.set_fill_color(*WHITE)
    pdf.set_font(pdf.text_family, "", BODY_PT)
    pdf.set_y(legend_y + 4)


def amount(value: float, unit: str, *, signed: bool = False) -> str:
    """A change or a limit in its unit: "+3.1°", "4.2 percentage points" (of shin length)."""
    text = fmt(abs(value), unit)
    if signed and float(text) != 0:
        text = ("+" if value > 0 else "-") + text
    return f"{text}°" if unit == Unit.DEG.value else f"{text} percentage points"


def change_words(change: Change | None) -> str:
    """The change from the first sessions to the latest, against the minimal detectable
    change (`coach.trends.change_vs_baseline`)."""
    lead = "Change from the first sessions:"
    if change is None:
        return f"{lead} needs at least 2 sessions to compare."
    delta, limit = amount(change.delta, change.unit, signed=True), amount(change.mdc95, change.unit)
    if change.detectable:
        verdict = f"larger than the minimal detectable change of {limit}: {change.direction}"
    else:
        verdict = f"within the minimal detectable change ({limit}): {change.direction}"
    k = change.n_baseline
    compared = (
        "the last session with the first"
        if k == 1
        else f"the mean of the last {k} sessions with the first {k}"
    )
    return f"{lead} {delta} ({verdict}). Compares {compared}."


def _exercise(pdf: _Report, row: ExerciseRow) -> None:
    if pdf.will_page_break(EXERCISE_BLOCK_MM):  # keep an exercise's chart and figures together
        pdf.add_page()
    pdf.heading(row.name, size=12)
    unit_words = "°" if row.unit is Unit.DEG else "% of shin length"
    counted = Series("Mean rep range", chart_points(row.range_points))
    degrees = Series("Clinical ankle range, side-on sessions", chart_points(row.degree_points))
    title = f"Range per session ({unit_words})"
    if row.unit is Unit.DEG:
        _chart(pdf, title, "°", [counted, degrees])
    else:
        _chart(pdf, title, "% shin", [counted])
        if degrees.points:
            _chart(pdf, "Clinical ankle range per session (°), side-on only", "°", [degrees])
    if not degrees.points:
        pdf.para(f"Clinical angle: {NOT_MEASURED_DEG}.", size=SMALL_PT)
    pdf.para(change_words(row.change), size=SMALL_PT + 1)

    if row.rom_deg_mean is None:
        rom = NOT_MEASURED_DEG
    else:
        mean = with_unit(row.rom_deg_mean, Unit.DEG)
        rom = f"{mean} (mean of {row.rom_deg_reps} reps seen side-on)"
    if row.hold_targets_s:
        targets = " to ".join(
            dict.fromkeys((seconds(row.hold_targets_s[0]), seconds(row.hold_targets_s[-1])))
        )
        holds = f"{row.holds_reached} of {row.hold_reps} reps reached the {targets} hold"
    else:
        holds = "no hold asked"
    reps_share = percent(row.reps_done, row.reps_planned)
    rows = [
        ("Sessions", str(row.sessions)),
        ("Reps done", f"{row.reps_done} of {row.reps_planned} planned ({reps_share})"),
        ("Mean rep range", with_unit(row.range_mean, row.unit)),
        ("Best rep range", with_unit(row.range_best, row.unit)),
        ("Clinical range (degrees)", rom),
        ("Holds reached", holds),
        ("Longest hold", seconds(row.longest_hold_s)),
    ]
    pdf.ln(1)
    pdf.grid(("Reps and holds", "Over the period"), rows, (50, 130))


def _cues(pdf: _Report, data: ReportData) -> None:
    pdf.heading("Notable cues")
    cues = notable_cues(data)
    if not cues:
        pdf.para("No cues were given.")
        return
    rows = [(cue_label(cue_id), str(count)) for cue_id, count in cues]
    pdf.grid(("Correction the coach gave", "Times"), rows, (140, 40))


def _gait(pdf: _Report, data: ReportData) -> None:
    pdf.heading("Walking (gait)")
    if not data.gait:
        pdf.para("No walks recorded in this period.")
        return
    rows = [
        (
            local_date(g.started_at).isoformat(),
            str(g.steps),
            fmt(g.cadence_spm, "per_min"),
            ", ".join(f.replace("_", " ") for f in g.flags) or "none",
        )
        for g in data.gait
    ]
    pdf.grid(("Date", "Steps", "Cadence (steps/min)", "Flags"), rows, (30, 20, 35, 95))


def _notes(pdf: _Report, data: ReportData) -> None:
    pdf.heading("Therapist notes")
    if not data.notes:
        pdf.para("No notes.")
        return
    for written, text in data.notes:
        pdf.para(written.astimezone().strftime("%Y-%m-%d %H:%M"), size=SMALL_PT + 1, bold=True)
        pdf.para(text)
        pdf.ln(2)


def build_pdf(data: ReportData) -> bytes:
    """The report as PDF bytes: header, plan, adherence, each exercise (chart and
    figures), cues, walks and notes."""
    pdf = _Report()
    pdf.set_title("Exercise report")
    pdf.set_creator("footdrop-coach")
    pdf.add_page()
    _header(pdf, data)
    _plan(pdf, data)
    _adherence(pdf, data)
    rows = exercise_rows(data)
    if rows and pdf.will_page_break(EXERCISE_BLOCK_MM + 15):  # no heading alone at a foot
        pdf.add_page()
    pdf.heading("Exercises")
    if not data.sessions:
        pdf.para("No sessions in this period.")
    for row in rows:
        _exercise(pdf, row)
    _cues(pdf, data)
    _gait(pdf, data)
    _notes(pdf, data)
    return bytes(pdf.output())
