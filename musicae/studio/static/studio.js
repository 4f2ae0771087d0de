/* musicae studio: the page's behaviour. It only calls the studio's JSON API (same origin)
   and draws what comes back; pieces are named by id, never by a path. */
"use strict";

const $ = (selector, root = document) => root.querySelector(selector);
const LETTERS = ["A", "B", "C", "D"];
const CORNER_COLOURS = ["#3d5afe", "#ff7a45", "#12a37f", "#d6336c"];

const state = {
  models: [], model: null, limits: {}, library: [],
  blend: { mode: "mixer", slots: [null, null, null, null], x: 0.5, y: 0.5, piece: null },
};

/* --- talking to the server ---------------------------------------------------------- */

async function call(path, body) {
  const options = body === undefined ? {} : {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
  };
  return answer(await fetch(path, options));
}

async function answer(response) {
  let data;
  try { data = await response.json(); } catch { data = { error: `${response.status} ${response.statusText}` }; }
  if (!response.ok) throw new Error(data.error || response.statusText);
  return data;
}

async function uploadFile(file) {
  if (file.size > state.limits.upload_bytes) {
    throw new Error(`${file.name}: ${file.size.toLocaleString()} bytes; the studio takes files up to ${state.limits.upload_bytes.toLocaleString()}`);
  }
  const query = new URLSearchParams({ model: state.model.name, name: file.name });
  const made = await answer(await fetch(`/api/upload?${query}`, {
    method: "POST", headers: { "Content-Type": "application/octet-stream" }, body: file,
  }));
  return remember(made)[0];
}

/* Keep a result's pieces for the blend slots (newest first). */
function remember(result) {
  const pieces = result.pieces.map(p => ({ ...p, model: result.model, result: result.result }));
  state.library.unshift(...pieces);
  refreshSlots();
  return pieces;
}

function toast(message) {
  const box = $("#toast");
  box.textContent = message;
  box.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { box.hidden = true; }, 7000);
}

async function busy(button, label, work) {
  const text = button.textContent;
  button.disabled = true;
  button.textContent = label;
  try { return await work(); } catch (error) { toast(error.message); } finally {
    button.disabled = false;
    button.textContent = text;
  }
}

/* --- models --------------------------------------------------------------------------- */

async function loadModels() {
  const listing = await call("/api/models");
  state.models = listing.models;
  state.limits = listing.limits;
  const select = $("#model");
  select.innerHTML = "";
  for (const group of ["music", "image"]) {
    const optgroup = document.createElement("optgroup");
    optgroup.label = group === "music" ? "Music" : "Digits";
    for (const m of state.models.filter(m => m.domain === group)) optgroup.append(new Option(m.name, m.name));
    if (optgroup.children.length) select.append(optgroup);
  }
  select.value = listing.default;
  $("#sample-n").max = state.limits.pieces;
  $("#status").textContent = `${state.models.length} models · sound: ${listing.synth === "soundfont" ? "General MIDI SoundFont" : "sine tones"} · up to ${state.limits.pieces} pieces a request`;
  chooseModel(listing.default);
  document.body.dataset.ready = "1";
}

function chooseModel(name) {
  state.model = state.models.find(m => m.name === name);
  const m = state.model;
  $("#chords-field").hidden = !m.chords;
  $("#label-field").hidden = !m.labels;
  const labels = $("#label");
  labels.length = 1;
  for (let k = 0; k < m.labels; k++) labels.append(new Option(String(k), String(k)));
  $("#temperature-field").hidden = m.domain !== "music";  // digits decode without sampling
  const slider = $("#sample-temperature");
  slider.max = String(Math.max(1.5, m.temperature));
  slider.value = m.temperature;  // the model's own default (as the range input holds it)
  $("#sample-temperature-value").textContent = Number(slider.value).toFixed(2);
  $("#model-note").textContent = `${m.name}: ${m.description} (preset ${m.preset}, ${m.latent_dim}-d code${m.bars ? `, ${m.bars} bars` : ""})`;
  const box = $("#attributes");
  box.innerHTML = "";
  for (const name of m.attributes) {
    const label = document.createElement("label");
    label.className = "field";
    label.innerHTML = `<span>${name.replace("_", " ")} <output>0</output></span>
      <input type="range" min="-2" max="2" step="0.5" value="0" data-attribute="${name}">`;
    const input = $("input", label);
    input.addEventListener("input", () => { $("output", label).textContent = Number(input.value).toFixed(1); });
    box.append(label);
  }
  $("#recon-file").accept = m.domain === "music" ? ".mid,.midi" : ".png";
  refreshSlots();
}

