"""Replay of a stored session without its video: a stick figure of the measured leg moving
beside the value trace, with Play/Pause, a speed choice and a scrubber.

Most sessions keep no video (privacy, disk), but every record keeps the leg's five points
about 10 times a second (`SessionRecord.trace`), which is enough for a therapist to see
how a rep was done: whether the knee came along, whether the heel lifted. The browser
does the animating (two canvases, `requestAnimationFrame`), so playing costs the server
nothing and no rerun is needed per frame. The component publishes its state in
`window.__coachReplay` (`frames`, `playing`, `t`) for the browser test.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import streamlit as st

from coach.records import LEG_POINTS, SessionRecord, TraceFrame, Unit, rounded

MAX_FRAMES = 6000
"""Frames sent to the browser at most: 10 minutes at 10 a second; longer sessions are
thinned evenly (the page stays small and the figure still moves smoothly)."""

XY_DECIMALS = 3
"""Point coordinates are shares of the picture: 0.001 is under a pixel at 640x480."""

T_DECIMALS = 3

DEFAULT_ASPECT = 640 / 480
"""Picture width over height. A record keeps points as shares of the picture but not its
size; the app's recommended camera resolution is 640x480."""

UNIT_LABELS: dict[Unit, str] = {Unit.DEG: "°", Unit.PCT_SHANK: "% of shin length"}
VALUE_TITLES: dict[Unit, str] = {
    Unit.DEG: "Angle from your neutral (°)",
    Unit.PCT_SHANK: "Lift from rest (% of shin length)",
}
NO_MOVEMENT = "No movement was recorded for this session."


def _thin(frames: Sequence[TraceFrame], limit: int) -> list[TraceFrame]:
    """At most `limit` frames, evenly spaced, keeping the first and the last."""
    if len(frames) <= limit:
        return list(frames)
    idx = np.linspace(0, len(frames) - 1, limit).round().astype(int)
    return [frames[int(i)] for i in idx]


def _flat_points(points: tuple[tuple[float, float], ...] | None) -> list[float] | None:
    """[x, y] * 5 flattened and rounded, or None when the leg was not seen (or a point is
    missing or not finite: a half-drawn leg would mislead more than a gap)."""
    if points is None or len(points) != len(LEG_POINTS):
        return None
    flat = [float(v) for p in points for v in p]
    if len(flat) != 2 * len(LEG_POINTS) or not all(math.isfinite(v) for v in flat):
        return None
    return [round(v, XY_DECIMALS) for v in flat]


def replay_payload(record: SessionRecord, *, aspect: float = DEFAULT_ASPECT) -> dict[str, Any]:
    """What the browser needs to replay `record`, JSON-serialisable and compact.

    `t`, `value` and `points` are parallel lists (one entry a frame; `value` and `points`
    None where nothing was measured); `points` holds `LEG_POINTS` as [x0, y0, ... x4, y4]
    in shares of the picture, y down. `bbox` ([x0, y0, x1, y1] over every seen point, or
    None) lets the figure keep one scale for the whole replay.
    """
    unit = record.unit
    frames = [f for f in record.trace if math.isfinite(f.t_s)]
    frames = _thin(frames, MAX_FRAMES)
    times = [round(float(f.t_s), T_DECIMALS) for f in frames]
    values = [rounded(f.value, unit.value) for f in frames]
    points = [_flat_points(f.points) for f in frames]
    seen = [p for p in points if p is not None]
    bbox = None
    if seen:
        xs = [v for p in seen for v in p[0::2]]
        ys = [v for p in seen for v in p[1::2]]
        bbox = [min(xs), min(ys), max(xs), max(ys)]
    reps = [
        {
            "number": r.number,
            "start_s": round(float(r.start_s), T_DECIMALS),
            "end_s": round(float(r.end_s), T_DECIMALS),
        }
        for r in record.reps
        if math.isfinite(r.start_s) and math.isfinite(r.end_s)
    ]
    good_aspect = isinstance(aspect, int | float) and math.isfinite(aspect) and aspect > 0
    return {
        "id": record.id,
        "unit": unit.value,
        "unit_label": UNIT_LABELS[unit],
        "value_title": VALUE_TITLES[unit],
        "aspect": round(float(aspect), 4) if good_aspect else round(DEFAULT_ASPECT, 4),
        "frames": len(frames),
        "t": times,
        "value": values,
        "points": points,
        "bbox": bbox,
        "reps": reps,
    }


