// frugal's chat page: streams answers from /v1/chat/completions and shows the server's
// memory from /v1/memory once a second. Plain JS, no dependencies, works offline.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { history: [], model: "model", busy: false, abort: null };
const CATEGORIES = [
  ["weights", "weights (resident)"], ["kv", "KV cache"], ["scratch", "scratch"],
  ["tokenizer", "tokenizer"], ["runtime", "runtime"], ["other", "the rest"],
];

function fmtBytes(n) {
  if (n == null || n < 0) return "–";
  const u = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return (i ? n.toFixed(n < 10 ? 2 : 1) : n) + " " + u[i];
}

function headers() {
  const h = { "Content-Type": "application/json" };
  const key = localStorage.getItem("frugal-api-key");
  if (key) h.Authorization = "Bearer " + key;
  return h;
}

function needKey() {
  $("keybox").hidden = false;
  $("apikey").focus();
}

async function api(path, opts = {}) {
  const r = await fetch(path, Object.assign({ headers: headers() }, opts));
  if (r.status === 401) needKey();
  return r;
}

// ---- chat ----------------------------------------------------------------------------
function addMessage(role, text) {
  const div = document.createElement("div");
  div.className = "msg " + role;
  div.textContent = text;
  $("log").appendChild(div);
  $("log").scrollTop = $("log").scrollHeight;
  return div;
}

function setBusy(b) {
  state.busy = b;
  $("send").disabled = b;
  $("stop").disabled = !b;
  $("status").textContent = b ? "generating…" : "";
}

function numberOr(id, fallback) {
  const v = $(id).value.trim();
  return v === "" ? fallback : Number(v);
}

function note(div, text) {
  const n = document.createElement("span");
  n.className = "note";
  n.textContent = text;
  div.appendChild(n);
}

async function send(text) {
  state.history.push({ role: "user", content: text });
  addMessage("user", text);
  const out = addMessage("assistant", "");
  out.classList.add("streaming");
  const body = document.createTextNode("");
  out.appendChild(body);
  const sys = $("system").value.trim();
  const messages = (sys ? [{ role: "system", content: sys }] : []).concat(state.history);
  const req = {
    model: state.model, messages, stream: true, stream_options: { include_usage: true },
    temperature: numberOr("temperature", 0.7), top_p: numberOr("top_p", 1),
    max_tokens: numberOr("max_tokens", 256),
  };
  const seed = numberOr("seed", null);
  if (seed !== null) req.seed = seed;
  state.abort = new AbortController();
  setBusy(true);
  let answer = "", finish = null, usage = null;
  const t0 = performance.now();
  try {
    const r = await api("/v1/chat/completions", { method: "POST", body: JSON.stringify(req), signal: state.abort.signal });
    if (!r.ok) {
      const e = await r.json().catch(() => ({}));
      throw new Error((e.error && e.error.message) || "HTTP " + r.status);
    }
    const reader = r.body.getReader();
    const dec = new TextDecoder();
    let buf = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += dec.decode(value, { stream: true });
      let i;
      while ((i = buf.indexOf("\n\n")) >= 0) {
        const event = buf.slice(0, i);
        buf = buf.slice(i + 2);
        for (const line of event.split("\n")) {
          if (!line.startsWith("data: ")) continue;
          const data = line.slice(6);
          if (data === "[DONE]") continue;
          const j = JSON.parse(data);
          if (j.error) throw new Error(j.error.message);
          if (j.usage) usage = j.usage;
          const c = j.choices && j.choices[0];
          if (!c) continue;
          if (c.delta && c.delta.content) {
            answer += c.delta.content;
            body.data = answer;
            $("log").scrollTop = $("log").scrollHeight;
          }
          if (c.finish_reason) finish = c.finish_reason;
        }
      }
    }
  } catch (e) {
    if (e.name === "AbortError") finish = "stopped";
    else {
      out.classList.add("error");
      note(out, e.message);
      finish = "error";
    }
  }
  out.classList.remove("streaming");
  if (answer) state.history.push({ role: "assistant", content: answer });
  else if (finish !== "error") state.history.pop(); // nothing came: the turn is not kept
  const secs = (performance.now() - t0) / 1000;
  const bits = [];
  if (finish && finish !== "error") bits.push(finish);
  if (usage) bits.push(usage.completion_tokens + " tokens", (usage.completion_tokens / secs).toFixed(1) + " tok/s",
                       usage.prompt_tokens + " prompt (" + ((usage.prompt_tokens_details || {}).cached_tokens || 0) + " cached)");
  if (bits.length) note(out, bits.join(" · "));
  setBusy(false);
  state.abort = null;
}

