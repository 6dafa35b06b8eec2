"""The therapist's per-patient report: typed data (`data`), a PDF (`pdf`) and a CSV
(`table`), each a pure function of one `ReportData` so they always agree."""

from coach.reports.data import (
    AdherenceTotal,
    ExerciseRow,
    ReportData,
    SessionPoint,
    adherence_total,
    exercise_rows,
    notable_cues,
    weekly_adherence,
)
from coach.reports.pdf import build_pdf
from coach.reports.table import build_csv

__all__ = [
    "AdherenceTotal",
    "ExerciseRow",
    "ReportData",
    "SessionPoint",
    "adherence_total",
    "build_csv",
    "build_pdf",
    "exercise_rows",
    "notable_cues",
    "weekly_adherence",
]
