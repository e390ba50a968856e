// The operator page: live video with every target's box and id, drag (or tap) to select a target
// on the frame shown, Remove one target, Stop all, and the score threshold. Everything it loads
// comes from this robot.
"use strict";

const canvas = document.getElementById("video");
const ctx = canvas.getContext("2d");
const ui = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const token = params.get("token") || "";
if (token) history.replaceState(null, "", location.pathname);  // keep it out of the address bar

let frame = null;            // {bitmap, stamp, width, height} of the newest frame
let frozen = null;           // the frame shown while the operator drags
let status = null;           // the primary target's status (header fields)
let targets = null;          // every target of the newest frame (null: a tracker without ~/statuses)
let drag = null;             // {x0, y0, x1, y1} in canvas pixels
let frames = 0;
const statusTimes = [];

function setMessage(text, ok) {
  const m = ui("message");
  m.textContent = text;
  m.className = ok === undefined ? "" : ok ? "accepted" : "refused";
}

async function post(path, body) {
  const headers = {"Content-Type": "application/json"};
  if (token) headers["X-Operator-Token"] = token;
  try {
    const response = await fetch(path, {method: "POST", headers, body: JSON.stringify(body)});
    const reply = await response.json();
    setMessage(reply.message || (reply.ok ? "ok" : "refused"), reply.ok);
    document.body.dataset.lastReply = JSON.stringify(reply);
    return reply;
  } catch (error) {
    setMessage(`no answer from the robot: ${error}`, false);
    return null;
  }
}

function shown() { return frozen || frame; }

function draw() {
  const f = shown();
  if (!f) return;
  if (canvas.width !== f.bitmap.width || canvas.height !== f.bitmap.height) {
    canvas.width = f.bitmap.width;
    canvas.height = f.bitmap.height;
  }
  ctx.drawImage(f.bitmap, 0, 0);
  const scale = canvas.width / f.width;
  const boxes = targets || (status && status.state !== "IDLE" ? [status] : []);
  for (const t of boxes) {
    if (!t.box) continue;
    const [x, y, w, h] = t.box.map((v) => v * scale);
    ctx.lineWidth = Math.max(2, canvas.width / 320);
    ctx.strokeStyle = t.state === "TRACKING" ? "#3ddc64" : "#ff5252";
    ctx.strokeRect(x, y, w, h);
    const label = `${t.track_id} ${t.score.toFixed(2)}`;
    ctx.font = `${Math.max(12, canvas.width / 40)}px system-ui`;
    ctx.fillStyle = ctx.strokeStyle;
    const tx = Math.max(0, Math.min(x, canvas.width - ctx.measureText(label).width));
    ctx.fillText(label, tx, Math.max(14, y - 4));
  }
  if (drag) {
    ctx.setLineDash([6, 4]);
    ctx.strokeStyle = "#ffd54f";
    ctx.lineWidth = 2;
    ctx.strokeRect(drag.x0, drag.y0, drag.x1 - drag.x0, drag.y1 - drag.y0);
    ctx.setLineDash([]);
  }
  document.body.dataset.frameStamp = f.stamp;
  document.body.dataset.frames = String(frames);
}

function showStatus(s) {
  status = s;
  const now = performance.now();
  statusTimes.push(now);
  while (statusTimes.length && now - statusTimes[0] > 2000) statusTimes.shift();
  ui("state").textContent = s.state;
  ui("state").className = `badge ${s.state}`;
  ui("track").textContent = s.track_id ? `track ${s.track_id}` : "";
  ui("score").textContent = s.state === "IDLE" ? "" : `score ${s.score.toFixed(2)}`;
  const fps = statusTimes.length / 2;
  const latency = Number.isFinite(s.latency_ms) ? `, ${s.latency_ms.toFixed(0)} ms` : "";
  ui("rate").textContent = `${fps.toFixed(0)} fps${latency}`;
  if (document.activeElement !== ui("threshold")) {
    ui("threshold").value = s.threshold;
    ui("threshold-value").textContent = Number(s.threshold).toFixed(2);
  }
  document.body.dataset.state = s.state;
  draw();
}

