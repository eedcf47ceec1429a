// wa-http web UI: plain JavaScript, no build step. Talks to the REST API of the gateway and
// follows GET /api/events (server-sent events, read with fetch so the API key can be sent).
"use strict";

const state = {
  config: { demo: false, auth_required: false },
  apiKey: localStorage.getItem("wa-http-api-key") || "",
  sessions: new Map(), // name -> { view, el }
  demo: null,
};

const $ = (sel, root = document) => root.querySelector(sel);

function showError(message) {
  const box = $("#errors");
  const line = document.createElement("div");
  line.textContent = message;
  box.appendChild(line);
  while (box.children.length > 4) box.removeChild(box.firstChild);
  setTimeout(() => line.remove(), 10000);
}

async function api(method, path, body) {
  const headers = {};
  if (state.apiKey) headers["X-Api-Key"] = state.apiKey;
  let payload;
  if (body instanceof FormData) {
    payload = body;
  } else if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    payload = JSON.stringify(body);
  }
  const resp = await fetch(path, { method, headers, body: payload });
  const type = resp.headers.get("Content-Type") || "";
  const data = type.includes("application/json") ? await resp.json() : await resp.text();
  if (!resp.ok) {
    const msg = data && data.error ? `${data.error.message} (${data.error.code})` : `HTTP ${resp.status}`;
    const err = new Error(msg);
    err.status = resp.status;
    if (resp.status === 401) { $("#auth").hidden = false; }
    throw err;
  }
  return data;
}

const sessionPath = (name) => `/api/sessions/${encodeURIComponent(name)}`;

// ---------- session cards ----------

function cardFor(name) {
  let entry = state.sessions.get(name);
  if (entry) return entry;
  const el = $("#session-template").content.firstElementChild.cloneNode(true);
  el.dataset.session = name;
  el.dataset.testid = `session-${name}`;
  el.setAttribute("data-testid", `session-${name}`);
  $(".name", el).textContent = name;
  const act = (cls, fn) => $(cls, el).addEventListener("click", () => run(fn));
  act(".start", () => api("POST", `${sessionPath(name)}/start`));
  act(".stop", () => api("POST", `${sessionPath(name)}/stop`));
  act(".restart", () => api("POST", `${sessionPath(name)}/restart`));
  act(".logout", () => {
    if (!confirm(`Log out "${name}" and show a new QR code? The phone will have to scan again.`)) return null;
    return api("POST", `${sessionPath(name)}/logout`);
  });
  act(".delete", async () => {
    if (!confirm(`Delete session "${name}" and its keys?`)) return null;
    await api("DELETE", sessionPath(name));
    removeCard(name);
    return null;
  });
  act(".scan-demo", () => api("POST", `/api/demo/sessions/${encodeURIComponent(name)}/scan`));
  const form = $("form.send", el);
  if (state.demo) $(".to", form).value = "+" + state.demo.friend;
  form.addEventListener("submit", (ev) => { ev.preventDefault(); sendText(name, form); });
  $(".send-image-btn", form).addEventListener("click", () => sendImage(name, form));
  $("#sessions").appendChild(el);
  entry = { view: null, el, qrAt: null };
  state.sessions.set(name, entry);
  $("#empty").hidden = true;
  return entry;
}

function removeCard(name) {
  const entry = state.sessions.get(name);
  if (entry) entry.el.remove();
  state.sessions.delete(name);
  $("#empty").hidden = state.sessions.size > 0;
}

async function run(fn) {
  try {
    const r = await fn();
    if (r && r.name) updateCard(r);
  } catch (e) {
    showError(e.message);
  }
}