// ---- memory ----------------------------------------------------------------------------
function renderMemory(m) {
  const cats = m.categories || {};
  const total = CATEGORIES.reduce((s, [k]) => s + Math.max(0, cats[k] || 0), 0) || 1;
  $("mem-rss").textContent = fmtBytes(m.rss);
  const bar = $("mem-bar"), tbody = $("mem-table").tBodies[0];
  bar.textContent = "";
  tbody.textContent = "";
  for (const [k, label] of CATEGORIES) {
    const v = Math.max(0, cats[k] || 0);
    const seg = document.createElement("div");
    seg.style.width = (100 * v / total) + "%";
    seg.style.background = "var(--c-" + k + ")";
    seg.title = label + ": " + fmtBytes(v);
    bar.appendChild(seg);
    const tr = tbody.insertRow();
    const sw = document.createElement("span");
    sw.className = "swatch";
    sw.style.background = "var(--c-" + k + ")";
    const td = tr.insertCell();
    td.appendChild(sw);
    td.appendChild(document.createTextNode(label));
    tr.insertCell().textContent = fmtBytes(v);
    tr.dataset.category = k;
  }
  const kv = m.kv_cache || {};
  const b = m.budget;
  if (b && b.limit > 0) {
    const frac = Math.max(0, Math.min(1, b.used / b.limit));
    $("budget-text").textContent = fmtBytes(b.used) + " of " + fmtBytes(b.limit) + " (" + b.source + ")";
    $("budget-fill").style.width = (100 * frac) + "%";
    $("budget-fill").classList.toggle("high", frac > 0.9);
  } else {
    $("budget-text").textContent = "none";
  }
  const s = m.server || {};
  $("mem-note").textContent = "KV: " + (kv.tokens || 0) + " of " + (kv.n_ctx || 0) + " positions · " +
    (s.decode_tokens_per_second ? s.decode_tokens_per_second.toFixed(1) + " tok/s last · " : "") +
    (s.busy ? "busy" : "idle") + (s.queued ? ", " + s.queued + " waiting" : "");
  renderChart(m.timeline || {}, b);
}

// The last minutes of RSS (area) and anonymous RSS (line), with the budget line when it
// is near enough to be drawn on the same scale.
function renderChart(tl, budget) {
  const rows = tl.samples || [];
  const W = 300, H = 110;
  if (rows.length < 2) return;
  const t0 = rows[0][0];
  const span = Math.max(1, -t0);
  let max = 0;
  for (const r of rows) max = Math.max(max, r[1]);
  const lim = budget && budget.limit > 0 ? budget.limit : 0;
  const showBudget = lim > 0 && lim < max * 2.5;
  if (showBudget) max = Math.max(max, lim);
  max *= 1.1;
  const x = (t) => ((t - t0) / span) * W;
  const y = (v) => H - (v / max) * H;
  const line = rows.map((r) => x(r[0]).toFixed(1) + "," + y(r[1]).toFixed(1));
  $("chart-area").setAttribute("points", "0," + H + " " + line.join(" ") + " " + W + "," + H);
  $("chart-anon").setAttribute("points", rows.map((r) => x(r[0]).toFixed(1) + "," + y(r[2]).toFixed(1)).join(" "));
  const bl = $("chart-budget");
  const by = showBudget ? y(lim).toFixed(1) : -10;
  bl.setAttribute("y1", by);
  bl.setAttribute("y2", by);
  $("chart-max").textContent = "top " + fmtBytes(max) + (showBudget ? " · dashed: budget" : "");
  $("chart-span").textContent = "RSS, last " + (span >= 90 ? Math.round(span / 60) + " min" : Math.round(span) + " s");
}

async function pollMemory() {
  try {
    const r = await api("/v1/memory?window=300&points=150");
    if (r.ok) renderMemory(await r.json());
  } catch (e) { /* the server may be restarting: try again */ }
  setTimeout(pollMemory, 1000);
}

// ---- start -------------------------------------------------------------------------------
async function init() {
  try {
    const r = await api("/v1/models");
    if (r.ok) {
      const j = await r.json();
      state.model = j.data[0].id;
      $("model").textContent = state.model + " · context " + j.data[0].context_length;
    }
  } catch (e) {
    $("model").textContent = "server unreachable";
  }
}

$("apikey").value = localStorage.getItem("frugal-api-key") || "";
$("apikey").addEventListener("change", () => {
  localStorage.setItem("frugal-api-key", $("apikey").value.trim());
  init();
});
$("composer").addEventListener("submit", (e) => {
  e.preventDefault();
  const text = $("input").value.trim();
  if (!text || state.busy) return;
  $("input").value = "";
  send(text);
});
$("input").addEventListener("keydown", (e) => {
  if (e.key === "Enter" && !e.shiftKey) {
    e.preventDefault();
    $("composer").requestSubmit();
  }
});
$("stop").addEventListener("click", () => state.abort && state.abort.abort());
$("clear").addEventListener("click", () => {
  if (state.abort) state.abort.abort();
  state.history = [];
  $("log").textContent = "";
});
init();
pollMemory();