function chords() { return state.model.chords ? $("#chords").value.trim() || null : null; }
function label() { return state.model.labels && $("#label").value !== "" ? Number($("#label").value) : null; }

/* --- cards and the player ---------------------------------------------------------- */

const player = { audio: null, card: null, piece: null };

function card(piece, meta) {
  const box = document.createElement("article");
  box.className = "card";
  box.dataset.piece = piece.id;
  const head = document.createElement("header");
  head.innerHTML = `<span class="title"></span><span class="meta"></span>`;
  $(".title", head).textContent = piece.title;
  $(".meta", head).textContent = meta || describe(piece);
  box.append(head);
  const actions = document.createElement("div");
  actions.className = "actions";
  const stem = `${piece.model || state.model.name}_${piece.id}`;
  if (piece.kind === "image") {
    const img = new Image();
    img.className = "digit";
    img.src = piece.png;
    img.alt = piece.title;
    box.append(img);
    actions.append(link(piece.png, `${stem}.png`, "PNG"));
  } else {
    const canvas = document.createElement("canvas");
    box.append(canvas);
    requestAnimationFrame(() => Roll.draw(canvas, piece));
    const play = document.createElement("button");
    play.className = "play";
    play.type = "button";
    play.title = "Play";
    play.textContent = "▶";
    play.addEventListener("click", () => toggle(box, piece));
    canvas.addEventListener("click", () => toggle(box, piece));
    actions.append(play, link(piece.midi, `${stem}.mid`, "MIDI"), link(piece.wav, `${stem}.wav`, "WAV"));
  }
  box.append(actions);
  return box;
}

function describe(piece) {
  if (piece.kind === "image") return "";
  return `${piece.duration.toFixed(1)} s · ${piece.notes.length} notes`;
}

function link(href, name, text) {
  const a = document.createElement("a");
  a.href = href;
  a.download = name;
  a.textContent = text;
  return a;
}

function toggle(box, piece) {
  const audio = $("#player");
  const again = player.card === box;
  stopPlayer();
  if (again) return;
  player.card = box;
  player.piece = piece;
  box.classList.add("playing");
  $(".play", box).textContent = "■";
  audio.src = piece.wav;
  audio.play().catch(error => toast(`cannot play: ${error.message}`));
}

function stopPlayer() {
  const audio = $("#player");
  audio.pause();
  if (player.card) {
    player.card.classList.remove("playing");
    $(".play", player.card).textContent = "▶";
    Roll.draw($("canvas", player.card), player.piece);
  }
  player.card = null;
}

/* --- sample ----------------------------------------------------------------------------- */

async function sample(event) {
  event.preventDefault();
  const seed = $("#sample-seed").value;
  const shift = {};
  document.querySelectorAll("#attributes input").forEach(input => {
    if (Number(input.value)) shift[input.dataset.attribute] = Number(input.value);
  });
  const body = {
    model: state.model.name, n: Number($("#sample-n").value),
    temperature: Number($("#sample-temperature").value), seed: seed === "" ? null : Number(seed),
    chords: chords(), shift, label: label(),
  };
  await busy($("#sample-go"), "Sampling…", async () => {
    const result = await call("/api/sample", body);
    stopPlayer();
    const grid = $("#sample-results");
    grid.innerHTML = "";
    grid.classList.toggle("images", result.pieces[0].kind === "image");
    for (const piece of remember(result)) grid.append(card(piece));
    grid.dataset.result = result.result;
    $("#sample-command").innerHTML = `Seed ${result.seed}. The same pieces as files: <code></code>`;
    $("#sample-command code").textContent = result.command;
  });
}

