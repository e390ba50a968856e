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
let drag = null;             // {x0, y0, x1, y1} in canvas pixels
let frames = 0;
// The boxes of recent frames by stamp, so the box drawn is the one of the frame shown, whatever
// the video's lag: every target per frame (~/statuses), or the primary status where a tracker
// has no ~/statuses.
const HISTORY = 240;
const targetHistory = [];    // [{stamp: BigInt, boxes}]
const statusHistory = [];
const statusTimes = [];      // arrival times of statuses (ms), for the rate
let firstStatusAt = null;

// What the server's refusals mean to an operator, where a reply has no words of its own.
const REFUSALS = {
  401: "this page may only watch: open it with the link that has the token",
  403: "this page belongs to another site: open the robot's own page",
  413: "the request was too large",
  415: "the robot did not understand the request",
  429: "too many requests: wait a moment and try again",
};

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
    let reply;
    try {
      reply = await response.json();
    } catch (error) {
      reply = {ok: false, message: REFUSALS[response.status] || `the robot refused (HTTP ${response.status})`};
    }
    const message = reply.message || REFUSALS[response.status] || (reply.ok ? "ok" : "refused");
    setMessage(reply.ok ? message : `refused: ${message}`, reply.ok);
    document.body.dataset.lastReply = JSON.stringify(reply);
    return reply;
  } catch (error) {
    setMessage(`no answer from the robot: ${error}`, false);
    return null;
  }
}

function shown() { return frozen || frame; }

function remember(history, stamp, boxes) {
  const entry = {stamp: BigInt(stamp), boxes};
  while (history.length && history[history.length - 1].stamp >= entry.stamp) history.pop();  // a reset clock
  history.push(entry);
  if (history.length > HISTORY) history.shift();
}

// The boxes of the frame stamped `stamp`: its own, or those of the newest frame before it (a
// frame the tracker skipped); none before the first status.
function boxesOf(stamp) {
  const history = targetHistory.length ? targetHistory : statusHistory;
  const s = BigInt(stamp);
  for (let i = history.length - 1; i >= 0; i--) {
    if (history[i].stamp <= s) return history[i];
  }
  return null;
}

function draw() {
  const f = shown();
  if (!f) return;
  if (canvas.width !== f.bitmap.width || canvas.height !== f.bitmap.height) {
    canvas.width = f.bitmap.width;
    canvas.height = f.bitmap.height;
  }
  ctx.drawImage(f.bitmap, 0, 0);
  const scale = canvas.width / f.width;
  const matched = boxesOf(f.stamp);
  document.body.dataset.boxStamp = matched ? matched.stamp.toString() : "";
  for (const t of matched ? matched.boxes : []) {
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
  remember(statusHistory, s.stamp_ns, s.state !== "IDLE" && s.box ? [s] : []);
  const now = performance.now();
  if (firstStatusAt === null) firstStatusAt = now;
  statusTimes.push(now);
  while (statusTimes.length && now - statusTimes[0] > 2000) statusTimes.shift();
  ui("state").textContent = s.state;
  ui("state").className = `badge ${s.state}`;
  ui("track").textContent = s.track_id ? `track ${s.track_id}` : "";
  ui("score").textContent = s.state === "IDLE" ? "" : `score ${s.score.toFixed(2)}`;
  // nothing until two seconds of statuses are measured; a latency only while tracking
  const measured = now - firstStatusAt >= 2000;
  const latency = s.state !== "IDLE" && s.latency_ms > 0 ? `, ${s.latency_ms.toFixed(0)} ms` : "";
  ui("rate").textContent = measured ? `${(statusTimes.length / 2).toFixed(0)} fps${latency}` : "";
  if (document.activeElement !== ui("threshold")) {
    ui("threshold").value = s.threshold;
    ui("threshold-value").textContent = Number(s.threshold).toFixed(2);
  }
  document.body.dataset.state = s.state;
  draw();
}

function showTargets(stamp, list) {
  remember(targetHistory, stamp, list);
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
      if (message.type === "targets") showTargets(message.stamp_ns, message.targets);
      if (message.type === "hello") {
        document.body.dataset.tokenRequired = String(message.token_required);
        if (message.token_required && !token) {
          setMessage("view only: open the page with the link that has the token to control the tracker", false);
        }
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
