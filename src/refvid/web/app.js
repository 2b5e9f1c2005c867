// refvid playground: plain browser JavaScript, no build step. Talks to this server's /v1 API
// (spec api.md) with the key kept in localStorage; result URLs are signed and played directly.
"use strict";

const KEY_STORE = "refvid.apiKey";
const KINDS = { image: "Image", video: "Video", audio: "Audio" };
// Each model's limits (references per kind, durations) come from GET /v1/models (`limits`), never from here.
const LIMIT_KEYS = { image: "max_images", video: "max_videos", audio: "max_audios" };
const TERMINAL = new Set(["completed", "failed", "cancelled"]);
const $ = (id) => document.getElementById(id);

const state = { refs: [], current: null, pollTimer: null, historyTimer: null, models: [] };

class ApiError extends Error {
  constructor(status, body) {
    const e = (body && body.error) || {};
    super(e.message || `HTTP ${status}`);
    Object.assign(this, { status, type: e.type, code: e.code, param: e.param });
  }
}

function apiKey() { return localStorage.getItem(KEY_STORE) || ""; }

async function api(method, path, body) {
  const headers = { Authorization: `Bearer ${apiKey()}` };
  const init = { method, headers };
  if (body instanceof FormData) init.body = body;
  else if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  if (method === "POST" && path === "/v1/videos/generations") headers["Idempotency-Key"] = randomId();
  const response = await fetch(path, init);
  const payload = await response.json().catch(() => null);
  if (!response.ok) throw new ApiError(response.status, payload);
  return payload;
}

function randomId() {
  if (window.crypto && crypto.randomUUID) return "web-" + crypto.randomUUID();
  return "web-" + Date.now().toString(36) + Math.random().toString(36).slice(2);
}

// Same cadence as refvid.client.clients.poll_delay: backoff to 4 s, sooner when the estimate is short.
function pollDelay(polls, estimate) {
  let delay = Math.min(4, 0.5 * Math.pow(1.5, Math.min(polls, 30)));
  if (estimate > 0) delay = Math.min(delay, estimate / 2);
  return Math.max(0.25, delay) * 1000;
}

function fmtEta(task) {
  const s = task.task_info ? task.task_info.estimated_time : 0;
  if (TERMINAL.has(task.status) || !s) return "--:--";
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const child of children) node.append(child);
  return node;
}

function describeError(err) {
  if (!(err instanceof ApiError)) return String(err.message || err);
  const where = err.param ? ` (${err.param})` : "";
  return `${err.message}${where} [${err.code || err.type}]`;
}

// ---- API key -------------------------------------------------------------------------------------------
function initKey() {
  $("api-key").value = apiKey();
  $("key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    localStorage.setItem(KEY_STORE, $("api-key").value.trim());
    loadModels();
    refreshHistory();
  });
  $("key-forget").addEventListener("click", () => {
    localStorage.removeItem(KEY_STORE);
    $("api-key").value = "";
  });
}

async function loadModels() {
  if (!apiKey()) return;
  try {
    state.models = (await api("GET", "/v1/models")).data;
  } catch (err) {
    return;
  }
  const select = $("model");
  const chosen = select.value;
  select.replaceChildren(...state.models.map((m) => el("option", { value: m.id }, m.id)));
  if (state.models.some((m) => m.id === chosen)) select.value = chosen;
  syncResolutions();
}

function syncResolutions() {
  const model = state.models.find((m) => m.id === $("model").value);
  if (!model) return;
  for (const option of $("resolution").options) option.disabled = !model.resolutions.includes(option.value);
  if ($("resolution").selectedOptions[0].disabled) $("resolution").value = model.resolutions[0];
  if (model.limits) syncDurations(model.limits);
  if (model.limits) syncFormats(model.limits);
  $("model-makes").textContent = model.makes ? `${model.placeholder ? "Placeholder: " : "Makes "}${model.makes}` : "";
}

function selectedLimits() {
  const model = state.models.find((m) => m.id === $("model").value);
  return model && model.limits ? model.limits : null;
}

