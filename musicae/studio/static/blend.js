/* musicae studio, the Blend panel: Melody Mixer (two pieces and a slider) and Beat Blender
   (four corners and a pad). Each move asks the server to decode the mixed code; the result
   plays on a loop that never stops while it changes. Uses studio.js's state and helpers. */
"use strict";

function slotCount() { return state.blend.mode === "pad" ? 4 : 2; }
function kindOfModel() { return state.model ? state.model.domain : "music"; }
function pieceById(id) { return state.library.find(p => p.id === id); }

function refreshSlots() {
  const box = $("#slots");
  if (!box || !state.model) return;
  const usable = state.library.filter(p => p.kind === kindOfModel());
  box.innerHTML = "";
  box.classList.toggle("four", slotCount() === 4);
  for (let i = 0; i < slotCount(); i++) {
    if (state.blend.slots[i] && !usable.some(p => p.id === state.blend.slots[i])) state.blend.slots[i] = null;
    box.append(slot(i, usable));
  }
  const names = state.blend.slots.slice(0, 2).map((id, i) => (pieceById(id) || {}).title || LETTERS[i]);
  $("#mix-a").textContent = `A · ${names[0]}`;
  $("#mix-b").textContent = `${names[1]} · B`;
  drawPad();
}

function slot(i, usable) {
  const box = document.createElement("div");
  box.className = "slot";
  box.innerHTML = `<div class="row"><span class="letter"></span><select></select>
    <button type="button" class="upload" title="Upload a file for this slot">Upload…</button>
    <input type="file" hidden></div>`;
  const letter = $(".letter", box);
  letter.textContent = LETTERS[i];
  letter.style.background = CORNER_COLOURS[i];
  const select = $("select", box);
  select.id = `slot-${LETTERS[i].toLowerCase()}`;
  select.append(new Option("— choose a piece —", ""));
  for (const p of usable) {
    const other = p.model !== state.model.name ? ` · ${p.model}` : "";
    select.append(new Option(`${p.title} · ${p.result}${other}`, p.id));
  }
  select.value = state.blend.slots[i] || "";
  select.addEventListener("change", () => { state.blend.slots[i] = select.value || null; refreshSlots(); blendNow(); });
  const file = $("input[type=file]", box);
  file.accept = kindOfModel() === "music" ? ".mid,.midi" : ".png";
  $(".upload", box).addEventListener("click", () => file.click());
  file.addEventListener("change", async () => {
    if (!file.files.length) return;
    try {
      const piece = await uploadFile(file.files[0]);
      state.blend.slots[i] = piece.id;
      refreshSlots();
      blendNow();
    } catch (error) { toast(error.message); }
  });
  const chosen = pieceById(state.blend.slots[i]);
  if (chosen && chosen.notes) {
    const canvas = document.createElement("canvas");
    box.append(canvas);
    requestAnimationFrame(() => Roll.draw(canvas, chosen, { compact: true }));
  } else if (chosen && chosen.png) {
    const img = new Image();
    img.className = "digit";
    img.src = chosen.png;
    box.append(img);
  }
  return box;
}

function setMode(mode) {
  state.blend.mode = mode;
  $("#mode-mixer").setAttribute("aria-checked", String(mode === "mixer"));
  $("#mode-pad").setAttribute("aria-checked", String(mode === "pad"));
  $("#pad-box").hidden = mode !== "pad";
  $("#mixer-box").hidden = mode !== "mixer";
  fillSlots();
  refreshSlots();
  blendNow();
}

/* Empty slots take the newest pieces of the model's kind that no slot holds yet. */
function fillSlots() {
  const free = state.library.filter(p => p.kind === kindOfModel() && !state.blend.slots.includes(p.id));
  for (let i = 0; i < slotCount(); i++) {
    if (!state.blend.slots[i] && free.length) state.blend.slots[i] = free.shift().id;
  }
}

async function newPieces() {
  await busy($("#blend-new"), "Sampling…", async () => {
    const result = await call("/api/sample", {
      model: state.model.name, n: slotCount(), temperature: Number($("#sample-temperature").value),
      chords: chords(), label: label(),
    });
    const pieces = remember(result);
    pieces.forEach((p, i) => { state.blend.slots[i] = p.id; });
    refreshSlots();
    blendNow();
  });
}