_CSS = """
.coach-replay { font: 14px/1.4 sans-serif; color: var(--st-text-color, #262730); }
.coach-replay .views { display: flex; flex-wrap: wrap; gap: 12px; }
.coach-replay canvas {
  display: block; height: 260px; border: 1px solid rgba(128, 128, 128, 0.3);
  border-radius: 6px; touch-action: none;
}
.coach-replay canvas.figure { flex: 0 0 240px; width: 240px; }
.coach-replay canvas.trace { flex: 1 1 320px; min-width: 240px; cursor: pointer; }
.coach-replay .controls { display: flex; align-items: center; gap: 10px; margin-top: 8px; }
.coach-replay button, .coach-replay select { font: inherit; padding: 4px 10px; }
.coach-replay input.scrub { flex: 1; min-width: 80px; }
.coach-replay .clock { font-variant-numeric: tabular-nums; min-width: 9em; text-align: right; }
"""

_HTML = """
<div class="coach-replay">
  <div class="views">
    <canvas class="figure" role="img" aria-label="The measured leg, moving"></canvas>
    <canvas class="trace" role="img" aria-label="The measured value over time"></canvas>
  </div>
  <div class="controls">
    <button class="play" type="button">Play</button>
    <label>Speed
      <select class="speed">
        <option value="0.5">0.5x</option>
        <option value="1" selected>1x</option>
        <option value="2">2x</option>
      </select>
    </label>
    <input class="scrub" type="range" min="0" max="0" step="1" value="0"
      aria-label="Position in the session">
    <span class="clock">0.0 / 0.0 s</span>
  </div>
</div>
"""