// The duration choices of the selected model: auto when it allows -1, then min..max seconds.
function syncDurations(limits) {
  const select = $("duration");
  const chosen = select.value;
  const options = limits.auto_duration ? [el("option", { value: "-1" }, "auto (engine decides)")] : [];
  for (let s = limits.min_duration; s <= limits.max_duration; s += 1) {
    options.push(el("option", { value: String(s) }, `${s} s`));
  }
  select.replaceChildren(...options);
  const fallback = String(Math.min(Math.max(5, limits.min_duration), limits.max_duration));
  select.value = [...select.options].some((o) => o.value === chosen) ? chosen : fallback;
}

// The containers the selected model offers (`output_formats`: mov on Seedance 2.5); the others are disabled.
function syncFormats(limits) {
  const select = $("output-format");
  for (const option of select.options) option.disabled = !limits.output_formats.includes(option.value);
  if (select.selectedOptions[0].disabled) select.value = limits.output_formats[0];
}

// What made a finished task's video (results[0].engine, .made), a placeholder said first.
function madeBy(result) {
  if (!result || !result.engine) return "";
  return `${result.placeholder ? "Placeholder. " : ""}Made by ${result.engine}${result.made ? `: ${result.made}` : ""}`;
}

// ---- references ------------------------------------------------------------------------------------------
function kindOf(type, name) {
  if (type) {
    const major = type.split("/")[0];
    if (major in KINDS) return major;
  }
  const ext = (name.split("?")[0].split(".").pop() || "").toLowerCase();
  if (["jpg", "jpeg", "png", "webp"].includes(ext)) return "image";
  if (["mp4", "mov"].includes(ext)) return "video";
  if (["mp3", "wav"].includes(ext)) return "audio";
  return null;
}

function tokenOf(ref) {
  const sameKind = state.refs.filter((r) => r.kind === ref.kind);
  return `@${KINDS[ref.kind]}${sameKind.indexOf(ref) + 1}`;
}

function addRef(kind, name, url, file) {
  const limits = selectedLimits();
  const limit = limits ? limits[LIMIT_KEYS[kind]] : Infinity;  // the server checks again at submit
  if (state.refs.filter((r) => r.kind === kind).length >= limit) {
    showFormError(`At most ${limit} ${kind} references for ${$("model").value}.`);
    return null;
  }
  const ref = { kind, name, url, status: url ? "ready" : "uploading", error: "" };
  state.refs.push(ref);
  renderRefs();
  if (file) uploadRef(ref, file);
  return ref;
}

async function uploadRef(ref, file) {
  const form = new FormData();
  form.append("file", file, file.name);
  try {
    const uploaded = await api("POST", "/v1/files/upload/stream", form);
    Object.assign(ref, { url: uploaded.url, status: "ready" });
  } catch (err) {
    Object.assign(ref, { status: "error", error: describeError(err) });
  }
  renderRefs();
}

function addFiles(files) {
  showFormError("");
  for (const file of files) {
    const kind = kindOf(file.type, file.name);
    if (!kind) showFormError(`${file.name}: not an image, video or audio file.`);
    else addRef(kind, file.name, null, file);
  }
}

function insertToken(token) {
  const prompt = $("prompt");
  const start = prompt.selectionStart ?? prompt.value.length;
  const end = prompt.selectionEnd ?? start;
  const before = prompt.value.slice(0, start);
  const text = (before && !/\s$/.test(before) ? " " : "") + token + " ";
  prompt.setRangeText(text, start, end, "end");
  prompt.focus();
  updateCount();
}

function renderRefs() {
  const list = $("ref-list");
  list.replaceChildren(...state.refs.map((ref) => {
    const token = tokenOf(ref);
    const label = ref.status === "ready" ? "" : ref.status === "uploading" ? " (uploading…)" : " (failed)";
    return el("li", { class: `chip ${ref.kind} ${ref.status}`, "data-status": ref.status },
      el("button", { type: "button", class: "token", title: `Insert ${token} into the prompt`,
        "aria-label": `Insert ${token} (${ref.name}) into the prompt`, onclick: () => insertToken(token) }, token),
      el("span", { class: "name", title: ref.error || ref.name }, ref.name + label),
      el("button", { type: "button", class: "remove", "aria-label": `Remove ${token} (${ref.name})`,
        onclick: () => { state.refs.splice(state.refs.indexOf(ref), 1); renderRefs(); } }, "×"));
  }));
}

