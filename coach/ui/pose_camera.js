// On-device pose: the camera, MediaPipe's web Pose Landmarker and the overlay run here, in
// the patient's browser; only timestamped landmarks go to the server (coach.landmark_stream
// describes the batches). Counting, cues and the set plan stay on the server: this file
// draws what the server says (reps, angle, target band, cue) over the live picture.
// Batches are posted to the app's landmark route (coach.ui.landmark_api), whose answer
// carries the acknowledgement and what to draw; the page's fragment is asked to rerun
// only when its panel has something new (`panel`), at most once a second.
//
// State lives on `window.__coachPose` (one per live session id), so a rerun of the page
// keeps the camera, the loaded model and the frames not yet acknowledged. The browser
// test reads the same object.
export default function (component) {
  const { data, parentElement, setTriggerValue } = component;
  const w = window;
  const d = data || {};
  const root = parentElement.querySelector('.coach-pose');
  if (!root) return;

  // One batch at most this often: the server sets the pace from how many patients it
  // serves (coach.landmark_stream.batch_interval_ms), in every answer.
  const SEND_EVERY_MS = pace(d.send_every_ms);
  const RESEND_AFTER_MS = 2000; // an unanswered batch is sent again (with newer frames)
  const MAX_PENDING = 900;      // frames kept unacknowledged at most (30 s at 30 fps)
  const PANEL_EVERY_MS = 1000;  // the page's panel reruns at most this often
  // Frames a second sent (all are analysed and drawn): coach.landmark_stream.UPLOAD_FPS.
  const UPLOAD_FPS = Math.min(60, Math.max(5, Number(d.upload_fps) || 15));
  const LEGS = {
    left: [11, 23, 25, 27, 29, 31],
    right: [12, 24, 26, 28, 30, 32],
  };
  const SEGMENTS = [[0, 1], [1, 2], [2, 3], [3, 4], [4, 5], [3, 5]];

  let S = w.__coachPose;
  if (!S || S.session !== d.session) {
    if (S && S.running) stopCamera(S, 'new session');
    S = w.__coachPose = {
      session: d.session, running: false, starting: false, stream: null, seq: 0,
      pending: [], inFlight: null, lastSend: 0, skipped: 0, presented: 0,
      sentBatches: 0, sentFrames: 0, sentBytes: 0, acked: 0, analysed: 0,
      t0: null, lastT: -1, lastTs: -1, status: null, error: null, delegate: null,
      fps: 0, fpsTimes: [], modelMs: 0, video: null, mediaStream: null, landmarker: null,
      stopped: false, stopping: false, lastPose: null, mode: 'browser',
      lastQueued: -Infinity, queued: 0, panelShown: null, panelWanted: null, lastPanel: -Infinity,
      panelTimer: null, answers: 0, netErrors: 0, rejected: 0, gone: false,
    };
  }
  S.setTrigger = setTriggerValue;
  if (!S.answers) S.sendEvery = SEND_EVERY_MS; // once answers come, they set the pace
  S.uploadEvery = 1000 / UPLOAD_FPS;
  S.postUrl = d.post_url ? new URL(d.post_url, w.location.href).href : null;
  if (d.panel !== undefined) S.panelShown = d.panel;
  S.data = d;
  S.root = root;
  S.canvas = root.querySelector('canvas.view');
  S.note = root.querySelector('.note');
  S.startBtn = root.querySelector('button.start');
  S.stopBtn = root.querySelector('button.stop');

  takeAck(S, d.ack);
  if (d.status) S.status = d.status;
  if (d.ended && S.running) stopCamera(S, 'ended');

  root.classList.toggle('large', !!d.large);
  S.startBtn.onclick = () => start(S);
  S.stopBtn.onclick = () => finish(S);
  render(S);

  // ------------------------------------------------------------------------------------

  function pace(ms) { return Math.min(1000, Math.max(100, Number(ms) || 250)); }

  function takeAck(s, ack) {
    // The server has every frame up to ack.t: drop those, and let the next batch go.
    if (!ack || ack.stream !== s.stream) return;
    s.pending = s.pending.filter((f) => f[0] > ack.t + 1e-6);
    if (s.inFlight && ack.seq >= s.inFlight.seq) s.inFlight = null;
    s.acked = Math.max(s.acked, ack.seq || 0);
  }

  async function loadLandmarker(s) {
    // The component's own script is a blob: resolve the app's URLs against the page.
    const abs = (u) => new URL(u, w.location.href).href;
    const a = s.data.assets;
    const key = a.model_url + '|' + a.bundle_url;
    if (w.__coachLandmarker && w.__coachLandmarker.key === key) return w.__coachLandmarker.lm;
    const vision = await import(abs(a.bundle_url));
    const fileset = await vision.FilesetResolver.forVisionTasks(abs(a.wasm_url));
    const make = (delegate) => vision.PoseLandmarker.createFromOptions(fileset, {
      baseOptions: { modelAssetPath: abs(a.model_url), delegate },
      runningMode: 'VIDEO',
      numPoses: 1,
      minPoseDetectionConfidence: 0.5,
      minPosePresenceConfidence: 0.5,
      minTrackingConfidence: 0.5,
    });
    let lm = null;
    const order = s.data.delegate === 'CPU' || softwareGl() ? ['CPU'] : ['GPU', 'CPU'];
    let lastErr = null;
    for (const delegate of order) {
      try {
        lm = await make(delegate);
        s.delegate = delegate;
        break;
      } catch (err) { lastErr = err; }
    }
    if (!lm) throw lastErr || new Error('the pose model could not start');
    w.__coachLandmarker = { key, lm };
    return lm;
  }

  function softwareGl() {
    // A GPU emulated in software (headless browsers, remote desktops, old drivers) is far
    // slower than the WASM CPU path: use the GPU only when it is a real one.
    try {
      const gl = document.createElement('canvas').getContext('webgl2');
      if (!gl) return true;
      const info = gl.getExtension('WEBGL_debug_renderer_info');
      const name = info ? String(gl.getParameter(info.UNMASKED_RENDERER_WEBGL)) : '';
      return /swiftshader|llvmpipe|softpipe|software|basic render/i.test(name);
    } catch (err) { return true; }
  }

  async function start(s) {
    if (s.running || s.starting) return;
    s.starting = true;
    s.error = null;
    render(s);
    try {
      if (!w.navigator.mediaDevices || !w.navigator.mediaDevices.getUserMedia) {
        throw new Error('camera-unsupported');
      }
      const constraints = s.data.camera || { video: true, audio: false };
      const media = await w.navigator.mediaDevices.getUserMedia(constraints);
      const video = document.createElement('video');
      video.muted = true;
      video.playsInline = true;
      video.srcObject = media;
      await video.play();
      try {
        s.landmarker = await loadLandmarker(s);
      } catch (err) {
        // The camera works but this browser cannot run the model: tell the server, which
        // switches this page to the server-side path.
        media.getTracks().forEach((t) => t.stop());
        const reason = String((err && err.message) || err).slice(0, 200);
        if (s.setTrigger) s.setTrigger('unsupported', { reason });
        throw err;
      }
      s.video = video;
      s.mediaStream = media;
      s.stream = Math.random().toString(36).slice(2, 12) + Date.now().toString(36);
      s.t0 = null; s.lastT = -1; s.seq = 0; s.pending = []; s.inFlight = null;
      s.lastQueued = -Infinity; s.queued = 0; s.gone = false;
      s.running = true; s.stopped = false;
      s.presented = 0; s.skipped = 0;
      schedule(s);
    } catch (err) {
      s.error = String((err && err.name) || err);
      s.errorText = String((err && (err.stack || err.message)) || err);
      if (w.console) w.console.error('coach pose: ' + s.errorText);
      if (s.mediaStream) s.mediaStream.getTracks().forEach((t) => t.stop());
    } finally {
      s.starting = false;
      render(s);
    }
  }

  function schedule(s) {
    const v = s.video;
    if (!s.running || !v) return;
    if (v.requestVideoFrameCallback) v.requestVideoFrameCallback((now, meta) => onFrame(s, now, meta));
    else w.requestAnimationFrame((now) => onFrame(s, now, null));
  }

  function onFrame(s, now, meta) {
    if (!s.running) return;
    if (!s.root || !s.root.isConnected) {
      // The page moved on without pressing Stop: the camera must not stay on.
      stopCamera(s, 'left the page');
      return;
    }
    try {
      analyse(s, now, meta);
    } catch (err) {
      s.error = 'analysis: ' + String((err && err.message) || err);
    }
    send(s, false);
    schedule(s);
  }

  function analyse(s, now, meta) {
    const v = s.video;
    if (!v.videoWidth) return;
    if (meta && typeof meta.presentedFrames === 'number') {
      if (s.presented && meta.presentedFrames > s.presented + 1) {
        s.skipped += meta.presentedFrames - s.presented - 1;
      }
      s.presented = meta.presentedFrames;
    }
    // The frame's own time when the browser gives it (capture time), else now.
    const frameMs = meta && typeof meta.captureTime === 'number' ? meta.captureTime : now;
    if (s.t0 === null) s.t0 = frameMs;
    let t = Math.round((frameMs - s.t0) * 1000) / 1000;
    if (t <= s.lastT) t = s.lastT + 0.001;
    s.lastT = t;
    const ts = Math.max(Math.round(performance.now()), s.lastTs + 1);
    s.lastTs = ts;
    const before = performance.now();
    const res = s.landmarker.detectForVideo(v, ts);
    const took = performance.now() - before;
    s.modelMs = s.modelMs ? s.modelMs + 0.1 * (took - s.modelMs) : took;
    let points = null, world = null;
    const lm = res && res.landmarks && res.landmarks[0];
    if (lm && lm.length === 33) {
      points = [];
      for (const p of lm) {
        const vis = typeof p.visibility === 'number' ? p.visibility : 0;
        // The model's presence score; older web builds leave it unset: use visibility.
        const pres = typeof p.presence === 'number' ? p.presence : vis;
        points.push(r5(p.x), r5(p.y), r5(p.z), r5(vis), r5(pres));
      }
      const wl = res.worldLandmarks && res.worldLandmarks[0];
      if (wl && wl.length === 33) {
        world = [];
        for (const p of wl) world.push(r4(p.x), r4(p.y), r4(p.z));
      }
    }
    s.lastPose = points;
    s.analysed += 1;
    // Every frame is drawn; about UPLOAD_FPS a second go to the server (a little slack,
    // so a 30 fps camera's jitter still sends every other frame).
    const queue = t - s.lastQueued >= s.uploadEvery - 8;
    // The brightness (for the "too dark" prompt) on every 3rd frame sent: 5 a second.
    const bright = queue && s.queued % 3 === 0 ? brightness(s, v) : null;
    if (queue) {
      s.lastQueued = t;
      s.queued += 1;
      s.pending.push([t, bright, points, world]);
      if (s.pending.length > MAX_PENDING) s.pending.splice(0, s.pending.length - MAX_PENDING);
    }
    // A test or benchmark that set `window.__coachPoseRecord = []` gets every frame.
    if (Array.isArray(w.__coachPoseRecord)) w.__coachPoseRecord.push([t, bright, points, world]);
    s.fpsTimes.push(now);
    while (s.fpsTimes.length && now - s.fpsTimes[0] > 3000) s.fpsTimes.shift();
    s.fps = s.fpsTimes.length > 1
      ? (s.fpsTimes.length - 1) * 1000 / (s.fpsTimes[s.fpsTimes.length - 1] - s.fpsTimes[0]) : 0;
    draw(s);
  }

  function r5(x) { return Math.round(x * 1e5) / 1e5; }
  function r4(x) { return Math.round(x * 1e4) / 1e4; }

  function brightness(s, v) {
    // Mean luma of a 32x24 copy: the server's "too dark" prompt needs it.
    const c = s.tiny || (s.tiny = document.createElement('canvas'));
    c.width = 32; c.height = 24;
    const g = c.getContext('2d', { willReadFrequently: true });
    g.drawImage(v, 0, 0, 32, 24);
    const px = g.getImageData(0, 0, 32, 24).data;
    let sum = 0;
    for (let i = 0; i < px.length; i += 4) sum += 0.114 * px[i + 2] + 0.587 * px[i + 1] + 0.299 * px[i];
    return Math.round(10 * sum / (px.length / 4)) / 10;
  }

  function batch(s) {
    return {
      v: 1, stream: s.stream, seq: s.seq, w: s.video.videoWidth, h: s.video.videoHeight,
      skipped: s.skipped, frames: s.pending.slice(),
    };
  }

  function send(s, force) {
    const now = performance.now();
    if (!s.pending.length || !s.postUrl || s.gone) return;
    if (!force) {
      if (now - s.lastSend < (s.sendEvery || 250)) return;
      if (s.inFlight && now - s.inFlight.at < RESEND_AFTER_MS) return;
    }
    s.seq += 1;
    const b = batch(s);
    s.inFlight = { seq: s.seq, at: now };
    s.lastSend = now;
    s.skipped = 0;
    s.sentBatches += 1;
    s.sentFrames += b.frames.length;
    const body = JSON.stringify(b);
    s.sentBytes += body.length;
    post(s, body, b.frames[b.frames.length - 1][0]);
  }

  async function post(s, body, lastT) {
    let res = null, answer = null;
    try {
      res = await w.fetch(s.postUrl, {
        method: 'POST', body, cache: 'no-store', credentials: 'same-origin',
        headers: { 'content-type': 'application/json' },
      });
      answer = await res.json();
    } catch (err) {
      s.netErrors += 1; // offline for a moment: the frames stay and go again
      return;
    }
    if (res.ok && answer) {
      s.answers += 1;
      takeAck(s, answer.ack);
      if (answer.status) s.status = answer.status;
      if (answer.send_every_ms) s.sendEvery = pace(answer.send_every_ms);
      if (answer.ended && s.running) stopCamera(s, 'ended');
      if (answer.panel !== undefined && answer.panel !== s.panelShown) askPanel(s, answer.panel);
      render(s);
    } else if (res.status === 404) {
      // The server no longer has this session (it restarted): the page reloads it.
      s.gone = true;
      s.error = 'gone';
      if (s.running) stopCamera(s, 'gone');
      if (s.setTrigger) s.setTrigger('refresh', 'gone');
      render(s);
    } else {
      // The server cannot use these frames: resending them would fail the same way.
      s.rejected += 1;
      s.pending = s.pending.filter((f) => f[0] > lastT + 1e-6);
      s.inFlight = null;
    }
  }

  function askPanel(s, version) {
    // The panel beside the picture has something new: rerun the page's fragment, at
    // most once a second (the overlay is already up to date).
    s.panelWanted = version;
    if (s.panelTimer) return;
    const wait = Math.max(0, s.lastPanel + PANEL_EVERY_MS - performance.now());
    s.panelTimer = w.setTimeout(() => {
      s.panelTimer = null;
      if (s.panelWanted === s.panelShown || !s.setTrigger) return;
      s.lastPanel = performance.now();
      s.setTrigger('refresh', s.panelWanted);
    }, wait);
  }

  function stopCamera(s, why) {
    s.running = false;
    s.stopped = true;
    s.stopReason = why;
    if (s.mediaStream) s.mediaStream.getTracks().forEach((t) => t.stop());
    s.mediaStream = null;
    if (s.video) { s.video.srcObject = null; }
    s.video = null;
  }

  function finish(s) {
    // Stop ends the set: the frames not yet sent go with it, then the summary shows.
    if (s.stopping) return;
    s.stopping = true;
    const final = s.video && s.pending.length ? batch(s) : null;
    stopCamera(s, 'stop');
    s.seq += 1;
    if (s.setTrigger) s.setTrigger('stop', { stream: s.stream, seq: s.seq, batch: final });
    render(s);
  }

  // -- drawing --------------------------------------------------------------------------

  function fit(c, vw, vh) {
    const dpr = w.devicePixelRatio || 1;
    const cssW = Math.max(160, c.clientWidth || 640);
    const cssH = Math.round(cssW * vh / vw);
    c.style.height = cssH + 'px';
    const pw = Math.round(cssW * dpr), ph = Math.round(cssH * dpr);
    if (c.width !== pw || c.height !== ph) { c.width = pw; c.height = ph; }
    return { W: pw, H: ph, k: pw / 640 };
  }

  function label(g, text, x, y, size, color) {
    g.font = `bold ${size}px sans-serif`;
    const m = g.measureText(text);
    g.fillStyle = 'rgba(0, 0, 0, 0.6)';
    g.fillRect(x - size * 0.25, y - size, m.width + size * 0.5, size * 1.3);
    g.fillStyle = color;
    g.fillText(text, x, y);
  }

  function draw(s) {
    const v = s.video;
    const canvas = s.canvas;
    if (!canvas || !v || !v.videoWidth) return;
    const { W, H, k } = fit(canvas, v.videoWidth, v.videoHeight);
    const g = canvas.getContext('2d');
    g.drawImage(v, 0, 0, W, H);
    const st = s.status || {};
    const big = !!(s.data && s.data.large);
    const ok = !!st.view_ok;
    // The leg the server measures (or both, before it has chosen).
    const pts = s.lastPose;
    if (pts) {
      const sides = st.side ? [st.side] : ['left', 'right'];
      for (const side of sides) {
        const ids = LEGS[side];
        const xy = ids.map((i) => [pts[5 * i] * W, pts[5 * i + 1] * H]);
        g.strokeStyle = ok ? '#50c850' : '#ffbe00';
        g.lineWidth = 4 * k;
        for (const [a, b] of SEGMENTS) {
          g.beginPath(); g.moveTo(xy[a][0], xy[a][1]); g.lineTo(xy[b][0], xy[b][1]); g.stroke();
        }
        g.fillStyle = '#ffffff';
        for (const [x, y] of xy.slice(1)) { g.beginPath(); g.arc(x, y, 5 * k, 0, 2 * Math.PI); g.fill(); }
      }
    }
    // Reps (large enough to read from a chair 2-3 m away), the angle and the hold.
    const size = (big ? 64 : 34) * k;
    let y = size * 1.15;
    label(g, `${st.count_label || 'Reps'} ${st.reps ?? 0}${st.of ? ' / ' + st.of : ''}`, 12 * k, y, size, '#ffffff');
    y += size * 1.3;
    if (st.value_text) { label(g, st.value_text, 12 * k, y, size * 0.6, '#ffffff'); y += size * 0.85; }
    if (st.hold_text) { label(g, st.hold_text, 12 * k, y, size * 0.6, st.hold_done ? '#50c850' : '#ffbe00'); y += size * 0.85; }
    if (st.set_text) label(g, st.set_text, W - 190 * k * (big ? 1.6 : 1), size * 0.75, size * 0.5, '#ffffff');
    // The target gauge, as on the server's overlay.
    const gauge = s.data && s.data.gauge;
    if (gauge) {
      const x0 = W - 46 * k, x1 = W - 22 * k, top = H * 0.18, bottom = H * 0.82;
      const yOf = (val) => bottom - (Math.min(Math.max(val, gauge.lo), gauge.hi) - gauge.lo) / (gauge.hi - gauge.lo) * (bottom - top);
      g.fillStyle = '#282828'; g.fillRect(x0, top, x1 - x0, bottom - top);
      g.fillStyle = '#50c850'; g.fillRect(x0, yOf(gauge.band[1]), x1 - x0, yOf(gauge.band[0]) - yOf(gauge.band[1]));
      g.strokeStyle = '#ffbe00'; g.lineWidth = 2 * k;
      g.beginPath(); g.moveTo(x0 - 4 * k, yOf(gauge.enter)); g.lineTo(x1 + 4 * k, yOf(gauge.enter)); g.stroke();
      if (typeof st.excursion === 'number') {
        g.fillStyle = '#ffffff'; const yy = yOf(st.excursion);
        g.fillRect(x0 - 6 * k, yy - 3 * k, x1 - x0 + 12 * k, 6 * k);
      }
    }
    // The therapist's message (for a while), else the coach's one instruction, across the bottom.
    const msg = st.note || st.cue || st.message;
    if (msg) {
      const fs = (big ? 36 : 20) * k;
      g.font = `bold ${fs}px sans-serif`;
      const lines = wrap(g, msg, W - 24 * k).slice(0, 3);
      const band = lines.length * fs * 1.25 + fs * 0.6;
      g.fillStyle = 'rgba(0, 0, 0, 0.62)'; g.fillRect(0, H - band, W, band);
      g.fillStyle = st.note ? '#8fd3ff' : st.cue ? '#ffbe00' : '#ffffff';
      lines.forEach((line, i) => g.fillText(line, 12 * k, H - band + fs * (1.1 + 1.25 * i)));
      if (typeof st.progress === 'number' && st.progress > 0 && st.progress < 1) {
        g.fillStyle = '#50c850'; g.fillRect(12 * k, H - 8 * k, (W - 24 * k) * st.progress, 5 * k);
      }
    }
  }

  function wrap(g, text, width) {
    const words = String(text).split(/\s+/);
    const lines = [];
    let line = '';
    for (const word of words) {
      const next = line ? line + ' ' + word : word;
      if (line && g.measureText(next).width > width) { lines.push(line); line = word; } else line = next;
    }
    if (line) lines.push(line);
    return lines;
  }

  function render(s) {
    const words = (s.data && s.data.words) || {};
    const { canvas, note, startBtn, stopBtn } = s;
    startBtn.hidden = s.running || s.stopping || !!(s.data && s.data.ended);
    startBtn.disabled = s.starting;
    startBtn.textContent = s.starting ? (words.starting || 'Starting...') : (words.start || 'Start');
    stopBtn.hidden = !s.running;
    let text = '';
    if (s.error) {
      const e = s.error;
      text = e === 'NotAllowedError' ? words.denied
        : e === 'NotFoundError' || e === 'OverconstrainedError' ? words.no_camera
        : e === 'camera-unsupported' ? words.unsupported
        : e === 'gone' ? words.gone
        : words.failed;
      note.classList.add('bad');
    } else {
      note.classList.remove('bad');
      if (s.running) {
        const fps = s.fps ? Math.round(s.fps) : 0;
        text = (words.running || '').replace('{fps}', String(fps)).replace('{model_ms}', String(Math.round(s.modelMs)));
      } else if (!s.starting && !(s.data && s.data.ended)) text = words.idle || '';
    }
    note.textContent = text || '';
    if (!s.running && canvas && !s.video) {
      const c = canvas.getContext('2d');
      const { W, H } = fit(canvas, 640, 480);
      c.fillStyle = '#1e2328'; c.fillRect(0, 0, W, H);
    }
    if (s.running) draw(s);
  }
}