function updateCard(view) {
  const entry = cardFor(view.name);
  entry.view = view;
  const el = entry.el;
  const badge = $(".badge", el);
  badge.textContent = view.status;
  badge.className = `badge ${view.status}`;
  el.dataset.status = view.status;
  $(".me", el).textContent = view.me ? `${view.me.push_name || ""} ${view.me.jid}`.trim() : "";
  $(".last-error", el).textContent =
    view.last_error && view.status === "FAILED" ? `Error: ${view.last_error.message}` : "";
  const running = ["STARTING", "SCAN_QR_CODE", "WORKING"].includes(view.status);
  $(".start", el).disabled = running;
  $(".stop", el).disabled = view.status === "STOPPED";
  $(".restart", el).disabled = !running;
  $(".send", el).hidden = view.status !== "WORKING";
  const qrBox = $(".qr-box", el);
  if (view.status === "SCAN_QR_CODE") {
    qrBox.hidden = false;
    $(".scan-demo", el).hidden = !state.config.demo;
    if (entry.qrAt !== view.qr_expires_at) loadQr(view.name);
  } else {
    qrBox.hidden = true;
    entry.qrAt = null;
    $(".qr", el).removeAttribute("src");
  }
}

async function loadQr(name) {
  const entry = state.sessions.get(name);
  if (!entry) return;
  try {
    const qr = await api("GET", `${sessionPath(name)}/qr?format=json`);
    entry.qrAt = qr.expires_at;
    const img = $(".qr", entry.el);
    img.src = `data:image/png;base64,${qr.png_base64}`;
    img.dataset.qr = qr.qr;
    $(".qr-expiry", entry.el).textContent = `refreshes at ${new Date(qr.expires_at).toLocaleTimeString()}`;
  } catch (e) {
    if (e.status !== 409) showError(e.message); // 409: the QR went away meanwhile
  }
}

async function refreshSession(name) {
  try {
    updateCard(await api("GET", sessionPath(name)));
  } catch (e) {
    if (e.status === 404) removeCard(name); else showError(e.message);
  }
}

async function loadSessions() {
  const list = await api("GET", "/api/sessions");
  const names = new Set(list.map((v) => v.name));
  for (const name of [...state.sessions.keys()]) if (!names.has(name)) removeCard(name);
  for (const v of list) updateCard(v);
}

// ---------- sending ----------

function showResult(form, ok, text) {
  const r = $(".result", form);
  r.textContent = text;
  r.className = `result ${ok ? "ok" : "err"}`;
}

async function sendText(name, form) {
  const to = $(".to", form).value.trim();
  const text = $(".text", form).value;
  try {
    const r = await api("POST", `${sessionPath(name)}/messages/text`, { to, text });
    showResult(form, true, `Text sent: id ${r.id} to ${r.to}`);
    $(".text", form).value = "";
    refreshInboxSoon();
  } catch (e) {
    showResult(form, false, `Not sent: ${e.message}`);
  }
}

async function sendImage(name, form) {
  const file = $(".file", form).files[0];
  if (!file) { showResult(form, false, "Choose an image first."); return; }
  const fd = new FormData();
  fd.append("to", $(".to", form).value.trim());
  fd.append("caption", $(".caption", form).value);
  fd.append("file", file, file.name);
  try {
    const r = await api("POST", `${sessionPath(name)}/messages/image`, fd);
    showResult(form, true, `Image sent: id ${r.id} to ${r.to}`);
    refreshInboxSoon();
  } catch (e) {
    showResult(form, false, `Not sent: ${e.message}`);
  }
}

// ---------- demo inbox ----------

let inboxTimer = null;
function refreshInboxSoon() {
  if (!state.demo) return;
  setTimeout(loadInbox, 300);
  setTimeout(loadInbox, 1500);
}