_JS = r"""
export default function (component) {
  const { data, parentElement } = component;
  const w = window;
  const d = data || {};
  const root = parentElement.querySelector('.coach-replay');
  if (!root) return;
  const t = Array.isArray(d.t) ? d.t : [];
  const values = Array.isArray(d.value) ? d.value : [];
  const pts = Array.isArray(d.points) ? d.points : [];
  const reps = Array.isArray(d.reps) ? d.reps : [];
  const n = t.length;
  const t0 = n ? t[0] : 0;
  const t1 = n ? t[n - 1] : 0;
  const figure = root.querySelector('canvas.figure');
  const trace = root.querySelector('canvas.trace');
  const playBtn = root.querySelector('button.play');
  const speedSel = root.querySelector('select.speed');
  const scrub = root.querySelector('input.scrub');
  const clock = root.querySelector('.clock');
  const INK = '#1f4e79', FOOT = 'rgba(74, 111, 165, 0.35)', GREY = '#a0a4a8';
  const CURSOR = '#d9534f', SPAN = 'rgba(74, 111, 165, 0.12)', SPAN_TEXT = '#4a6fa5';

  // State lives on the element, so a rerun with the same record keeps its place.
  let s = root.__replay;
  if (!s || s.id !== d.id || s.n !== n) {
    if (s && s.raf) cancelAnimationFrame(s.raf);
    s = root.__replay = { id: d.id, n, i: 0, t: t0, playing: false, speed: 1, raf: 0, last: 0 };
  }
  if (s.raf) { cancelAnimationFrame(s.raf); s.raf = 0; }

  // The last frame at or before each frame where the leg was seen (-1: not yet).
  const seen = new Array(n);
  for (let j = 0, k = -1; j < n; j++) { if (pts[j]) k = j; seen[j] = k; }
  const finite = values.filter((v) => typeof v === 'number' && isFinite(v));
  let vLo = finite.length ? Math.min(...finite) : 0;
  let vHi = finite.length ? Math.max(...finite) : 1;
  if (vHi - vLo < 1e-6) { vLo -= 1; vHi += 1; }
  const vPad = (vHi - vLo) * 0.08;
  vLo -= vPad; vHi += vPad;

  function indexAt(time) {
    let lo = 0, hi = n - 1;
    if (n === 0 || time <= t[0]) return 0;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (t[mid] <= time) lo = mid; else hi = mid - 1;
    }
    return lo;
  }

  function fit(canvas, fallbackW) {
    const dpr = w.devicePixelRatio || 1;
    const cw = Math.max(60, canvas.clientWidth || fallbackW);
    const ch = Math.max(60, canvas.clientHeight || 260);
    const pw = Math.round(cw * dpr), ph = Math.round(ch * dpr);
    if (canvas.width !== pw || canvas.height !== ph) { canvas.width = pw; canvas.height = ph; }
    const ctx = canvas.getContext('2d');
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, cw, ch);
    return { ctx, cw, ch };
  }

  function textColor() {
    const c = w.getComputedStyle ? w.getComputedStyle(root).color : '';
    return c || '#262730';
  }

  function drawFigure() {
    const { ctx, cw, ch } = fit(figure, 240);
    const fg = textColor();
    const j = n ? seen[s.i] : -1;
    const box = Array.isArray(d.bbox) ? d.bbox : null;
    if (j < 0 || !box) {
      ctx.fillStyle = GREY;
      ctx.font = '13px sans-serif';
      ctx.textAlign = 'center';
      ctx.fillText('Leg not seen yet', cw / 2, ch / 2);
      return;
    }
    const stale = j !== s.i;
    // One scale for the whole replay: the bounding box of every seen point, in picture
    // heights (x times the picture's aspect), with a margin, centred, y down.
    const a = d.aspect > 0 ? d.aspect : 4 / 3;
    const bw = Math.max((box[2] - box[0]) * a, 1e-3);
    const bh = Math.max(box[3] - box[1], 1e-3);
    const m = 0.1 * Math.max(bw, bh);
    const pad = 6;
    const scale = Math.min((cw - 2 * pad) / (bw + 2 * m), (ch - 2 * pad) / (bh + 2 * m));
    const ox = (cw - (bw + 2 * m) * scale) / 2;
    const oy = (ch - (bh + 2 * m) * scale) / 2;
    const p = pts[j];
    const at = (k) => [
      ox + ((p[2 * k] - box[0]) * a + m) * scale,
      oy + (p[2 * k + 1] - box[1] + m) * scale,
    ];
    const [hip, knee, ankle, heel, toe] = [0, 1, 2, 3, 4].map(at);
    const ink = stale ? GREY : INK;
    ctx.lineJoin = 'round';
    ctx.lineCap = 'round';
    ctx.beginPath();
    ctx.moveTo(heel[0], heel[1]);
    ctx.lineTo(toe[0], toe[1]);
    ctx.lineTo(ankle[0], ankle[1]);
    ctx.closePath();
    ctx.fillStyle = stale ? 'rgba(160, 164, 168, 0.3)' : FOOT;
    ctx.fill();
    ctx.strokeStyle = ink;
    ctx.lineWidth = 2;
    ctx.stroke();
    ctx.lineWidth = 5;
    ctx.beginPath();
    ctx.moveTo(hip[0], hip[1]);
    ctx.lineTo(knee[0], knee[1]);
    ctx.lineTo(ankle[0], ankle[1]);
    ctx.stroke();
    ctx.fillStyle = stale ? GREY : '#ffffff';
    for (const q of [hip, knee, ankle, heel, toe]) {
      ctx.beginPath();
      ctx.arc(q[0], q[1], 4, 0, 2 * Math.PI);
      ctx.fill();
      ctx.lineWidth = 2;
      ctx.stroke();
    }
    ctx.font = '12px sans-serif';
    ctx.textAlign = 'left';
    ctx.fillStyle = stale ? GREY : fg;
    const v = values[s.i];
    const label = stale ? 'Leg not seen: last position'
      : (typeof v === 'number' ? v.toFixed(1) + (d.unit === 'deg' ? '' : ' ') + d.unit_label : '');
    ctx.fillText(label, 8, 16);
  }

  function ticks(lo, hi, count) {
    const span = hi - lo;
    if (!(span > 0)) return [lo];
    const raw = span / count;
    const mag = Math.pow(10, Math.floor(Math.log10(raw)));
    const step = [1, 2, 5, 10].map((k) => k * mag).find((st) => st >= raw) || raw;
    const out = [];
    for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-6; v += step) {
      out.push(Math.abs(v) < step * 1e-6 ? 0 : v);
    }
    return out;
  }

  let plot = { x0: 0, x1: 1 };
  function drawTrace() {
    const { ctx, cw, ch } = fit(trace, 400);
    const fg = textColor();
    const L = 46, R = 10, T = 32, B = 24;
    const x0 = L, x1 = cw - R, y0 = T, y1 = ch - B;
    plot = { x0, x1 };
    const tSpan = Math.max(t1 - t0, 1e-6);
    const X = (time) => x0 + ((time - t0) / tSpan) * (x1 - x0);
    const Y = (v) => y1 - ((v - vLo) / (vHi - vLo)) * (y1 - y0);
    ctx.font = '11px sans-serif';
    // Rep spans, numbered, behind the trace.
    for (const r of reps) {
      const a = X(Math.max(r.start_s, t0)), b = X(Math.min(r.end_s, t1));
      if (b <= a) continue;
      ctx.fillStyle = SPAN;
      ctx.fillRect(a, y0, b - a, y1 - y0);
      ctx.fillStyle = SPAN_TEXT;
      ctx.textAlign = 'center';
      ctx.fillText('rep ' + r.number, (a + b) / 2, y0 - 5);
    }
    // Axes and ticks.
    ctx.strokeStyle = 'rgba(128, 128, 128, 0.35)';
    ctx.lineWidth = 1;
    ctx.fillStyle = fg;
    ctx.textAlign = 'right';
    ctx.textBaseline = 'middle';
    for (const v of ticks(vLo, vHi, 4)) {
      const y = Y(v);
      ctx.beginPath(); ctx.moveTo(x0, y); ctx.lineTo(x1, y); ctx.stroke();
      ctx.fillText(String(Math.round(v * 10) / 10), x0 - 6, y);
    }
    ctx.textAlign = 'center';
    ctx.textBaseline = 'top';
    for (const time of ticks(t0, t1, 6)) ctx.fillText(time.toFixed(0) + ' s', X(time), y1 + 6);
    ctx.textAlign = 'left';
    ctx.textBaseline = 'alphabetic';
    ctx.fillText(d.value_title || '', x0, 12);
    // The trace, broken where nothing was measured.
    ctx.strokeStyle = INK;
    ctx.lineWidth = 1.6;
    ctx.beginPath();
    let pen = false;
    for (let j = 0; j < n; j++) {
      const v = values[j];
      if (typeof v !== 'number' || !isFinite(v)) { pen = false; continue; }
      if (pen) ctx.lineTo(X(t[j]), Y(v)); else ctx.moveTo(X(t[j]), Y(v));
      pen = true;
    }
    ctx.stroke();
    // The cursor follows the figure.
    const cx = X(s.t);
    ctx.strokeStyle = CURSOR;
    ctx.lineWidth = 1.5;
    ctx.beginPath(); ctx.moveTo(cx, y0); ctx.lineTo(cx, y1); ctx.stroke();
    const v = values[s.i];
    if (typeof v === 'number' && isFinite(v)) {
      ctx.fillStyle = CURSOR;
      ctx.beginPath(); ctx.arc(X(t[s.i]), Y(v), 3.5, 0, 2 * Math.PI); ctx.fill();
    }
  }

  function publish() {
    w.__coachReplay = { frames: n, playing: s.playing, t: s.t, i: s.i, speed: s.speed, id: d.id };
  }

  function render() {
    drawFigure();
    drawTrace();
    playBtn.textContent = s.playing ? 'Pause' : 'Play';
    scrub.max = String(Math.max(0, n - 1));
    scrub.value = String(s.i);
    clock.textContent = (s.t - t0).toFixed(1) + ' / ' + (t1 - t0).toFixed(1) + ' s';
    publish();
  }

  function seek(i) {
    s.i = Math.max(0, Math.min(n - 1, i | 0));
    s.t = n ? t[s.i] : 0;
    render();
  }

  function tick(now) {
    if (!s.playing) { s.raf = 0; return; }
    const dt = s.last ? Math.min(0.5, (now - s.last) / 1000) : 0;
    s.last = now;
    s.t = Math.min(t1, s.t + dt * s.speed);
    s.i = indexAt(s.t);
    if (s.t >= t1) s.playing = false;
    render();
    s.raf = s.playing ? requestAnimationFrame(tick) : 0;
  }

  function play() {
    if (n < 2) return;
    if (s.t >= t1) { s.t = t0; s.i = 0; }
    s.playing = true;
    s.last = 0;
    if (!s.raf) s.raf = requestAnimationFrame(tick);
    render();
  }

  function pause() {
    s.playing = false;
    if (s.raf) cancelAnimationFrame(s.raf);
    s.raf = 0;
    render();
  }

  playBtn.onclick = () => (s.playing ? pause() : play());
  speedSel.value = String(s.speed);
  speedSel.onchange = () => { s.speed = parseFloat(speedSel.value) || 1; publish(); };
  scrub.oninput = () => seek(parseInt(scrub.value, 10));
  trace.onpointerdown = (e) => {
    const rect = trace.getBoundingClientRect();
    const frac = (e.clientX - rect.left - plot.x0) / Math.max(1, plot.x1 - plot.x0);
    seek(indexAt(t0 + Math.max(0, Math.min(1, frac)) * (t1 - t0)));
  };

  if (s.ro) s.ro.disconnect();
  if (w.ResizeObserver) {
    s.ro = new w.ResizeObserver(() => render());
    s.ro.observe(root);
  }
  render();
  if (s.playing) { s.last = 0; s.raf = requestAnimationFrame(tick); }

  return () => {
    if (s.raf) cancelAnimationFrame(s.raf);
    s.raf = 0;
    if (s.ro) { s.ro.disconnect(); s.ro = null; }
  };
}
"""

# Registered once at import, as Streamlit recommends; re-registered on each runtime.
_COMPONENT: Any = st.components.v2.component("coach_replay", html=_HTML, css=_CSS, js=_JS)


def render_replay(record: SessionRecord, key: str, *, aspect: float = DEFAULT_ASPECT) -> None:
    """Mount the replay of `record` (one per `key` on a page), or say there is nothing to
    replay when the leg was never seen."""
    payload = replay_payload(record, aspect=aspect)
    if payload["bbox"] is None:
        st.caption(NO_MOVEMENT)
        return
    _COMPONENT(data=payload, key=f"coach-replay-{key}")
