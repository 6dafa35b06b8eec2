"""Progress of a recorded-video analysis, stage by stage.

The core reports `(stage, done, total)`; the CLI bar and the pages turn the stage id into
words. `total` is 0 when it is not known (a file that reports no frame count).
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum

__all__ = ["Progress", "Stage", "stage_ticker"]


class Stage(StrEnum):
    """What an analysis is doing, in the order it does it."""

    READING = "reading"
    """Opening and checking the file."""
    POSE = "pose"
    """Running the pose model over every frame (the long part)."""
    COUNTING = "counting"
    """Counting reps and measuring (or measuring steps, for gait)."""
    DRAWING = "drawing"
    """Drawing and encoding the annotated video."""


Progress = Callable[[Stage, int, int], None]
"""Called as ``progress(stage, done, total)``; ``done`` counts frames (or steps)."""


def stage_ticker(progress: Progress | None, stage: Stage) -> Callable[[int, int], None]:
    """A plain ``(done, total)`` callback that reports under `stage` (a no-op without one)."""
    if progress is None:
        return lambda _done, _total: None
    return lambda done, total: progress(stage, done, total)
