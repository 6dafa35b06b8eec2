"""Sound in the browser: a beep for each rep (WebAudio) and spoken cues (speech synthesis).

Audio never touches the video path: the server only lists recent events (with ids) in
the page, and this small component plays, in the patient's browser, those it has not
played yet. One sentence at a time: a cue that arrives while another is being spoken is
dropped (important announcements wait their turn). Muting silences both at once.
The component keeps what it has played in `window.__coachAudio`, so a rerun of the page
never replays old events; the browser test reads the same object.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import streamlit as st

from coach.speech import AudioEvent

_JS = r"""
export default function (component) {
  const { data } = component;
  const w = window;
  const state = w.__coachAudio || (w.__coachAudio = {
    session: null, last: 0, played: [], ctx: null, beeps: 0, spoken: 0,
  });
  const d = data || {};
  const events = Array.isArray(d.events) ? d.events : [];
  if (state.session !== d.session) {
    state.session = d.session;
    state.last = 0;
  }
  const fresh = events.filter((e) => e.id > state.last);
  if (fresh.length) state.last = Math.max(...fresh.map((e) => e.id));
  if (d.muted) {
    if (w.speechSynthesis) w.speechSynthesis.cancel();
    return;
  }
  // Only the newest beep and sentence if several piled up (e.g. the tab was hidden).
  const beeps = fresh.filter((e) => e.kind === 'beep');
  const says = fresh.filter((e) => e.kind === 'say');
  if (beeps.length) beep(state);
  for (const e of says.slice(-2)) say(state, e, d.speech !== false);

  function beep(s) {
    try {
      const Ctx = w.AudioContext || w.webkitAudioContext;
      if (!Ctx) return;
      s.ctx = s.ctx || new Ctx();
      const ctx = s.ctx;
      if (ctx.state === 'suspended') ctx.resume();
      const t = ctx.currentTime;
      const osc = ctx.createOscillator();
      const gain = ctx.createGain();
      osc.type = 'sine';
      osc.frequency.setValueAtTime(880, t);
      osc.frequency.setValueAtTime(1320, t + 0.08);
      gain.gain.setValueAtTime(0.0001, t);
      gain.gain.exponentialRampToValueAtTime(0.25, t + 0.01);
      gain.gain.exponentialRampToValueAtTime(0.0001, t + 0.2);
      osc.connect(gain).connect(ctx.destination);
      osc.start(t);
      osc.stop(t + 0.22);
      s.beeps += 1;
      s.played.push({ id: 'beep', t: Date.now() });
    } catch (err) { /* no audio device: stay silent, never break the page */ }
  }

  function say(s, e, enabled) {
    const synth = w.speechSynthesis;
    if (!enabled || !synth || !w.SpeechSynthesisUtterance) return;
    try {
      if ((synth.speaking || synth.pending) && !e.important) return;  // one at a time
      const u = new w.SpeechSynthesisUtterance(e.text);
      u.rate = 0.95;
      synth.speak(u);
      s.spoken += 1;
      s.played.push({ id: e.id, text: e.text, t: Date.now() });
      if (s.played.length > 100) s.played.splice(0, s.played.length - 100);
    } catch (err) { /* speech unavailable */ }
  }
}
"""

_HTML = '<div class="coach-audio"></div>'

# Registered once at import, as Streamlit recommends; re-registered on each runtime.
_COMPONENT: Any = st.components.v2.component("coach_audio", html=_HTML, js=_JS)


def audio_player(
    session_id: str, events: Iterable[AudioEvent], *, muted: bool, speech: bool = True
) -> None:
    """Mount (or update) the player; it plays events newer than the last one it played."""
    payload = {
        "session": session_id,
        "muted": bool(muted),
        "speech": bool(speech),
        "events": [
            {"id": e.id, "kind": e.kind, "text": e.text, "important": e.important} for e in events
        ],
    }
    _COMPONENT(data=payload, key=f"coach-audio-{session_id}")
