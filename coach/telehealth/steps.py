"""What a therapist sends into a running session: a short message, or a new dose.

A `StepIn` is validated when it is made (a message has words and no control
characters; a dose is checked by `coach.prescription.Prescription`, the one place doses
are validated), crosses servers as JSON, and is applied to the patient's `LiveSession`
by the server that runs it (`LiveSession.step_in`). It is stored with who sent it and
when (`coach.services.monitor`). Pure.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from coach.prescription import DoseError, Prescription, clean_text

MAX_MESSAGE = 200
"""Characters in a message: a sentence the patient can read from across the room."""


class StepKind(StrEnum):
    MESSAGE = "message"
    DOSE = "dose"


@dataclass(frozen=True, slots=True)
class StepIn:
    """One step-in for one live session (`session_id`, the stored session's id)."""

    session_id: str
    kind: StepKind
    text: str = ""
    """The message (kind MESSAGE)."""
    sets: int | None = None
    reps: int | None = None
    hold_s: float | None = None
    target: float | None = None
    """The new dose (kind DOSE): None keeps what the session has."""
    sent_by: str = ""
    """The therapist's name, as the patient sees it ("Ann Smith")."""
    id: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", StepKind(self.kind))
        if not self.session_id:
            raise DoseError("session", "is missing")
        if self.kind is StepKind.MESSAGE:
            text = clean_text("message", self.text, MAX_MESSAGE).replace("\n", " ")
            if not text:
                raise DoseError("message", "is empty")
            object.__setattr__(self, "text", text)
        elif all(v is None for v in (self.sets, self.reps, self.hold_s, self.target)):
            raise DoseError("dose", "changes nothing")
        else:  # checked as a prescription is (the session checks it against the exercise)
            Prescription(
                "dose",
                sets=1 if self.sets is None else self.sets,
                reps=1 if self.reps is None else self.reps,
                hold_s=self.hold_s,
                target=self.target,
            )
        object.__setattr__(self, "sent_by", clean_text("sent_by", self.sent_by, 200))

    def to_json(self) -> str:
        data: dict[str, Any] = {"v": 1, "session_id": self.session_id, "kind": self.kind.value}
        data.update(
            {
                k: v
                for k, v in (
                    ("text", self.text),
                    ("sets", self.sets),
                    ("reps", self.reps),
                    ("hold_s", self.hold_s),
                    ("target", self.target),
                    ("sent_by", self.sent_by),
                    ("id", self.id),
                )
                if v not in (None, "")
            }
        )
        return json.dumps(data, separators=(",", ":"), allow_nan=False)

    @staticmethod
    def from_json(text: str | bytes) -> StepIn:
        """Read one back; raises `DoseError` (or ValueError) naming what is wrong."""
        data = json.loads(text)
        if not isinstance(data, dict) or data.get("v") != 1:
            raise DoseError("step-in", "is not a version 1 object")
        known = {"session_id", "kind", "text", "sets", "reps", "hold_s", "target", "sent_by", "id"}
        return StepIn(**{k: v for k, v in data.items() if k in known})

    @property
    def summary(self) -> str:
        """For the therapist's log of what was sent (the patient's words are made by
        `coach.wording`)."""
        if self.kind is StepKind.MESSAGE:
            return f"message: {self.text}"
        parts = [
            f"{name} {value:g}"
            for name, value in (
                ("sets", self.sets),
                ("reps", self.reps),
                ("hold", self.hold_s),
                ("target", self.target),
            )
            if value is not None
        ]
        return "dose: " + ", ".join(parts)
