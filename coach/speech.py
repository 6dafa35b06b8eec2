"""What the browser plays: a beep for each completed rep and the coach's spoken sentences.

`AudioQueue` subscribes to a session's events and words them (`coach.wording`) at this
edge; the page hands its recent events to the browser's audio component. Pure Python.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Literal

from coach.events import Announcement, CueGiven, RepCompleted, SessionEvent
from coach.wording import cue_sentence, prompt_sentence

SPEECH_GAP_S = 3.0
"""Minimum time between two spoken messages, so the patient is never talked over."""

BRIEF_ANNOUNCEMENTS = frozenset({"countdown_tick"})
"""Announcements of a single word (the countdown's "3", "2", "1"), a second apart: the
cooldown would swallow all but the first, and marking them important would let a late
number play after the moment has passed. So they skip the cooldown (and start none) and
are not important: the browser drops one that would talk over another sentence."""


@dataclass(frozen=True, slots=True)
class AudioEvent:
    """Something the browser should play: a beep (rep done) or a sentence to speak."""

    id: int
    kind: Literal["beep", "say"]
    text: str
    t_s: float
    important: bool = False


@dataclass
class AudioQueue:
    """Beeps and spoken sentences for the browser, one sentence at a time with a cooldown.

    Nothing is queued for later here: a cue that would talk over the previous one is
    dropped (the cue arbiter proposes it again if it still applies). Announcements (set
    done, rest over) are few and matter more: they are marked important, and the browser
    lets them wait for the sentence being spoken instead of dropping them; the brief ones
    (countdown numbers) are the exception. The page keeps the last `keep` events; the
    browser plays those it has not played yet.
    """

    gap_s: float = SPEECH_GAP_S
    keep: int = 30
    events: deque[AudioEvent] = field(default_factory=deque)
    _next_id: int = 1
    _last_say_t: float | None = None

    def beep(self, t_s: float) -> None:
        self._add("beep", "", t_s)

    def say(self, t_s: float, text: str, *, important: bool = False, brief: bool = False) -> bool:
        """Queue a sentence unless it would talk over the last one; True if queued.

        `brief`: a word said on time or not at all (a countdown number): queued without
        the cooldown and not starting one, never important.
        """
        if brief:
            self._add("say", text, t_s)
            return True
        last = self._last_say_t
        if not important and last is not None and t_s - last < self.gap_s:
            return False
        self._last_say_t = t_s
        self._add("say", text, t_s, important)
        return True

    def _add(
        self, kind: Literal["beep", "say"], text: str, t_s: float, important: bool = False
    ) -> None:
        self.events.append(AudioEvent(self._next_id, kind, text, t_s, important))
        self._next_id += 1
        while len(self.events) > self.keep:
            self.events.popleft()

    def on_event(self, event: SessionEvent) -> None:
        """Beep and say the number on a rep (the patient across the room hears the count);
        speak cues (dropped if they would talk over) and announcements."""
        if isinstance(event, RepCompleted):
            self.beep(event.t_s)
            self.say(
                event.t_s, prompt_sentence("rep_number", {"number": event.rep.number}), brief=True
            )
        elif isinstance(event, CueGiven):
            self.say(event.t_s, cue_sentence(event.cue_id, event.params))
        elif isinstance(event, Announcement):
            text = prompt_sentence(event.prompt_id, event.params)
            if event.prompt_id in BRIEF_ANNOUNCEMENTS:
                self.say(event.t_s, text, brief=True)
            else:
                self.say(event.t_s, text, important=True)
