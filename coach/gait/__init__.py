"""Gait analysis for foot drop from one side-view video, recorded or live.

Pure core (numpy only): `series` (leg tracks, untangling MediaPipe's labels),
`events` (walking bouts, sides, contacts, toe-offs), `strike` (heel, flat or toe
first), `metrics` (per-step measures, summary), `flags` (plain-language flags with
confidence), `person` (which detected person walks), `core` (the whole chain),
`live` (`GaitTracker` for practice), `report` (JSON dict). Edges: `analyze` (video +
model) and `annotate` (drawing).
"""

from coach.gait.core import GaitAnalysis, analyze_detections, analyze_series, prepare_series
from coach.gait.flags import Flag, FlagConfig
from coach.gait.live import GaitFrame, GaitTracker
from coach.gait.metrics import Step
from coach.gait.report import build_report

__all__ = [
    "Flag",
    "FlagConfig",
    "GaitAnalysis",
    "GaitFrame",
    "GaitTracker",
    "Step",
    "analyze_detections",
    "analyze_series",
    "build_report",
    "prepare_series",
]