async function loadInbox() {
  if (!state.demo) return;
  try {
    const msgs = await api("GET", "/api/demo/inbox");
    const ul = $("#inbox");
    ul.textContent = "";
    if (msgs.length === 0) {
      const li = document.createElement("li");
      li.className = "muted";
      li.textContent = "Nothing received yet.";
      ul.appendChild(li);
    }
    for (const m of msgs) {
      const li = document.createElement("li");
      li.dataset.type = m.type;
      const kind = document.createElement("span");
      kind.className = "kind";
      kind.textContent = m.type;
      li.appendChild(kind);
      let body = m.text || "";
      if (m.type === "image") body = `${m.caption ? m.caption + " — " : ""}${m.mimetype || ""}, ${m.size || 0} bytes`;
      li.appendChild(document.createTextNode(`${body}  (from ${m.from})`));
      ul.appendChild(li);
    }
  } catch (e) {
    showError(`Inbox: ${e.message}`);
  }
}

// ---------- live events ----------

async function followEvents() {
  let delay = 500;
  for (;;) {
    try {
      const headers = { Accept: "text/event-stream" };
      if (state.apiKey) headers["X-Api-Key"] = state.apiKey;
      const resp = await fetch("/api/events", { headers });
      if (!resp.ok) throw new Error(`events: HTTP ${resp.status}`);
      $("#live").className = "live on";
      delay = 500;
      await loadSessions();
      const reader = resp.body.getReader();
      const decoder = new TextDecoder();
      let buf = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += decoder.decode(value, { stream: true });
        let idx;
        while ((idx = buf.indexOf("\n\n")) >= 0) {
          const frame = buf.slice(0, idx);
          buf = buf.slice(idx + 2);
          const data = frame.split("\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5).trim()).join("\n");
          if (data) handleEvent(JSON.parse(data));
        }
      }
    } catch (e) {
      if (e.status === 401) $("#auth").hidden = false;
    }
    $("#live").className = "live off";
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, 10000);
  }
}

function handleEvent(ev) {
  switch (ev.event) {
    case "session_deleted":
      removeCard(ev.session);
      break;
    case "status":
    case "session_created":
    case "logged_out":
      refreshSession(ev.session);
      break;
    case "qr": {
      const entry = state.sessions.get(ev.session);
      if (!entry || !entry.view || entry.view.status !== "SCAN_QR_CODE") refreshSession(ev.session);
      else if (entry.qrAt !== ev.data.expires_at) loadQr(ev.session);
      break;
    }
    case "message":
      refreshInboxSoon();
      break;
    default:
      break;
  }
}

// ---------- start ----------

async function init() {
  $("#auth-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    state.apiKey = $("#api-key").value;
    localStorage.setItem("wa-http-api-key", state.apiKey);
    $("#auth").hidden = true;
    loadSessions().catch((e) => showError(e.message));
  });
  $("#create-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const name = $("#new-name").value.trim();
    try {
      updateCard(await api("POST", "/api/sessions", { name, start: true }));
      $("#new-name").value = "";
    } catch (e) {
      showError(`Could not create "${name}": ${e.message}`);
    }
  });
  $("#reply-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const text = $("#reply-text").value;
    try {
      await api("POST", "/api/demo/reply", { text });
      $("#reply-text").value = "";
    } catch (e) {
      showError(`Reply: ${e.message}`);
    }
  });
  try {
    state.config = await api("GET", "/ui/config");
  } catch (e) {
    showError(`Cannot reach the gateway: ${e.message}`);
  }
  if (state.config.auth_required && !state.apiKey) $("#auth").hidden = false;
  if (state.config.demo) {
    try {
      state.demo = await api("GET", "/api/demo");
      $("#demo-banner").hidden = false;
      $("#demo-phone").textContent = "+" + state.demo.phone;
      $("#demo-friend").textContent = "+" + state.demo.friend;
      $("#inbox-owner").textContent = "(+" + state.demo.friend + ")";
      $("#inbox-panel").hidden = false;
      loadInbox();
      inboxTimer = setInterval(loadInbox, 5000);
    } catch (e) {
      showError(`Demo: ${e.message}`);
    }
  }
  try { await loadSessions(); } catch (e) { showError(e.message); }
  followEvents();
}

init();