function tick() {
  if (player.card) Roll.playhead($("canvas", player.card), $("#player").currentTime);
  if (looper.on && state.blend.piece && state.blend.piece.notes) {
    Roll.playhead($("#blend-roll"), looper.audio(looper.active).currentTime);
  }
  if (player.card || looper.on) requestAnimationFrame(tick);
}

/* --- reconstruct ------------------------------------------------------------------------ */

async function reconstruct(event) {
  event.preventDefault();
  const file = $("#recon-file").files[0];
  if (!file) { toast("choose a file to reconstruct first"); return; }
  await busy($("#recon-go"), "Reconstructing…", async () => {
    const upload = await uploadFile(file);
    const bar = $("#recon-bar").value;
    const result = await call("/api/reconstruct", {
      model: state.model.name, input: upload.id, bar: bar === "" ? null : Number(bar),
    });
    stopPlayer();
    const box = $("#recon-results");
    box.innerHTML = "";
    const pieces = remember(result);
    const window = result.window || {};
    const where = window.windows ? `window ${window.window} of ${window.windows}, ${window.meter}` : "";
    pieces.forEach((piece, i) => box.append(card(piece, i === 0 ? where : describe(piece))));
    box.dataset.result = result.result;
    $("#recon-info").textContent = pieces.length > 1
      ? `${file.name}: ${where}. Left: what the model read; right: what it decodes from its code.`
      : `${file.name}: input, then its reconstruction.`;
  });
}

/* --- wiring --------------------------------------------------------------------------------- */

function showPanel(name) {
  document.querySelectorAll(".tabs button").forEach(tab => {
    tab.setAttribute("aria-selected", String(tab.dataset.panel === name));
  });
  document.querySelectorAll(".panel").forEach(panel => { panel.hidden = panel.id !== `panel-${name}`; });
  if (name === "blend") {
    fillSlots();
    refreshSlots();
    blendNow();
  }
}

function wire() {
  document.querySelectorAll(".tabs button").forEach(tab => tab.addEventListener("click", () => showPanel(tab.dataset.panel)));
  $("#model").addEventListener("change", event => chooseModel(event.target.value));
  $("#sample-form").addEventListener("submit", sample);
  $("#sample-temperature").addEventListener("input", event => {
    $("#sample-temperature-value").textContent = Number(event.target.value).toFixed(2);
  });
  $("#mode-mixer").addEventListener("click", () => setMode("mixer"));
  $("#mode-pad").addEventListener("click", () => setMode("pad"));
  $("#blend-new").addEventListener("click", newPieces);
  $("#blend-method").addEventListener("change", blendNow);
  $("#chords").addEventListener("change", blendNow);
  $("#label").addEventListener("change", blendNow);
  $("#blend-slider").addEventListener("input", event => { state.blend.x = event.target.value / 100; blendNow(); });
  $("#blend-play").addEventListener("click", () => (looper.on ? looper.stop() : looper.start()));
  const pad = $("#pad");
  pad.addEventListener("pointerdown", event => { pad.setPointerCapture(event.pointerId); padMove(event); });
  pad.addEventListener("pointermove", padMove);
  $("#player").addEventListener("play", () => requestAnimationFrame(tick));
  $("#player").addEventListener("ended", stopPlayer);
  $("#recon-form").addEventListener("submit", reconstruct);
  $("#mixer-box").hidden = false;
  loadModels().catch(error => { $("#status").textContent = "Cannot reach the studio server."; toast(error.message); });
}

document.addEventListener("DOMContentLoaded", wire);
