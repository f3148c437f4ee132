// vodflow's web page: sign in with a pasted bearer token, upload with a progress bar, follow your
// videos' status live, and watch one through hls.js with a quality menu. No build step, no CDN:
// the api serves these files from its own binary.
"use strict";

const $ = (sel) => document.querySelector(sel);
const TOKEN_KEY = "vodflow.token";
const ACTIVE = new Set(["uploaded", "processing", "playable"]);
/** Statuses whose video can be watched: `playable` plays the finished start while the rest encodes. */
const WATCHABLE = new Set(["playable", "ready"]);

function token() {
  return localStorage.getItem(TOKEN_KEY);
}

/** The token's claims, for display only: the api verifies every call. */
function claims(jwt) {
  try {
    const part = jwt.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(atob(part));
  } catch {
    return null;
  }
}

async function api(path, options = {}) {
  const headers = Object.assign({ Authorization: `Bearer ${token()}` }, options.headers || {});
  const resp = await fetch(path, Object.assign({}, options, { headers }));
  if (resp.status === 401) {
    signOut("Your token was refused; paste a valid one.");
    throw new Error("unauthorized");
  }
  if (!resp.ok && resp.status !== 204) {
    const problem = await resp.json().catch(() => ({}));
    throw new Error(problem.detail || `${resp.status} ${resp.statusText}`);
  }
  return resp.status === 204 ? null : resp.json();
}

function show(id) {
  for (const s of ["#signin", "#library", "#watch"]) $(s).hidden = s !== id;
}

function signOut(message) {
  localStorage.removeItem(TOKEN_KEY);
  $("#signin-error").textContent = message || "";
  route();
}

function el(tag, attrs = {}, text) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

// ---------- library ----------

let poller = null;

async function refreshLibrary() {
  const page = await api("/v1/videos?limit=50");
  const body = $("#videos tbody");
  body.replaceChildren();
  let active = false;
  for (const v of page.items) {
    active = active || ACTIVE.has(v.status);
    const row = el("tr", { "data-id": v.id, "data-title": v.title });
    row.append(el("td", {}, v.title));
    row.append(el("td", { class: `status ${v.status}` }, v.status));
    const progress = el("td", { class: "progress" });
    if (v.status === "processing" || v.status === "playable") {
      const detail = await api(`/v1/videos/${v.id}`).catch(() => null);
      const pct = detail && detail.progress ? detail.progress.percent : 0;
      progress.append(el("progress", { max: "100", value: String(pct) }));
      progress.append(document.createTextNode(` ${pct.toFixed(0)}%`));
    } else if (v.failure) {
      progress.textContent = v.failure.reason;
    }
    row.append(progress);
    const actions = el("td");
    if (WATCHABLE.has(v.status)) actions.append(el("a", { class: "watch", href: `/watch/${v.id}` }, "Watch"));
    const del = el("button", { class: "delete" }, "Delete");
    del.onclick = async () => {
      if (!confirm(`Delete "${v.title}"?`)) return;
      await api(`/v1/videos/${v.id}`, { method: "DELETE" });
      refreshLibrary();
    };
    actions.append(" ", del);
    row.append(actions);
    body.append(row);
  }
  clearTimeout(poller);
  // Poll while something is still moving; the list is the truth, nothing is guessed locally.
  if (active) poller = setTimeout(() => refreshLibrary().catch(console.error), 1500);
}

/**
 * Uploads with tus (resumable): a dropped connection is retried from where the server is, and the
 * same file chosen again after a reload continues instead of starting over (tus-js-client keeps
 * the upload's URL in localStorage under the file's fingerprint).
 */
function upload(event) {
  event.preventDefault();
  const file = $("#file").files[0];
  if (!file) return;
  const percent = (sent, total) => Math.floor((sent / total) * 100);
  const up = new tus.Upload(file, {
    endpoint: "/v1/uploads/tus/",
    // Bounded requests: proxies in front of the api often cap body sizes.
    chunkSize: 64 * 1024 * 1024,
    retryDelays: [0, 1000, 3000, 5000, 10000, 20000],
    metadata: {
      filename: file.name,
      filetype: file.type,
      title: $("#title").value,
      visibility: $("#visibility").value,
    },
    headers: { Authorization: `Bearer ${token()}` },
    removeFingerprintOnSuccess: true,
    onProgress: (sent, total) => {
      $("#upload-progress").value = percent(sent, total);
    },
    onError: (e) => {
      let detail = String(e.message || e);
      try { detail = JSON.parse(e.originalResponse.getBody()).detail || detail; } catch {}
      $("#upload-status").textContent = `Upload failed: ${detail}`;
    },
    onSuccess: () => {
      $("#upload-progress").value = 100;
      $("#upload-status").textContent = "Uploaded; processing…";
      $("#upload-form").reset();
      refreshLibrary().catch(console.error);
    },
  });
  $("#upload-progress").value = 0;
  up.findPreviousUploads().then((previous) => {
    if (previous.length) {
      up.resumeFromPreviousUpload(previous[0]);
      $("#upload-status").textContent = "Resuming the earlier upload of this file…";
    } else {
      $("#upload-status").textContent = "Uploading…";
    }
    up.start();
  });
}

