"""The report's CSV: one row per rep of every session in the period, for a spreadsheet.

Numbers go through `coach.records.rounded` (the one rounding policy, as in the JSON and
the PDF). Text that a spreadsheet would run as a formula (a cell starting with = + - @,
or a tab or carriage return that some programs skip first) gets a leading apostrophe:
exercise names and ids come from files and forms, and a CSV is opened by double-click.
"""

from __future__ import annotations

import csv
import io

from coach.records import rep_export
from coach.reports.data import ReportData, exercise_name, local_date

HEADER = (
    "date",
    "session_id",
    "exercise_id",
    "exercise_name",
    "source",
    "set",
    "rep",
    "start_s",
    "peak",
    "range",
    "unit",
    "peak_deg",
    "rom_deg",
    "hold_s",
    "tempo_s",
    "reached_target",
)

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: object) -> object:
    """A text cell a spreadsheet will show, never run; numbers and None pass unchanged
    (None as an empty cell)."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def build_csv(data: ReportData) -> str:
    """The period's reps as CSV text (header first; "\\n" line ends)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(HEADER)
    for s in data.sessions:
        u = s.unit.value
        day = local_date(s.started_at).isoformat()
        name = exercise_name(data, s.exercise_id, s.exercise_name)
        for r in s.reps:
            rep = rep_export(r, u)
            rep["reached_target"] = int(r.reached_target)
            rep["rep"], rep["unit"] = rep["number"], u
            front = [day, s.id, s.exercise_id, name, s.source.value]
            row = front + [rep[f] for f in HEADER[len(front) :]]
            writer.writerow([safe_cell(v) for v in row])
    return out.getvalue()