function initRefs() {
  const zone = $("dropzone");
  $("ref-files").addEventListener("change", (event) => { addFiles(event.target.files); event.target.value = ""; });
  for (const name of ["dragenter", "dragover"]) {
    zone.addEventListener(name, (event) => { event.preventDefault(); zone.classList.add("over"); });
  }
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("over");
    addFiles(event.dataTransfer.files);
  });
  $("ref-url-add").addEventListener("click", () => {
    const url = $("ref-url").value.trim();
    if (!/^(https?:|data:)/i.test(url)) return showFormError("Enter an http(s):// or data: URL.");
    const kind = $("ref-kind").value === "auto" ? kindOf("", url) : $("ref-kind").value;
    if (!kind) return showFormError("Pick the reference kind for this URL.");
    if (addRef(kind, url.split("?")[0].split("/").pop() || url, url, null)) $("ref-url").value = "";
  });
}

// ---- submit and follow ------------------------------------------------------------------------------------
function showFormError(message, param) {
  $("form-error").textContent = message;
  for (const node of document.querySelectorAll("[aria-invalid]")) node.removeAttribute("aria-invalid");
  const field = param && document.querySelector(`[name="${param.split("[")[0]}"]`);
  if (field) field.setAttribute("aria-invalid", "true");
}

function updateCount() { $("prompt-count").textContent = `${[...$("prompt").value].length} / 5000`; }

function requestBody() {
  const body = {
    model: $("model").value, prompt: $("prompt").value, resolution: $("resolution").value,
    ratio: $("ratio").value, duration: Number($("duration").value), seed: Number($("seed").value || -1),
    generate_audio: $("generate-audio").checked,
  };
  for (const kind of Object.keys(KINDS)) {
    const urls = state.refs.filter((r) => r.kind === kind).map((r) => r.url);
    if (urls.length) body[`${kind}_urls`] = urls;
  }
  const callback = $("callback-url").value.trim();
  if (callback) body.callback_url = callback;
  if ($("output-format").value !== "mp4") body.output_format = $("output-format").value;
  return body;
}

async function submit(event) {
  event.preventDefault();
  showFormError("");
  if (!apiKey()) return showFormError("Enter and save your API key first.", "api-key");
  if (state.refs.some((r) => r.status !== "ready")) return showFormError("Wait for uploads to finish (or remove failed ones).");
  $("submit").disabled = true;
  try {
    follow(await api("POST", "/v1/videos/generations", requestBody()));
    refreshHistory();
  } catch (err) {
    showFormError(describeError(err), err.param);
  } finally {
    $("submit").disabled = false;
  }
}

function follow(task) {
  clearTimeout(state.pollTimer);
  state.current = { id: task.id, polls: 0 };
  $("current").hidden = false;
  $("current-id").textContent = task.id;
  const video = $("result-video");
  video.hidden = true;
  video.removeAttribute("src");
  $("current-download").hidden = true;
  renderCurrent(task);
}

function renderCurrent(task) {
  if (!state.current || state.current.id !== task.id) return;
  $("current-status").textContent = `Status: ${task.status}`;
  $("current-progress").value = task.progress;
  $("current-percent").textContent = `${task.progress}%`;
  $("current-eta").textContent = fmtEta(task);
  $("current-cancel").hidden = !(task.task_info && task.task_info.can_cancel);
  $("current-error").textContent = task.error ? `${task.error.message} [${task.error.code}]` : "";
  $("current-made").textContent = task.status === "completed" && task.results ? madeBy(task.results[0]) : "";
  if (task.status === "completed" && task.results && task.results.length) {
    const video = $("result-video");
    if (video.getAttribute("src") !== task.results[0].url) {
      video.src = task.results[0].url;
      video.hidden = false;
      video.play().catch(() => {});
    }
    $("current-download").href = task.results[0].url;
    $("current-download").hidden = false;
  }
  if (!TERMINAL.has(task.status)) {
    const delay = pollDelay(state.current.polls++, task.task_info ? task.task_info.estimated_time : 0);
    state.pollTimer = setTimeout(() => poll(task.id), delay);
  } else {
    refreshHistory();
  }
}