// ---------- watch ----------

let mounted = null; // the video whose player is on the page
let watching = null; // the timer that reads the watched video again while it is processed
// The last picture of the watched run: a read that could not get the run's progress in time (the
// api answers without waiting on a busy Temporal) keeps it rather than blanking it for a second.
let lastProgress = null;

/**
 * The run as the workflow sees it (the video's `progress`, from its Temporal workflow): the step,
 * each rung's share done, a square per chunk coloured by its state (with its attempt and the worker
 * encoding it), and which worker encodes which chunks right now.
 */
function renderProcessing(progress) {
  const box = $("#processing");
  box.hidden = !progress;
  if (!progress) return;
  const eta = progress.eta_seconds != null ? `, about ${Math.ceil(progress.eta_seconds)} s left` : "";
  $("#processing-step").textContent = `${progress.step.replaceAll("_", " ")}: ${progress.percent.toFixed(0)}%${eta}`;
  $("#processing-rungs").replaceChildren(...progress.renditions.map((r) => {
    const row = el("div", { class: `rung ${r.state}`, "data-rung": r.name });
    row.append(el("span", { class: "rung-name" }, r.name));
    row.append(el("progress", { max: "100", value: String(r.percent) }));
    return row;
  }));
  $("#processing-chunks").setAttribute("aria-label",
    `${progress.chunks.filter((c) => c.state === "done").length} of ${progress.chunks.length} chunks done`);
  $("#processing-chunks").replaceChildren(...progress.chunks.map((c) => {
    const where = c.worker ? ` on ${c.worker}` : "";
    const attempt = c.attempt && c.attempt > 1 ? `, attempt ${c.attempt}` : "";
    const square = el("span", {
      class: `chunk ${c.state}`,
      "data-index": String(c.index),
      title: `chunk ${c.index}: ${c.state} ${c.percent.toFixed(0)}%${attempt}${where}`,
    });
    square.style.setProperty("--done", `${c.percent}%`);
    return square;
  }));
  const byWorker = new Map();
  for (const c of progress.chunks) {
    if (c.worker && (c.state === "encoding" || c.state === "uploading")) {
      byWorker.set(c.worker, [...(byWorker.get(c.worker) || []), c.index]);
    }
  }
  $("#processing-workers").replaceChildren(...[...byWorker].map(([worker, chunks]) =>
    el("li", { class: "worker", "data-worker": worker }, `${worker}: chunk ${chunks.join(", ")}`)));
}

async function watch(id) {
  show("#watch");
  clearTimeout(watching);
  const v = await api(`/v1/videos/${id}`);
  $("#watch-title").textContent = v.title;
  $("#watch-description").textContent = v.description || "";
  if (ACTIVE.has(v.status) && v.progress) lastProgress = { id, progress: v.progress };
  const kept = lastProgress && lastProgress.id === id ? lastProgress.progress : null;
  renderProcessing(ACTIVE.has(v.status) ? v.progress || kept : null);
  // Read again while it moves: the picture follows the run, and `playable` turns `ready`.
  if (ACTIVE.has(v.status) && location.pathname === `/watch/${id}`) {
    watching = setTimeout(() => watch(id).catch(console.error), 1000);
  }
  if (!WATCHABLE.has(v.status) || !v.playback) {
    $("#watch-status").textContent = `This video is ${v.status}.`;
    return;
  }
  $("#watch-status").textContent =
    v.status === "playable" ? "Still encoding: the rest appears as it is ready." : "";
  // The page reads the video every second while it is processed, and a signed master's URL changes
  // with every answer (its expiry moves on): the player is mounted once per video and master, not
  // per signature, or it would start over each second.
  const master = v.playback.master.replace(/\/sig-[^/]+\//, "/");
  if (mounted === `${id}/${master}`) return;
  mounted = `${id}/${master}`;
  window.vodflowMountPlayer($("#player-slot"), {
    master: v.playback.master,
    poster: v.playback.poster,
    storyboard: v.playback.storyboard,
    chapters: v.playback.chapters,
    title: v.title,
  });
}

// ---------- routing ----------

function route() {
  clearTimeout(poller);
  if (!token()) {
    $("#who").textContent = "";
    $("#signout").hidden = true;
    show("#signin");
    return;
  }
  const c = claims(token());
  $("#who").textContent = c && c.sub ? `signed in as ${c.sub}` : "";
  $("#signout").hidden = false;
  const m = location.pathname.match(/^\/watch\/([0-9a-f-]{36})$/);
  if (m) {
    watch(m[1]).catch((e) => { $("#watch-status").textContent = e.message; });
  } else {
    show("#library");
    refreshLibrary().catch((e) => { $("#upload-status").textContent = e.message; });
  }
}

$("#signin-button").onclick = () => {
  const t = $("#token").value.trim();
  if (!claims(t)) {
    $("#signin-error").textContent = "That does not look like a JWT.";
    return;
  }
  localStorage.setItem(TOKEN_KEY, t);
  $("#signin-error").textContent = "";
  route();
};
$("#signout").onclick = () => signOut();
$("#upload-form").onsubmit = upload;
route();