function showTargets(list) {
  targets = list;
  const ul = ui("targets");
  const ids = list.map((t) => t.track_id).join(" ");
  if (ul.dataset.ids !== ids) {  // rebuild only when the set changes (buttons keep their focus)
    ul.replaceChildren(...list.map((t) => {
      const li = document.createElement("li");
      li.dataset.trackId = t.track_id;
      const name = document.createElement("span");
      name.textContent = `${t.track_id}${t.label ? ` (${t.label})` : ""}`;
      const remove = document.createElement("button");
      remove.type = "button";
      remove.textContent = "Remove";
      remove.className = "remove";
      remove.addEventListener("click", () => post("/api/remove", {track_id: t.track_id}));
      li.append(name, remove);
      return li;
    }));
    ul.dataset.ids = ids;
  }
  document.body.dataset.targets = ids;
  draw();
}

function connect() {
  const ws = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`);
  ws.binaryType = "arraybuffer";
  ws.onmessage = async (event) => {
    if (typeof event.data === "string") {
      const message = JSON.parse(event.data);
      if (message.type === "status") showStatus(message);
      if (message.type === "targets") showTargets(message.targets);
      if (message.type === "hello") {
        document.body.dataset.tokenRequired = String(message.token_required);
        if (message.token_required && !token) setMessage("view only: open this page with ?token=… to control", false);
      }
      return;
    }
    const view = new DataView(event.data);
    const stamp = view.getBigInt64(0, true).toString();
    const width = view.getUint32(8, true);
    const height = view.getUint32(12, true);
    const bitmap = await createImageBitmap(new Blob([event.data.slice(16)], {type: "image/jpeg"}));
    frame = {bitmap, stamp, width, height};
    frames += 1;
    ui("waiting").style.display = "none";
    if (!frozen) draw();
  };
  ws.onclose = () => setTimeout(connect, 1000);
}

function toCanvas(event) {
  const rect = canvas.getBoundingClientRect();
  return [(event.clientX - rect.left) * canvas.width / rect.width,
          (event.clientY - rect.top) * canvas.height / rect.height];
}

canvas.addEventListener("pointerdown", (event) => {
  if (!frame) return;
  canvas.setPointerCapture(event.pointerId);
  frozen = frame;  // the box is drawn on this frame, so it is sent with this frame's stamp
  document.body.dataset.selectionStamp = frozen.stamp;
  const [x, y] = toCanvas(event);
  drag = {x0: x, y0: y, x1: x, y1: y};
  draw();
});

canvas.addEventListener("pointermove", (event) => {
  if (!drag) return;
  [drag.x1, drag.y1] = toCanvas(event);
  draw();
});

canvas.addEventListener("pointerup", async () => {
  if (!drag || !frozen) return;
  const f = frozen;
  const scale = f.width / canvas.width;  // canvas pixels -> camera pixels
  const x = Math.min(drag.x0, drag.x1) * scale, y = Math.min(drag.y0, drag.y1) * scale;
  const w = Math.abs(drag.x1 - drag.x0) * scale, h = Math.abs(drag.y1 - drag.y0) * scale;
  drag = null;
  frozen = null;
  draw();
  if (w < 8 * scale && h < 8 * scale) {
    await post("/api/point", {stamp_ns: f.stamp, x: x + w / 2, y: y + h / 2});
  } else {
    await post("/api/init", {stamp_ns: f.stamp, box: [x, y, w, h], label: "operator"});
  }
});

canvas.addEventListener("pointercancel", () => { drag = null; frozen = null; draw(); });

ui("stop").addEventListener("click", () => post("/api/stop", {}));
ui("threshold").addEventListener("input", () => {
  ui("threshold-value").textContent = Number(ui("threshold").value).toFixed(2);
});
ui("threshold").addEventListener("change", () => post("/api/threshold", {value: Number(ui("threshold").value)}));

connect();
