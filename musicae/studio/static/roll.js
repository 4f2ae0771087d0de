/* Piano-rolls and the blend pad, drawn in <canvas> from a piece's notes JSON
   ({notes: [{pitch, start, end, velocity, track}], tracks, duration, beats, downbeats, marks}). */
"use strict";

const Roll = (() => {
  const TRACK_COLOURS = ["#3d5afe", "#ff7a45", "#12a37f", "#d6336c", "#8e44ad", "#0097a7"];
  const NAMES = ["C", "C♯", "D", "D♯", "E", "F", "F♯", "G", "G♯", "A", "A♯", "B"];
  const BLACK = new Set([1, 3, 6, 8, 10]);
  const GUTTER = 30;  // note names down the left
  const FOOT = 14;    // bar numbers along the bottom

  function noteName(pitch) { return NAMES[pitch % 12] + (Math.floor(pitch / 12) - 1); }
  function colour(piece, track) {
    const i = Math.max(0, (piece.tracks || []).indexOf(track));
    return TRACK_COLOURS[i % TRACK_COLOURS.length];
  }

  /* Size the canvas's backing store to its CSS box (sharp on any screen); returns ctx. */
  function fit(canvas) {
    const ratio = window.devicePixelRatio || 1;
    const w = canvas.clientWidth || canvas.width, h = canvas.clientHeight || canvas.height;
    if (canvas.width !== Math.round(w * ratio) || canvas.height !== Math.round(h * ratio)) {
      canvas.width = Math.round(w * ratio);
      canvas.height = Math.round(h * ratio);
    }
    const ctx = canvas.getContext("2d", { willReadFrequently: true });  // playheads read it back
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    return { ctx, w, h };
  }

  /* The pitch window: the notes' range plus a margin, at least an octave. */
  function pitchRange(notes) {
    if (!notes.length) return [55, 79];
    let lo = Math.min(...notes.map(n => n.pitch)) - 2, hi = Math.max(...notes.map(n => n.pitch)) + 2;
    while (hi - lo < 14) { lo -= 1; hi += 1; }
    return [lo, hi];
  }

  /* Draw a piece; keeps the picture so that a playhead can be drawn over it cheaply. */
  function draw(canvas, piece, opts = {}) {
    const { ctx, w, h } = fit(canvas);
    const compact = opts.compact || h < 90;
    const left = compact ? 4 : GUTTER, bottom = compact ? 0 : FOOT, top = piece.marks && piece.marks.length && !compact ? 14 : 0;
    const [lo, hi] = pitchRange(piece.notes || []);
    const rows = hi - lo + 1, rowH = (h - bottom - top) / rows;
    const dur = piece.duration || 1, xOf = t => left + (t / dur) * (w - left - 4);
    const yOf = p => top + (hi - p) * rowH;

    ctx.clearRect(0, 0, w, h);
    ctx.fillStyle = "#fbfaf7";
    ctx.fillRect(0, 0, w, h);
    for (let p = lo; p <= hi; p++) {  // black-key rows, C lines
      if (BLACK.has(p % 12)) { ctx.fillStyle = "#f0eee8"; ctx.fillRect(left, yOf(p), w - left, rowH); }
      if (p % 12 === 0) { ctx.fillStyle = "#e3dfd6"; ctx.fillRect(left, yOf(p) + rowH - 1, w - left, 1); }
    }
    ctx.fillStyle = "#ece9e2";
    for (const b of piece.beats || []) ctx.fillRect(Math.round(xOf(b)), top, 1, h - bottom - top);
    ctx.fillStyle = "#c8c3b8";
    (piece.downbeats || []).forEach(b => ctx.fillRect(Math.round(xOf(b)), top, 1.2, h - bottom - top));

    for (const n of piece.notes || []) {
      const x = xOf(n.start), width = Math.max(2, xOf(n.end) - x - 1);
      ctx.globalAlpha = 0.55 + 0.45 * Math.min(1, (n.velocity || 80) / 110);
      ctx.fillStyle = colour(piece, n.track);
      roundRect(ctx, x + 0.5, yOf(n.pitch) + 0.5, width, Math.max(2, rowH - 1), Math.min(3, rowH / 2));
    }
    ctx.globalAlpha = 1;
    if (!compact) labels(ctx, piece, { lo, hi, left, top, bottom, w, h, xOf, yOf, rowH });
    canvas._picture = ctx.getImageData(0, 0, canvas.width, canvas.height);
    canvas._geometry = { xOf, top, bottom, h };
  }

  function labels(ctx, piece, g) {
    ctx.font = "10px system-ui, sans-serif";
    ctx.fillStyle = "#8a8d99";
    ctx.textBaseline = "middle";
    const shown = g.rowH >= 9 ? new Set([0, 4, 7]) : new Set([0]);  // C E G, or every C
    for (let p = g.lo; p <= g.hi; p++) {
      const y = g.yOf(p) + g.rowH / 2;
      if (shown.has(p % 12) && y > g.top + 7 && y < g.h - g.bottom - 5) ctx.fillText(noteName(p), 2, y);
    }
    ctx.textBaseline = "alphabetic";
    (piece.downbeats || []).forEach((b, i) => ctx.fillText(String(i + 1), g.xOf(b) + 3, g.h - 3));
    ctx.fillStyle = "#c2571f";
    ctx.font = "600 11px system-ui, sans-serif";
    for (const m of piece.marks || []) ctx.fillText(m.text, g.xOf(m.time) + 3, 11);
    if ((piece.tracks || []).length > 1) legend(ctx, piece, g);
  }

  function legend(ctx, piece, g) {
    ctx.font = "10px system-ui, sans-serif";
    let x = g.w - 6;
    for (const track of [...piece.tracks].reverse()) {
      const width = ctx.measureText(track).width;
      x -= width;
      ctx.fillStyle = "#6b7080";
      ctx.fillText(track, x, g.h - 3);
      ctx.fillStyle = colour(piece, track);
      ctx.fillRect(x - 12, g.h - 11, 8, 8);
      x -= 22;
    }
  }

  function roundRect(ctx, x, y, w, h, r) {
    ctx.beginPath();
    ctx.moveTo(x + r, y);
    ctx.arcTo(x + w, y, x + w, y + h, r);
    ctx.arcTo(x + w, y + h, x, y + h, r);
    ctx.arcTo(x, y + h, x, y, r);
    ctx.arcTo(x, y, x + w, y, r);
    ctx.fill();
  }

  /* The drawn piece again, with a line at `seconds`. */
  function playhead(canvas, seconds) {
    if (!canvas._picture) return;
    const ctx = canvas.getContext("2d", { willReadFrequently: true });
    ctx.putImageData(canvas._picture, 0, 0);
    const g = canvas._geometry, x = g.xOf(seconds);
    ctx.fillStyle = "rgba(255, 122, 69, .9)";
    ctx.fillRect(x, g.top, 2, g.h - g.bottom - g.top);
  }

  /* The 2-D pad: four coloured corners, a grid, the puck at (x, y) in [0, 1]. */
  function pad(canvas, x, y, letters) {
    const { ctx, w, h } = fit(canvas);
    const corners = [["#3d5afe", 0, 0], ["#ff7a45", w, 0], ["#12a37f", 0, h], ["#d6336c", w, h]];
    ctx.fillStyle = "#fbfaf7";
    ctx.fillRect(0, 0, w, h);
    for (const [c, cx, cy] of corners) {
      const g = ctx.createRadialGradient(cx, cy, 0, cx, cy, w * 0.95);
      g.addColorStop(0, c + "66");
      g.addColorStop(1, c + "00");
      ctx.fillStyle = g;
      ctx.fillRect(0, 0, w, h);
    }
    ctx.strokeStyle = "rgba(0,0,0,.08)";
    for (let i = 1; i < 4; i++) {
      ctx.beginPath(); ctx.moveTo(i * w / 4, 0); ctx.lineTo(i * w / 4, h); ctx.stroke();
      ctx.beginPath(); ctx.moveTo(0, i * h / 4); ctx.lineTo(w, i * h / 4); ctx.stroke();
    }
    ctx.font = "700 13px system-ui, sans-serif";
    letters.forEach((letter, i) => {
      const [c, cx, cy] = corners[i];
      ctx.fillStyle = c;
      ctx.textAlign = cx ? "right" : "left";
      ctx.fillText(letter, cx ? cx - 8 : 8, cy ? cy - 8 : 18);
    });
    ctx.textAlign = "left";
    const px = x * w, py = y * h;
    ctx.beginPath(); ctx.arc(px, py, 12, 0, Math.PI * 2);
    ctx.fillStyle = "#fff"; ctx.fill();
    ctx.lineWidth = 3; ctx.strokeStyle = "#1f2430"; ctx.stroke();
    ctx.lineWidth = 1;
  }

  return { draw, playhead, pad, colour };
})();