const blendQueue = { inFlight: false, wanted: false };

/* Ask for the blend at the current position; while one is decoding, only the latest
   position waits (a slider sends many). */
function blendNow() {
  const ids = state.blend.slots.slice(0, slotCount());
  if (ids.some(id => !id)) return;
  blendQueue.wanted = true;
  if (!blendQueue.inFlight) pumpBlend();
}

async function pumpBlend() {
  blendQueue.inFlight = true;
  while (blendQueue.wanted) {
    blendQueue.wanted = false;
    const { x, y } = state.blend, started = performance.now();
    try {
      const result = await call("/api/blend", {
        model: state.model.name, pieces: state.blend.slots.slice(0, slotCount()),
        x, y: state.blend.mode === "pad" ? y : 0, method: $("#blend-method").value,
        chords: chords(), label: label(),
      });
      showBlend(result, performance.now() - started);
    } catch (error) { toast(error.message); }
  }
  blendQueue.inFlight = false;
}

function showBlend(result, ms) {
  const piece = { ...result.pieces[0], model: result.model, result: result.result };
  state.blend.piece = piece;
  const canvas = $("#blend-roll"), img = $("#blend-image");
  canvas.hidden = piece.kind === "image";
  img.hidden = piece.kind !== "image";
  if (piece.kind === "image") img.src = piece.png; else Roll.draw(canvas, piece);
  canvas.dataset.piece = piece.id;
  canvas.dataset.x = result.x.toFixed(2);
  canvas.dataset.y = result.y.toFixed(2);
  const where = state.blend.mode === "pad"
    ? `x ${result.x.toFixed(2)}, y ${result.y.toFixed(2)}`
    : `${Math.round(100 * (1 - result.x))}% A · ${Math.round(100 * result.x)}% B`;
  $("#blend-caption").textContent = `${where} · decoded and rendered in ${Math.round(ms)} ms` +
    (piece.notes ? ` · ${piece.notes.length} notes` : "");
  looper.swap();
}

function drawPad() {
  if (state.blend.mode === "pad") Roll.pad($("#pad"), state.blend.x, state.blend.y, LETTERS);
}

function padMove(event) {
  if (event.type === "pointermove" && !(event.buttons & 1)) return;
  const box = $("#pad").getBoundingClientRect();
  state.blend.x = Math.min(1, Math.max(0, (event.clientX - box.left) / box.width));
  state.blend.y = Math.min(1, Math.max(0, (event.clientY - box.top) / box.height));
  drawPad();
  blendNow();
}

/* Two <audio loop> elements: a new blend loads in the idle one and takes over at the same
   moment of the bar, so the loop never stops while the slider moves. */
const looper = {
  on: false, active: 0,
  audio(i) { return $(i ? "#loop-b" : "#loop-a"); },
  start() {
    const piece = state.blend.piece;
    if (!piece || !piece.wav) return;
    this.on = true;
    const audio = this.audio(this.active);
    audio.src = piece.wav;
    audio.play().catch(error => toast(`cannot play: ${error.message}`));
    $("#blend-play").textContent = "■ Stop";
    requestAnimationFrame(tick);
  },
  stop() {
    this.on = false;
    [0, 1].forEach(i => this.audio(i).pause());
    $("#blend-play").textContent = "▶ Loop";
    if (state.blend.piece && state.blend.piece.notes) Roll.draw($("#blend-roll"), state.blend.piece);
  },
  swap() {
    if (!this.on || !state.blend.piece.wav) return;
    const current = this.audio(this.active), next = this.audio(1 - this.active);
    next.oncanplay = () => {
      next.oncanplay = null;
      if (!this.on) return;
      next.currentTime = next.duration ? current.currentTime % next.duration : 0;
      next.play().then(() => { current.pause(); this.active = 1 - this.active; })
        .catch(error => toast(`cannot play: ${error.message}`));
    };
    next.src = state.blend.piece.wav;
    next.load();
  },
};