async function poll(id) {
  try {
    renderCurrent(await api("GET", `/v1/tasks/${encodeURIComponent(id)}?sync_upstream=true`));
  } catch (err) {
    $("current-error").textContent = describeError(err);
    state.pollTimer = setTimeout(() => poll(id), 4000);
  }
}

async function cancelTask(id) {
  try {
    const task = await api("POST", `/v1/tasks/${encodeURIComponent(id)}/cancel`);
    if (state.current && state.current.id === id) renderCurrent(task);
  } catch (err) {
    alertHistory(describeError(err));
  }
  refreshHistory();
}

async function deleteTask(id) {
  try {
    await api("DELETE", `/v1/tasks/${encodeURIComponent(id)}`);
    if (state.current && state.current.id === id) { $("current").hidden = true; state.current = null; }
  } catch (err) {
    alertHistory(describeError(err));
  }
  refreshHistory();
}

// ---- history ----------------------------------------------------------------------------------------------
function alertHistory(message) { $("history-empty").hidden = false; $("history-empty").textContent = message; }

function historyItem(task) {
  const result = task.results && task.results[0];
  const summary = result ? `${result.width}×${result.height}, ${result.duration}s`
    : task.error ? `${task.error.code}` : `${task.progress}% · ETA ${fmtEta(task)}`;
  const created = new Date(task.created * 1000).toLocaleString();
  const actions = el("div", { class: "item-actions" });
  if (result) actions.append(el("button", { type: "button", class: "secondary", onclick: () => follow(task),
    "aria-label": `Play ${task.id}` }, "Play"));
  else if (!TERMINAL.has(task.status)) actions.append(el("button", { type: "button", class: "secondary",
    onclick: () => follow(task), "aria-label": `Follow ${task.id}` }, "Follow"));
  if (task.task_info && task.task_info.can_cancel) actions.append(el("button", { type: "button",
    class: "secondary", onclick: () => cancelTask(task.id), "aria-label": `Cancel ${task.id}` }, "Cancel"));
  if (TERMINAL.has(task.status)) actions.append(el("button", { type: "button", class: "danger",
    onclick: () => deleteTask(task.id), "aria-label": `Delete ${task.id}` }, "Delete"));
  const main = el("div", { class: "item-main" },
    el("span", { class: `badge ${task.status}` }, task.status),
    el("code", { class: "item-id" }, task.id),
    el("span", { class: "hint" }, `${task.model} · ${created} · ${summary}`));
  // A failed task says why, not only its code: the message names the reference and the rule.
  if (task.error && task.error.message) main.append(el("p", { class: "error item-error" }, task.error.message));
  return el("li", { class: `item ${task.status}`, "data-task-id": task.id }, main, actions);
}

async function refreshHistory() {
  clearTimeout(state.historyTimer);
  if (!apiKey()) return;
  let page;
  try {
    page = await api("GET", "/v1/tasks?limit=20");
  } catch (err) {
    return alertHistory(describeError(err));
  }
  $("history").replaceChildren(...page.data.map(historyItem));
  $("history-empty").hidden = page.data.length > 0;
  $("history-empty").textContent = "No tasks yet.";
  if (page.data.some((t) => !TERMINAL.has(t.status))) state.historyTimer = setTimeout(refreshHistory, 3000);
}

document.addEventListener("DOMContentLoaded", () => {
  initKey();
  initRefs();
  $("prompt").addEventListener("input", updateCount);
  $("model").addEventListener("change", syncResolutions);
  $("generate-form").addEventListener("submit", submit);
  $("current-cancel").addEventListener("click", () => state.current && cancelTask(state.current.id));
  $("history-refresh").addEventListener("click", refreshHistory);
  loadModels();
  refreshHistory();
});
