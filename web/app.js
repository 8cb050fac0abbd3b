/*
 * app.js: quantd's web page. Plain JavaScript, no framework, no build step; served by the daemon
 * itself (daemon/http_web.c) with Chart.js beside it, and talks only to this daemon's REST API
 * (/api/v1, schema/openapi.yaml).
 *
 * Views by the URL's hash: #/ (the overview: first-visit help, the Pareto plot, the jobs table),
 * #/jobs/ID (one job: progress, curves, AdaQAT bits, layers, candidates, artifacts, errors,
 * cancel) and #/submit (the spec form with templates). Live updates come from one server-sent
 * event stream of every job (GET /api/v1/events), read with fetch so that it can carry the token;
 * a state change reloads what it touches, progress and epochs update in place.
 *
 * The token (when the daemon asks for one: 401) is kept in localStorage and sent as
 * "Authorization: Bearer" on every call. When the daemon cannot be reached a banner says so and
 * the event stream retries with back-off.
 */
(function () {
  "use strict";

  // ---- small helpers ----

  const $ = (sel, root) => (root || document).querySelector(sel);
  const $$ = (sel, root) => Array.from((root || document).querySelectorAll(sel));

  /* el("a", {href: "#/", class: "x"}, "text", child...) */
  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") e.className = v;
      else if (k === "text") e.textContent = v;
      else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
      else if (k in e && typeof v !== "string") e[k] = v;
      else e.setAttribute(k, v === true ? "" : v);
    }
    for (const c of children.flat()) {
      if (c === null || c === undefined || c === false) continue;
      e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return e;
  }

  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

  function debounce(fn, ms) {
    let t = null;
    return (...args) => {
      clearTimeout(t);
      t = setTimeout(() => fn(...args), ms);
    };
  }

  function store(key, value) {
    try {
      if (value === undefined) return localStorage.getItem(key);
      if (value === null) localStorage.removeItem(key);
      else localStorage.setItem(key, value);
    } catch (e) {
      /* storage may be off (private mode): the page still works for this visit */
    }
    return null;
  }

  const isNum = (x) => typeof x === "number" && isFinite(x);

  function fmtBytes(b) {
    if (!isNum(b)) return "—";
    if (b < 1000) return b.toFixed(0) + " B";
    if (b < 1e6) return (b / 1e3).toFixed(b < 1e4 ? 2 : 1) + " kB";
    if (b < 1e9) return (b / 1e6).toFixed(b < 1e7 ? 2 : 1) + " MB";
    return (b / 1e9).toFixed(2) + " GB";
  }

  function fmtCount(x) {
    if (!isNum(x)) return "—";
    const units = [[1e12, " T"], [1e9, " G"], [1e6, " M"], [1e3, " k"]];
    for (const [u, s] of units) if (x >= u) return (x / u).toFixed(x >= 10 * u ? 1 : 2) + s;
    return String(Math.round(x));
  }

  const fmtPct = (a) => (isNum(a) ? (100 * a).toFixed(2) + " %" : "—");
  const fmtNum = (x, d) => (isNum(x) ? x.toFixed(d === undefined ? 4 : d) : "—");

  function fmtAgo(iso) {
    if (!iso) return "—";
    const s = (Date.now() - Date.parse(iso)) / 1000;
    if (!isFinite(s)) return iso;
    if (s < 45) return "just now";
    if (s < 3600) return Math.round(s / 60) + " min ago";
    if (s < 86400) return Math.round(s / 3600) + " h ago";
    return new Date(iso).toLocaleDateString();
  }

  function fmtTime(iso) {
    return iso ? new Date(iso).toLocaleString() : "—";
  }

  function fmtDuration(s) {
    if (!isNum(s)) return "—";
    if (s < 60) return s.toFixed(1) + " s";
    if (s < 3600) return Math.floor(s / 60) + " min " + Math.round(s % 60) + " s";
    return (s / 3600).toFixed(1) + " h";
  }

  function randomKey() {
    const a = new Uint8Array(12);
    crypto.getRandomValues(a);
    return Array.from(a, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  // ---- the API ----

  const TOKEN_KEY = "quantd.token";
  let token = store(TOKEN_KEY) || "";
  let tokenWaiters = [];

  class ApiError extends Error {
    constructor(status, body, fallback) {
      const e = (body && body.error) || {};
      super(e.message || fallback || "HTTP " + status);
      this.status = status;
      this.code = e.code || (status ? "http_" + status : "unreachable");
      this.field = e.field || "";
    }
  }

  function authHeaders(extra) {
    const h = Object.assign({}, extra || {});
    if (token) h.Authorization = "Bearer " + token;
    return h;
  }

  /* fetch + JSON + the page's reactions to 401 and to an unreachable daemon */
  async function api(path, opts) {
    opts = opts || {};
    const headers = authHeaders(Object.assign({ Accept: "application/json" }, opts.headers || {}));
    let body = opts.body;
    if (body !== undefined && typeof body !== "string") body = JSON.stringify(body);
    if (body !== undefined) headers["Content-Type"] = "application/json";
    let res;
    try {
      res = await fetch(path, { method: opts.method || "GET", headers, body, cache: "no-store" });
    } catch (e) {
      setReachable(false);
      throw new ApiError(0, null, "cannot reach the quantd daemon");
    }
    setReachable(true);
    let json = null;
    const text = await res.text();
    try {
      json = text ? JSON.parse(text) : null;
    } catch (e) {
      json = null;
    }
    if (res.status === 401) needToken(json);
    if (!res.ok) throw new ApiError(res.status, json);
    return json;
  }

  // ---- connection state, banner, token ----

  let reachable = true;

  function banner(text, kind) {
    const b = $("#banner");
    if (!text) {
      b.hidden = true;
      b.textContent = "";
      return;
    }
    b.className = "banner" + (kind ? " " + kind : "");
    b.textContent = text;
    b.hidden = false;
  }

  function setReachable(ok) {
    if (ok === reachable) return;
    reachable = ok;
    if (!ok) {
      setConn("down", "daemon unreachable");
      banner(
        "Cannot reach the quantd daemon at " + location.host +
          ": is quantd serve running? This page keeps retrying and catches up when the daemon is back.",
        "error"
      );
    } else {
      banner(null);
    }
  }

  function setConn(kind, text) {
    const c = $("#conn");
    c.className = "conn " + kind;
    c.textContent = text;
  }

  function showTokenPanel(show, why) {
    const p = $("#token-panel");
    p.hidden = !show;
    $("#token-toggle").setAttribute("aria-expanded", show ? "true" : "false");
    if (why !== undefined) $("#token-msg").textContent = why;
  }

  let tokenNeeded = false;
  function needToken(json) {
    const msg = (json && json.error && json.error.message) || "a token is needed";
    tokenNeeded = true;
    setConn("down", "token needed");
    showTokenPanel(
      true,
      token
        ? "The daemon refused the saved token (" + msg + "). Paste a valid one."
        : "This daemon needs a token: paste one to see and submit jobs."
    );
    banner(
      token
        ? "The saved token was refused: " + msg + "."
        : "This quantd daemon requires an access token. Enter it in the token field below.",
      "error"
    );
    if (!(pareto.points || []).length) showParetoEmpty("The plot appears once the daemon accepts your token.");
  }

  function waitForToken() {
    return new Promise((r) => tokenWaiters.push(r));
  }

  function tokenChanged(t) {
    token = t;
    store(TOKEN_KEY, t || null);
    tokenNeeded = false;
    banner(null);
    const w = tokenWaiters;
    tokenWaiters = [];
    w.forEach((r) => r());
    restartEvents();
    refreshAll();
  }

  function initToken() {
    $("#token-toggle").addEventListener("click", () => showTokenPanel($("#token-panel").hidden));
    $("#token-input").value = token;
    $("#token-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      const t = $("#token-input").value.trim();
      if (t && !/^qdt_[0-9a-f]{48}$/.test(t)) {
        $("#token-msg").textContent = "A quantd token is qdt_ followed by 48 hex digits.";
        $("#token-input").setAttribute("aria-invalid", "true");
        $("#token-input").focus();
        return;
      }
      $("#token-input").removeAttribute("aria-invalid");
      $("#token-msg").textContent = t ? "Token saved in this browser." : "No token: calls go without one.";
      $("#token-msg").className = "field-msg ok";
      tokenChanged(t);
      setTimeout(() => {
        if (!tokenNeeded) showTokenPanel(false);
        $("#token-msg").className = "field-msg";
      }, 1200);
    });
    $("#token-forget").addEventListener("click", () => {
      $("#token-input").value = "";
      $("#token-msg").textContent = "Token forgotten.";
      tokenChanged("");
    });
  }

  // ---- live events: GET /api/v1/events read through fetch (EventSource cannot send a token) ----

  let eventsCtl = null;
  let lastEventId = null;

  async function readEvents(body, onEvent) {
    const reader = body.pipeThrough(new TextDecoderStream()).getReader();
    let buf = "";
    let ev = { type: "message", data: [], id: null };
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buf += value;
      let nl;
      while ((nl = buf.search(/\r\n|\r|\n/)) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + (buf[nl] === "\r" && buf[nl + 1] === "\n" ? 2 : 1));
        if (line === "") {
          if (ev.data.length) {
            if (ev.id) lastEventId = ev.id;
            onEvent(ev.type, ev.data.join("\n"));
          }
          ev = { type: "message", data: [], id: null };
          continue;
        }
        if (line[0] === ":") continue;
        const c = line.indexOf(":");
        const field = c < 0 ? line : line.slice(0, c);
        let val = c < 0 ? "" : line.slice(c + 1);
        if (val[0] === " ") val = val.slice(1);
        if (field === "event") ev.type = val;
        else if (field === "data") ev.data.push(val);
        else if (field === "id") ev.id = val;
      }
    }
  }

  async function runEvents() {
    let delay = 1000;
    for (;;) {
      const ctl = new AbortController();
      eventsCtl = ctl;
      try {
        const headers = authHeaders({ Accept: "text/event-stream" });
        if (lastEventId) headers["Last-Event-ID"] = lastEventId;
        const res = await fetch("/api/v1/events", { headers, signal: ctl.signal, cache: "no-store" });
        setReachable(true);
        if (res.status === 401) {
          needToken(await res.json().catch(() => null));
          await waitForToken();
          continue;
        }
        if (!res.ok || !res.body) throw new Error("HTTP " + res.status);
        setConn("live", "live");
        delay = 1000;
        refreshAll(); /* subscribed: now read the state, so nothing in between is missed */
        await readEvents(res.body, onEvent);
        setConn("", "reconnecting…");
      } catch (e) {
        if (ctl.signal.aborted) continue; /* restarted on purpose (a new token) */
        if (e instanceof TypeError) setReachable(false);
        setConn("down", reachable ? "reconnecting…" : "daemon unreachable");
      }
      await sleep(delay);
      delay = Math.min(delay * 2, 15000);
    }
  }

  function restartEvents() {
    if (eventsCtl) eventsCtl.abort();
  }

  const reloadJobsSoon = debounce(() => loadJobs(), 300);
  const reloadParetoSoon = debounce(() => loadPareto(), 500);
  const reloadJobSoon = debounce(() => {
    if (view === "job") loadJob(jobId, false);
  }, 300);

  function onEvent(type, data) {
    let d;
    try {
      d = JSON.parse(data);
    } catch (e) {
      return;
    }
    const id = d.job;
    if (type === "state") {
      const row = jobs.get(id);
      if (row) {
        row.state = d.state;
        row.cancel_requested = d.cancel_requested;
        renderJobRow(row);
      }
      reloadJobsSoon();
      if (d.state === "succeeded") {
        reloadParetoSoon();
        exampleStep();
      }
      if (id === exampleSearch && ["succeeded", "failed", "cancelled"].includes(d.state)) {
        const ok = d.state === "succeeded";
        $("#example-msg").className = "field-msg" + (ok ? " ok" : "");
        $("#example-msg").textContent = ok
          ? "The example is done: each point is a configuration of the search; the ringed ones, joined by the step line, are the Pareto front. Hover one, or click it to open its job."
          : "The example's search " + d.state + ": see job " + id + ".";
      }
      if (id === jobId) reloadJobSoon();
    } else if (type === "progress") {
      const row = jobs.get(id);
      if (row) {
        row.progress = Object.assign(row.progress || {}, d);
        delete row.progress.job;
        if (row.state === "queued") row.state = "running";
        renderJobRow(row);
      }
      if (id === jobId && view === "job") renderJobProgress(Object.assign({}, d));
    } else if (type === "candidate") {
      /* a search finished a candidate: it is a point of the plot already */
      reloadParetoSoon();
      reloadJobsSoon();
      if (id === jobId) reloadJobSoon();
    } else if (type === "epoch") {
      if (id === jobId && view === "job" && current) {
        delete d.job;
        epochs = epochs.filter((e) => e.epoch !== d.epoch || e.candidate !== d.candidate).concat([d]);
        renderCurves();
      }
    } else if (type === "artifact") {
      if (id === jobId && view === "job") loadArtifacts(id);
    }
  }

  // ---- catalog: data sets and models ----

  let datasets = [];
  let models = [];
  let catalogP = null;

  /* The catalog, read once it can be (again after a 401 or an unreachable daemon). */
  function catalog() {
    if (!catalogP || !datasets.length) catalogP = loadCatalog().catch(() => {});
    return catalogP;
  }

  async function loadCatalog() {
    const [d, m] = await Promise.all([api("/api/v1/datasets"), api("/api/v1/models")]);
    datasets = (d.datasets || []).filter((x) => x.available);
    models = m.models || [];
    fillSelect($("#pareto-dataset"), datasets.map((x) => x.name), "any");
    fillSelect($("#pareto-model"), models.map((x) => x.name), "any");
    fillSelect($("#f-dataset"), datasets.map((x) => x.name));
    fillSelect($("#f-model"), models.map((x) => x.name));
    restoreParetoChoice();
  }

  function fillSelect(sel, values, anyLabel) {
    const keep = sel.value;
    sel.replaceChildren();
    if (anyLabel !== undefined) sel.append(el("option", { value: "" }, anyLabel));
    for (const v of values) sel.append(el("option", { value: v }, v));
    if (values.includes(keep) || keep === "") sel.value = keep;
  }

  // ---- jobs table ----

  const jobs = new Map(); /* id -> summary as listed */
  let jobOrder = [];
  let nextCursor = null;
  let daemonEmpty = false;

  function jobFilters() {
    const q = new URLSearchParams();
    const s = $("#filter-state").value;
    const k = $("#filter-kind").value;
    if (s) q.set("state", s);
    if (k) q.set("kind", k);
    return q;
  }

  async function loadJobs(more) {
    const q = jobFilters();
    q.set("limit", "50");
    if (more && nextCursor) q.set("cursor", nextCursor);
    let r;
    try {
      r = await api("/api/v1/jobs?" + q.toString());
    } catch (e) {
      return;
    }
    if (!more) {
      jobs.clear();
      jobOrder = [];
    }
    for (const j of r.jobs) {
      if (!jobs.has(j.id)) jobOrder.push(j.id);
      jobs.set(j.id, j);
    }
    nextCursor = r.next_cursor;
    const filtered = q.has("state") || q.has("kind");
    if (!filtered && !more) daemonEmpty = r.jobs.length === 0;
    renderJobs();
    renderWelcome();
  }

  function renderJobs() {
    const tb = $("#jobs-table tbody");
    tb.replaceChildren(...jobOrder.map((id) => jobRow(jobs.get(id))));
    $("#jobs-empty").hidden = jobOrder.length > 0;
    $("#jobs-empty").textContent = daemonEmpty ? "No jobs yet." : "No jobs match these filters.";
    $("#jobs-more").hidden = !nextCursor;
  }

  function renderJobRow(j) {
    const old = $('#jobs-table tr[data-id="' + j.id + '"]');
    if (old) old.replaceWith(jobRow(j));
  }

  function stateBadge(state, cancelling) {
    return el("span", { class: "state " + state }, cancelling && state === "running" ? "cancelling" : state);
  }

  function progressCell(j) {
    const p = j.progress || {};
    if (j.state === "running") {
      const f = isNum(p.fraction) ? p.fraction : 0;
      return el(
        "td",
        { class: "prog", title: p.status || "" },
        el("progress", { max: "1", value: String(f), "aria-label": "progress of " + (j.name || j.id) }),
        el("span", { class: "pct" }, Math.round(100 * f) + " %")
      );
    }
    if (j.state === "queued") return el("td", { class: "muted prog" }, j.retry_at ? "retry " + fmtAgo(j.retry_at) : "waiting");
    return el("td", { class: "muted prog" }, "");
  }

  function jobRow(j) {
    const s = j.summary;
    let acc = "—";
    let mem = "—";
    let accTitle = null;
    if (s) {
      const search = isNum(s.candidates);
      acc = (search ? "best " : "") + fmtPct(s.test_accuracy);
      mem = fmtBytes(s.total_bytes);
      if (search) accTitle = "the best of " + s.candidates + " candidates";
    } else if (j.state === "running" && j.progress && isNum(j.progress.test_accuracy)) {
      acc = fmtPct(j.progress.test_accuracy);
      accTitle = "last epoch so far";
    }
    return el(
      "tr",
      { "data-id": j.id, "data-state": j.state },
      el("td", { class: "opt" }, j.kind),
      el("td", { class: "name" }, el("a", { href: "#/jobs/" + j.id }, j.name || j.id)),
      el(
        "td",
        null,
        stateBadge(j.state, j.cancel_requested),
        /* a phone has no progress column: the bar goes beside the state */
        j.state === "running"
          ? el("progress", { class: "phone-only", max: "1", value: String(isNum((j.progress || {}).fraction) ? j.progress.fraction : 0), "aria-hidden": "true" })
          : null
      ),
      progressCell(j),
      el("td", { class: "num" + (s ? "" : " muted"), title: accTitle }, acc),
      el("td", { class: "num" }, mem),
      el("td", { class: "opt", title: fmtTime(j.created_at) }, fmtAgo(j.created_at))
    );
  }

  function initJobs() {
    $("#filter-state").addEventListener("change", () => loadJobs());
    $("#filter-kind").addEventListener("change", () => loadJobs());
    $("#job-filters").addEventListener("submit", (e) => e.preventDefault());
    $("#jobs-more").addEventListener("click", () => loadJobs(true));
    setInterval(() => {
      if (view === "overview") renderJobs();
    }, 60000);
    /* the plot's legend is set for the width (a phone turned, a window resized) */
    let wasNarrow = narrow();
    window.addEventListener("resize", debounce(() => {
      if (narrow() !== wasNarrow && paretoChart) renderPareto();
      wasNarrow = narrow();
    }, 200));
  }

  // ---- first visit: the example ----

  const EXAMPLE_KEY = "quantd.example";

  function exampleDataset() {
    return datasets.some((d) => d.name === "fashion-mnist") ? "fashion-mnist" : "synthetic";
  }

  let exampleStarted = false; /* this visit ran the example: its messages stay in view */
  let exampleSearch = null; /* the example's search job, once submitted */

  function renderWelcome() {
    const pending = store(EXAMPLE_KEY);
    $("#welcome").hidden = !(daemonEmpty || pending || exampleStarted);
    $("#example-hide").hidden = daemonEmpty;
    $("#welcome-empty").hidden = !daemonEmpty;
    const ds = exampleDataset();
    $("#example-what").textContent =
      ds === "fashion-mnist"
        ? "an MLP on 10,000 Fashion-MNIST images, 3 epochs"
        : "an MLP on the built-in synthetic data set (Fashion-MNIST is not installed here)";
  }

  function exampleSpecs(ds) {
    const subset = ds === "fashion-mnist" ? { train: 10000, test: 2000 } : undefined;
    const train = { kind: "train", name: "example: mlp float", dataset: ds, model: "mlp", epochs: 3 };
    if (subset) train.subset = subset;
    const search = {
      kind: "search",
      name: "example: uniform search",
      dataset: ds,
      model: "mlp",
      method: "uniform",
      base: { job: null },
      space: { weight_bits: [2, 3, 4, 6, 8], activation_bits: [4, 8], formats: ["int"] },
      finetune_epochs: 1,
    };
    if (subset) search.subset = subset;
    return { train, search };
  }

  async function exampleRun() {
    exampleStarted = true;
    const btn = $("#example-run");
    btn.disabled = true;
    const ds = exampleDataset();
    const msg = $("#example-msg");
    msg.className = "field-msg ok";
    msg.textContent = "Submitting the float training job…";
    try {
      const j = await api("/api/v1/jobs", {
        method: "POST",
        body: exampleSpecs(ds).train,
        headers: { "Idempotency-Key": "example-train-" + randomKey() },
      });
      store(EXAMPLE_KEY, JSON.stringify({ train: j.id, dataset: ds }));
      msg.textContent = "Training the float model (job " + j.id + "); the search starts when it has finished.";
      loadJobs();
      exampleStep();
    } catch (e) {
      msg.className = "field-msg";
      msg.textContent = "The example could not start: " + e.message;
      btn.disabled = false;
    }
  }

  /* After the example's train job: submit the search once (the key makes a retry harmless). */
  async function exampleStep() {
    let ex;
    try {
      ex = JSON.parse(store(EXAMPLE_KEY) || "null");
    } catch (e) {
      ex = null;
    }
    if (!ex || !ex.train) return;
    const msg = $("#example-msg");
    let j;
    try {
      j = await api("/api/v1/jobs/" + ex.train);
    } catch (e) {
      if (e.status === 404) store(EXAMPLE_KEY, null);
      return;
    }
    $("#example-run").disabled = true;
    if (j.state === "failed" || j.state === "cancelled") {
      store(EXAMPLE_KEY, null);
      msg.className = "field-msg";
      msg.textContent = "The example's training job " + j.state + ": see job " + j.id + ".";
      $("#example-run").disabled = false;
      return;
    }
    if (j.state !== "succeeded") return;
    const spec = exampleSpecs(ex.dataset).search;
    spec.base.job = ex.train;
    try {
      const s = await api("/api/v1/jobs", {
        method: "POST",
        body: spec,
        headers: { "Idempotency-Key": "example-search-" + ex.train },
      });
      store(EXAMPLE_KEY, null);
      exampleSearch = s.id;
      msg.className = "field-msg ok";
      msg.textContent = "The float model is trained; the uniform search (job " + s.id + ") fills the plot as it runs.";
      loadJobs();
    } catch (e) {
      store(EXAMPLE_KEY, null);
      msg.className = "field-msg";
      msg.textContent = "The float model is trained, but the search was refused: " + e.message;
    }
    reloadParetoSoon();
  }

  // ---- the Pareto plot ----

  const PARETO_KEY = "quantd.pareto";
  const X_AXES = {
    total_bytes: { label: "total memory (bytes, weights + activations)", get: (p) => p.memory && p.memory.total_bytes, fmt: fmtBytes },
    weight_bytes: { label: "weight memory (bytes)", get: (p) => p.memory && p.memory.weight_bytes, fmt: fmtBytes },
    bitops: { label: "BitOPs (MACs × weight bits × activation bits)", get: (p) => p.bitops, fmt: (x) => fmtCount(x) + " BitOPs" },
  };
  const PALETTE = ["#1d4e89", "#d1495b", "#2a9d8f", "#e9a03b", "#7b4fa0", "#3f88c5", "#8d6a4f", "#5c946e", "#c45ab3", "#555f6b"];
  let paretoChart = null;
  let paretoChosen = false;
  let pareto = { points: [], front: [] };

  function restoreParetoChoice() {
    let c = null;
    try {
      c = JSON.parse(store(PARETO_KEY) || "null");
    } catch (e) {
      c = null;
    }
    if (!c) return;
    paretoChosen = true;
    for (const [k, sel] of [["dataset", "#pareto-dataset"], ["model", "#pareto-model"], ["x", "#pareto-x"]])
      if (c[k] !== undefined && $$("option", $(sel)).some((o) => o.value === c[k])) $(sel).value = c[k];
  }

  /* Indices of the points on the front for axis x: no other point has x <= and accuracy >=
   * with one strictly better (DESIGN.md). O(n log n): by x ascending, accuracy descending. */
  function paretoFront(points, get) {
    const idx = points
      .map((p, i) => i)
      .filter((i) => isNum(get(points[i])) && isNum(points[i].test_accuracy));
    idx.sort((a, b) => get(points[a]) - get(points[b]) || points[b].test_accuracy - points[a].test_accuracy || a - b);
    const front = [];
    let best = -Infinity;
    for (let g = 0; g < idx.length; ) {
      let e = g;
      while (e < idx.length && get(points[idx[e]]) === get(points[idx[g]])) e++;
      const top = points[idx[g]].test_accuracy;
      if (top > best) {
        for (let i = g; i < e && points[idx[i]].test_accuracy === top; i++) front.push(idx[i]);
        best = top;
      }
      g = e;
    }
    return front;
  }

  const narrow = () => window.matchMedia("(max-width: 640px)").matches;

  /* colour k of a plot: the palette, then evenly spread hues */
  function colour(k) {
    return k < PALETTE.length ? PALETTE[k] : "hsl(" + Math.round((k * 137.5) % 360) + ", 55%, 45%)";
  }

  function pointGroup(p) {
    const m = p.method || "";
    const f = p.format || "";
    if (!m && !f) return "points";
    return (m || "?") + " · " + (f || "?");
  }

  async function loadPareto() {
    const q = new URLSearchParams();
    const ds = $("#pareto-dataset").value;
    const model = $("#pareto-model").value;
    if (ds) q.set("dataset", ds);
    if (model) q.set("model", model);
    q.set("x", $("#pareto-x").value); /* the daemon computes the front over this cost */
    let r;
    try {
      r = await api("/api/v1/pareto?" + q);
    } catch (e) {
      if (e.status !== 401 && e.status !== 0) showParetoEmpty("The Pareto points could not be read: " + e.message);
      return;
    }
    /* first visit of the plot: choose the data set and model of the latest point, so that the
     * plot does not mix models (the user's own choice is kept in the browser) */
    if (!paretoChosen && !ds && !model && r.points.length) {
      const last = r.points[r.points.length - 1];
      const combos = new Set(r.points.map((p) => p.dataset + "\u0000" + p.model));
      paretoChosen = true;
      if (combos.size > 1) {
        setSelect("#pareto-dataset", last.dataset);
        setSelect("#pareto-model", last.model);
        return loadPareto();
      }
    }
    pareto = r;
    renderPareto();
  }

  function setSelect(sel, v) {
    const s = $(sel);
    if (!$$("option", s).some((o) => o.value === v)) s.append(el("option", { value: v }, v));
    s.value = v;
  }

  function showParetoEmpty(text) {
    const e = $("#pareto-empty");
    e.textContent = text;
    e.hidden = !text;
    $("#pareto-chart").hidden = !!text;
  }

  function pointLabel(p) {
    const lines = [p.name || "(no name)"];
    const cfg = [p.method, p.format].filter(Boolean).join(" · ");
    if (cfg) lines.push(cfg);
    lines.push("accuracy " + fmtPct(p.test_accuracy));
    if (p.memory)
      lines.push(
        "memory " + fmtBytes(p.memory.total_bytes) + " (weights " + fmtBytes(p.memory.weight_bytes) +
          ", activations " + fmtBytes(p.memory.activation_bytes) + ")"
      );
    if (isNum(p.bitops)) lines.push(fmtCount(p.bitops) + " BitOPs");
    lines.push("job " + p.job + (isNum(p.candidate) ? ", candidate " + p.candidate : ""));
    return lines;
  }

  function pointHref(p) {
    return "#/jobs/" + p.job + (isNum(p.candidate) ? "?candidate=" + p.candidate : "");
  }

  function renderPareto() {
    const xk = $("#pareto-x").value;
    const axis = X_AXES[xk];
    const pts = pareto.points || [];
    /* the daemon's front, for the axis asked (computed here only if it answered for another) */
    const front = pareto.x === xk && Array.isArray(pareto.front) ? pareto.front.slice() : paretoFront(pts, axis.get);
    front.sort((a, b) => axis.get(pts[a]) - axis.get(pts[b]));
    const fig = $("#pareto-figure");
    fig.dataset.points = String(pts.length);
    fig.dataset.front = String(front.length);
    fig.dataset.x = xk;
    const onFront = new Set(front);

    const summary = $("#pareto-summary");
    summary.textContent = pts.length
      ? pts.length + " point" + (pts.length === 1 ? "" : "s") + ", " + front.length + " on the front. Hover a point for its configuration; click it to open its job."
      : "";

    const tb = $("#front-table tbody");
    tb.replaceChildren(
      ...front.map((i) => {
        const p = pts[i];
        return el(
          "tr",
          null,
          el("td", { class: "name" }, el("a", { href: pointHref(p) }, p.name || p.job)),
          el("td", null, p.method || "—"),
          el("td", null, p.format || "—"),
          el("td", { class: "num" }, fmtPct(p.test_accuracy)),
          el("td", { class: "num" }, axis.fmt(axis.get(p)))
        );
      })
    );

    if (!pts.length) {
      showParetoEmpty(
        daemonEmpty
          ? "No finished models yet: run the example above or submit a job, and its points appear here."
          : "No finished models for this data set and model yet."
      );
      if (paretoChart) paretoChart.destroy();
      paretoChart = null;
      return;
    }
    showParetoEmpty("");
    if (!window.Chart) {
      showParetoEmpty("The plot could not be drawn (Chart.js did not load); the table below lists the front.");
      return;
    }
    const groups = new Map();
    pts.forEach((p, i) => {
      const x = axis.get(p);
      if (!isNum(x) || x <= 0 || !isNum(p.test_accuracy)) return;
      const g = pointGroup(p);
      if (!groups.has(g)) groups.set(g, []);
      groups.get(g).push({ x, y: 100 * p.test_accuracy, i });
    });
    const names = Array.from(groups.keys()).sort();
    const sets = names.map((g, k) => ({
      type: "scatter",
      label: g,
      data: groups.get(g),
      backgroundColor: colour(k),
      borderColor: colour(k),
      pointRadius: 5,
      pointHoverRadius: 8,
    }));
    sets.push({
      type: "line",
      label: "Pareto front",
      data: front.map((i) => ({ x: axis.get(pts[i]), y: 100 * pts[i].test_accuracy, i })),
      stepped: "before",
      borderColor: "#1b1f24",
      borderWidth: 2,
      backgroundColor: "rgba(0,0,0,0)",
      pointRadius: 9,
      pointHoverRadius: 10,
      pointBorderWidth: 2,
      pointBorderColor: "#1b1f24",
      pointBackgroundColor: "rgba(0,0,0,0)",
      fill: false,
    });
    const data = { datasets: sets };
    for (const d of sets) d.clip = false; /* a point at 100 % is drawn whole */
    const options = {
      animation: false,
      maintainAspectRatio: false,
      parsing: false,
      layout: { padding: { top: 12, right: 12 } },
      interaction: { mode: "nearest", intersect: true },
      scales: {
        x: { type: "logarithmic", title: { display: true, text: axis.label }, ticks: { callback: (v) => shortTick(v, xk) } },
        y: { title: { display: true, text: "test accuracy (%)" } },
      },
      plugins: {
        /* a phone: a smaller legend, so that the plot keeps most of its box */
        legend: { position: "bottom", labels: narrow() ? { usePointStyle: true, boxWidth: 8, padding: 6, font: { size: 10 } } : { usePointStyle: true } },
        tooltip: {
          /* a point on the front is also under its ring: describe it once */
          filter: (item) => item.dataset.type !== "line",
          callbacks: {
            title: () => "",
            label: (ctx) => pointLabel(pts[ctx.raw.i]),
          },
        },
      },
      onHover: (e, els) => {
        e.native.target.style.cursor = els.length ? "pointer" : "default";
      },
      onClick: (e, els) => {
        if (!els.length) return;
        const d = sets[els[0].datasetIndex].data[els[0].index];
        location.hash = pointHref(pts[d.i]);
      },
    };
    if (paretoChart) {
      paretoChart.data = data;
      paretoChart.options = options;
      paretoChart.update("none");
    } else {
      paretoChart = new Chart($("#pareto-chart"), { type: "scatter", data, options });
    }
  }

  /* Log-axis ticks: 1, 2 and 5 times a power of ten, as short as they can be ("200 kB"). */
  function shortTick(v, xk) {
    const l = Math.log10(v);
    if (Math.abs(l - Math.round(l)) > 1e-9 && ![2, 5].includes(Math.round(v / Math.pow(10, Math.floor(l))))) return "";
    return (xk === "bitops" ? fmtCount(v) : fmtBytes(v)).replace(/\.0+ /, " ").replace(/(\.\d*?)0+ /, "$1 ");
  }

  function initPareto() {
    const changed = () => {
      paretoChosen = true;
      store(PARETO_KEY, JSON.stringify({ dataset: $("#pareto-dataset").value, model: $("#pareto-model").value, x: $("#pareto-x").value }));
    };
    $("#pareto-dataset").addEventListener("change", () => (changed(), loadPareto()));
    $("#pareto-model").addEventListener("change", () => (changed(), loadPareto()));
    $("#pareto-x").addEventListener("change", () => (changed(), loadPareto()));
    $("#pareto-controls").addEventListener("submit", (e) => e.preventDefault());
  }

  // ---- one job ----

  let current = null; /* the job shown */
  let epochs = [];
  const charts = {};

  function fact(dl, label, value) {
    dl.append(el("div", null, el("dt", null, label), el("dd", null, value)));
  }

  async function loadJob(id, fresh) {
    if (fresh) {
      current = null;
      epochs = [];
      $("#job-title").textContent = "Job " + id;
      for (const s of ["#job-curves", "#job-bits", "#job-result", "#job-artifacts", "#job-errors"]) $(s).hidden = true;
      $("#job-msg").textContent = "";
    }
    let j;
    try {
      j = await api("/api/v1/jobs/" + id);
    } catch (e) {
      if (id !== jobId) return;
      $("#job-msg").textContent =
        e.status === 404 ? "No job " + id + " (or it belongs to another team)." : "The job could not be read: " + e.message;
      return;
    }
    if (id !== jobId) return;
    current = j;
    renderJob(j);
    try {
      const m = await api("/api/v1/jobs/" + id + "/metrics");
      if (id !== jobId) return;
      epochs = m.epochs || [];
    } catch (e) {
      epochs = (j.result && j.result.history) || [];
    }
    renderCurves();
    loadArtifacts(id);
  }

  function renderJob(j) {
    $("#job-title").textContent = (j.name || "Job") + " · " + j.kind;
    const dl = $("#job-facts");
    dl.replaceChildren();
    fact(dl, "state", stateBadge(j.state, j.cancel_requested));
    fact(dl, "id", el("code", null, j.id));
    const spec = j.spec || {};
    if (spec.dataset) fact(dl, "data set", spec.dataset);
    if (spec.model) fact(dl, "model", spec.model);
    if (j.team) fact(dl, "team", j.team);
    fact(dl, "created", fmtTime(j.created_at));
    if (j.started_at) fact(dl, "started", fmtTime(j.started_at));
    if (j.finished_at) fact(dl, "finished", fmtTime(j.finished_at));
    fact(dl, "attempts", j.attempts + " of " + j.max_attempts);
    const cancel = $("#job-cancel");
    cancel.hidden = !(j.state === "queued" || j.state === "running") || j.cancel_requested;
    renderJobProgress(j.progress, j);

    // result (a running search: its candidates so far)
    const r = j.result || (j.partial && Array.isArray(j.partial.candidates) && j.partial.candidates.length ? j.partial : null);
    $("#job-result").hidden = !r;
    $("#result-title").textContent = j.result ? "Result" : "Found so far (the search runs on)";
    if (r) renderResult(j, r);

    // errors and history
    const errs = j.errors || [];
    $("#job-errors").hidden = errs.length === 0;
    $("#error-list").replaceChildren(
      ...errs.map((e) =>
        el("li", null, "attempt " + e.attempt + " · " + fmtTime(e.at) + ": ", el("code", null, e.code), " ", e.message, e.field ? " (field " + e.field + ")" : "")
      )
    );
    $("#transition-list").replaceChildren(
      ...(j.transitions || []).map((t) => el("li", null, fmtTime(t.at) + " · ", stateBadge(t.state), " " + (t.reason || "")))
    );
    $("#job-spec").textContent = JSON.stringify(j.spec, null, 2);
  }

  function renderJobProgress(p, j) {
    const box = $("#job-progress");
    const state = j ? j.state : current && current.state;
    if (!p || state !== "running") {
      box.replaceChildren(state === "queued" ? el("span", { class: "muted" }, "Waiting for a worker…") : "");
      return;
    }
    const f = isNum(p.fraction) ? p.fraction : 0;
    box.replaceChildren(
      el("progress", { max: "1", value: String(f), "aria-label": "progress" }),
      el("span", { class: "pct" }, Math.round(100 * f) + " %"),
      el("span", { class: "muted" }, p.status || "")
    );
  }

  function layerBits(l, which) {
    const bits = l[which + "_bits"];
    const fmt = l[which + "_format"];
    if (fmt === "float" || bits === 32) return "float32";
    if (fmt && fmt !== "int") return fmt + (isNum(bits) ? " (" + bits + " bits)" : "");
    return isNum(bits) ? "int" + bits : "—";
  }

  /* ptq: the result's per-layer errors, shown as two more columns */
  function renderLayers(layers, ptq) {
    const errs = new Map(((ptq && ptq.layers) || []).map((p) => [p.name, p]));
    const head = $("#layers-table thead tr");
    $$(".ptq-col", head).forEach((c) => c.remove());
    if (errs.size)
      head.append(el("th", { scope: "col", class: "num ptq-col" }, "weight error (PTQ)"), el("th", { scope: "col", class: "ptq-col" }, "residual"));
    $("#layers-table tbody").replaceChildren(
      ...(layers || []).map((l) =>
        el(
          "tr",
          null,
          el("td", null, l.name || ""),
          el("td", null, l.type || ""),
          el("td", { class: "num" }, fmtCount(l.params)),
          el("td", { class: "num" }, fmtCount(l.macs)),
          el("td", null, layerBits(l, "w") + (l.per_channel ? ", per channel" : "")),
          el("td", null, layerBits(l, "a")),
          el("td", { class: "num" }, fmtBytes(l.weight_bytes)),
          errs.size ? ptqCells(errs.get(l.name)) : null
        )
      )
    );
  }

  function ptqCells(p) {
    if (!p) return [el("td", null, ""), el("td", null, "")];
    const e = isNum(p.weight_rel_error_final) ? p.weight_rel_error_final : p.weight_rel_error;
    return [
      el("td", { class: "num", title: "relative MSE of the quantized weights" + (p.residual ? " (before the residual: " + fmtNum(p.weight_rel_error, 5) + ")" : "") }, fmtNum(e, 5)),
      el("td", null, p.residual ? "yes" : ""),
    ];
  }

  /* A candidate's configuration: the search's label ("w:int4 a:int8"), else its bits. */
  function candidateConfig(c) {
    if (c.label) return c.label;
    if (c.name) return c.name;
    const ls = (c.layers || []).filter((l) => isNum(l.w_bits));
    if (!ls.length) return "—";
    const w = Array.from(new Set(ls.map((l) => l.w_bits)));
    const a = Array.from(new Set(ls.map((l) => l.a_bits)));
    return "w" + (w.length === 1 ? w[0] : ls.map((l) => l.w_bits).join("/")) + " a" + (a.length === 1 ? a[0] : ls.map((l) => l.a_bits).join("/"));
  }

  /* accuracy, memory and cost of a train result or of a search's candidate */
  function modelFacts(dl, m, accLabel) {
    if (isNum(m.test_accuracy)) fact(dl, accLabel || "test accuracy", fmtPct(m.test_accuracy));
    if (isNum(m.test_loss)) fact(dl, "test loss", fmtNum(m.test_loss));
    if (m.format) fact(dl, "format", m.format);
    if (m.memory) {
      fact(dl, "weights", fmtBytes(m.memory.weight_bytes));
      fact(dl, "activations", fmtBytes(m.memory.activation_bytes));
      fact(dl, "total memory", fmtBytes(m.memory.total_bytes));
    }
    if (isNum(m.bitops)) fact(dl, "BitOPs", fmtCount(m.bitops));
  }

  function jobLink(id, text) {
    return el("a", { href: "#/jobs/" + id }, text || id);
  }

  function renderResult(j, r) {
    const dl = $("#result-facts");
    dl.replaceChildren();
    const box = $("#job-candidates");
    box.replaceChildren();
    $("#layers-box").hidden = false;
    if (j.kind === "search" || Array.isArray(r.candidates)) return renderSearch(j, r, dl, box);
    if (j.kind === "export") return renderExport(j, r, dl, box);
    if (r.method) fact(dl, "method", r.method);
    modelFacts(dl, r);
    if (isNum(r.params)) fact(dl, "parameters", fmtCount(r.params));
    if (isNum(r.seconds)) fact(dl, "time", fmtDuration(r.seconds));
    if (isNum(r.train_images_per_second) && r.train_images_per_second > 0) fact(dl, "training speed", fmtCount(r.train_images_per_second) + " images/s");
    if (r.adaqat && isNum(r.adaqat.mean_w_bits))
      fact(dl, "AdaQAT final bits", "w " + fmtNum(r.adaqat.mean_w_bits, 2) + ", a " + fmtNum(r.adaqat.mean_a_bits, 2));
    if (j.kind === "train")
      box.append(el("p", null, el("a", { href: "#/submit?tpl=search&base=" + j.id }, "Search bit-widths from this model"), " · ", el("a", { href: "#/submit?tpl=export&job=" + j.id }, "Export it")));
    renderLayers(r.layers, r.ptq);
  }

  /* A search: its candidates (the one in the URL's ?candidate=, else the best, in detail). */
  function renderSearch(j, r, dl, box) {
    const cands = r.candidates || [];
    const front = new Set(r.front || []);
    const want = new URLSearchParams(location.hash.split("?")[1] || "").get("candidate");
    const k = want !== null && /^\d+$/.test(want) && Number(want) < cands.length ? Number(want) : isNum(r.best) ? r.best : 0;
    const pick = cands[k];
    if (r.method) fact(dl, "method", r.method);
    fact(dl, "candidates", (isNum(r.done) ? r.done : cands.length) + (isNum(r.total) ? " of " + r.total : "") + ", " + front.size + " on the front");
    if (r.base && r.base.job) fact(dl, "base model", jobLink(r.base.job));
    if (isNum(r.finetune_epochs)) fact(dl, "fine-tuning", r.finetune_epochs ? r.finetune_epochs + " epoch" + (r.finetune_epochs > 1 ? "s" : "") + " per candidate" : "none (PTQ)");
    if (isNum(r.seconds)) fact(dl, "time", fmtDuration(r.seconds));
    if (pick) {
      const sub = el("dl", { class: "facts" });
      modelFacts(sub, pick);
      box.append(el("h3", null, "Candidate " + k + (k === r.best ? " (the best)" : "") + ": " + candidateConfig(pick)), sub,
        el("p", null, el("a", { href: "#/submit?tpl=export&job=" + j.id + "&candidate=" + k }, "Export this candidate")));
    }
    box.append(
      el("h3", null, "Candidates"),
      el(
        "div",
        { class: "table-wrap" },
        el(
          "table",
          { id: "cand-table" },
          el("caption", { class: "sr-only" }, "The search's candidates; bold: on the Pareto front"),
          el("thead", null, el("tr", null, ["#", "configuration", "format", "accuracy", "memory", "BitOPs", "front", ""].map((h, i) => el("th", { scope: "col", class: i >= 3 && i <= 5 ? "num" : null }, h)))),
          el(
            "tbody",
            null,
            cands.map((c, i) =>
              el(
                "tr",
                { class: front.has(i) ? "front" : null },
                el("td", null, String(i)),
                el("td", null, el("a", { href: "#/jobs/" + j.id + "?candidate=" + i, "aria-current": i === k ? "true" : null }, candidateConfig(c))),
                el("td", null, c.format || "—"),
                el("td", { class: "num" }, fmtPct(c.test_accuracy)),
                el("td", { class: "num" }, fmtBytes(c.memory && c.memory.total_bytes)),
                el("td", { class: "num" }, fmtCount(c.bitops)),
                el("td", null, front.has(i) ? "yes" : ""),
                el("td", null, el("a", { href: "#/submit?tpl=export&job=" + j.id + "&candidate=" + i }, "export"))
              )
            )
          )
        )
      )
    );
    renderLayers(pick ? pick.layers : r.layers, null);
  }

  /* An export: the file, how well the exported model agrees with its source, its size. */
  function renderExport(j, r, dl, box) {
    if (r.format) fact(dl, "format", r.format);
    if (r.source && r.source.job)
      fact(dl, "from", el("span", null, jobLink(r.source.job), isNum(r.source.candidate) ? ", candidate " + r.source.candidate : ""));
    if (isNum(r.test_accuracy)) fact(dl, "accuracy, exported", fmtPct(r.test_accuracy));
    if (isNum(r.source_test_accuracy)) fact(dl, "accuracy, source model", fmtPct(r.source_test_accuracy));
    const c = r.comparison || {};
    if (isNum(c.agreement)) fact(dl, "same predictions", fmtPct(c.agreement) + (isNum(c.images) ? " of " + c.images + " images" : ""));
    if (isNum(c.max_logit_diff)) fact(dl, "largest logit difference", fmtNum(c.max_logit_diff, 5));
    const z = r.sizes || {};
    if (isNum(z.qmodel_bytes)) fact(dl, "packed model", fmtBytes(z.qmodel_bytes));
    if (isNum(z.compression)) fact(dl, "compression vs float", z.compression.toFixed(1) + "×");
    const rt = r.runtime || {};
    if (isNum(rt.images_per_second)) fact(dl, "runtime speed", fmtCount(rt.images_per_second) + " images/s");
    const files = r.files || [];
    if (files.length) box.append(el("p", null, "Files: " + files.map((f) => f.name + (isNum(f.bytes) ? " (" + fmtBytes(f.bytes) + ")" : "")).join(", ") + ": see Artifacts below."));
    if (Array.isArray(r.layers) && r.layers.length) renderLayers(r.layers, null);
    else $("#layers-box").hidden = true;
  }

  async function loadArtifacts(id) {
    let a;
    try {
      a = await api("/api/v1/jobs/" + id + "/artifacts");
    } catch (e) {
      return;
    }
    if (id !== jobId) return;
    const list = a.artifacts || [];
    $("#job-artifacts").hidden = list.length === 0;
    $("#artifact-list").replaceChildren(
      ...list.map((f) =>
        el(
          "li",
          null,
          token
            ? el("button", { type: "button", class: "secondary", onclick: () => download(f) }, "Download " + f.name)
            : el("a", { href: f.url, download: f.name }, "Download " + f.name),
          " ",
          el("span", { class: "muted" }, fmtBytes(f.size) + " · SHA-256 "),
          el("code", { title: f.sha256 }, (f.sha256 || "").slice(0, 16) + "…")
        )
      )
    );
  }

  /* With a token a plain link cannot authenticate: fetch the file, then save it. */
  async function download(f) {
    try {
      const res = await fetch(f.url, { headers: authHeaders() });
      if (!res.ok) throw new Error("HTTP " + res.status);
      const url = URL.createObjectURL(await res.blob());
      const a = el("a", { href: url, download: f.name });
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10000);
    } catch (e) {
      $("#job-msg").textContent = "The download failed: " + e.message;
    }
  }

  function lineChart(key, canvas, datasets, yTitle, extra) {
    const data = { datasets };
    const options = {
      animation: false,
      maintainAspectRatio: false,
      parsing: false,
      interaction: { mode: "index", intersect: false },
      scales: {
        x: (extra && extra.scales && extra.scales.x) || { type: "linear", title: { display: true, text: "epoch" }, ticks: { precision: 0 } },
        y: { title: { display: true, text: yTitle } },
      },
      plugins: { legend: (extra && extra.legend) || { position: "bottom" } },
    };
    if (charts[key]) {
      charts[key].data = data;
      charts[key].options = options;
      charts[key].update("none");
    } else {
      charts[key] = new Chart($(canvas), { type: "line", data, options });
    }
  }

  /* dash: undefined (solid), "dash" or "dot". x: the epoch, or for a search (whose candidates'
   * epochs each count from 1) the place in the sequence of every candidate's epochs. */
  function series(label, color, get, dash) {
    const data = epochs.map((e, i) => ({ x: isNum(e.candidate) ? i + 1 : e.epoch, y: get(e) })).filter((p) => isNum(p.y));
    const borderDash = dash === "dash" ? [6, 4] : dash === "dot" ? [2, 3] : undefined;
    return { label, data, borderColor: color, backgroundColor: color, borderDash, pointRadius: dash ? 2 : 3, borderWidth: dash ? 1.5 : 2.5 };
  }

  function renderCurves() {
    epochs.sort((a, b) => (a.candidate || 0) - (b.candidate || 0) || a.epoch - b.epoch);
    const has = epochs.length > 0;
    $("#job-curves").hidden = !has;
    if (!has || !window.Chart) return;
    /* a search's epochs are its candidates' one after another */
    const xTitle = epochs.some((e) => isNum(e.candidate)) ? "fine-tuning epoch, the candidates one after another" : "epoch";
    const x = { scales: { x: { type: "linear", title: { display: true, text: xTitle }, ticks: { precision: 0 } } } };
    lineChart("loss", "#loss-chart", [series("train loss", "#1d4e89", (e) => e.train_loss), series("test loss", "#d1495b", (e) => e.test_loss)], "loss", x);
    lineChart("acc", "#acc-chart", [series("test accuracy", "#2a9d8f", (e) => (isNum(e.test_accuracy) ? 100 * e.test_accuracy : null))], "test accuracy (%)", x);
    const bits = epochs.some((e) => isNum(e.mean_w_bits) || Array.isArray(e.n_w));
    $("#job-bits").hidden = !bits;
    if (!bits) return;
    /* solid: the mean integer bits in use; per layer (one colour each) the learned real-valued
     * widths, dashed for weights and dotted for activations */
    const sets = [
      series("weights: mean bits", "#1b1f24", (e) => e.mean_w_bits),
      series("activations: mean bits", "#8d6a4f", (e) => e.mean_a_bits),
    ];
    const names = ((current && current.result && current.result.layers) || []).map((l) => l.name);
    for (const [key, what, dash] of [["n_w", "weights", "dash"], ["n_a", "activations", "dot"]]) {
      const first = epochs.find((e) => Array.isArray(e[key]));
      if (!first) continue;
      const perLayer = first[key].length > 1;
      first[key].forEach((_, k) =>
        sets.push(
          series(what + " " + (perLayer ? names[k] || "layer " + k : "(network)") + ", learned", PALETTE[k % PALETTE.length], (e) => (Array.isArray(e[key]) ? e[key][k] : null), dash)
        )
      );
    }
    lineChart("bits", "#bits-chart", sets, "bits", { legend: { position: "bottom", labels: { boxWidth: 18, font: { size: 11 } } } });
  }

  function initJob() {
    $("#job-cancel").addEventListener("click", async () => {
      const b = $("#job-cancel");
      b.disabled = true;
      try {
        const r = await api("/api/v1/jobs/" + jobId + "/cancel", { method: "POST" });
        $("#job-msg").className = "field-msg ok";
        $("#job-msg").textContent = r.state === "cancelled" ? "Cancelled." : "Stopping at the next step…";
      } catch (e) {
        $("#job-msg").className = "field-msg";
        $("#job-msg").textContent = "Cancel failed: " + e.message;
      }
      b.disabled = false;
      loadJob(jobId, false);
    });
  }

  // ---- submit ----

  /* Each template: the kind, the values it puts in the form (by JSON path) and a line of help. */
  const TEMPLATES = {
    float: {
      kind: "train",
      help: "A float model: the baseline the quantized ones are measured against, and the start for PTQ, fine-tuning and searches.",
      values: { name: "float", epochs: 3, batch_size: 128, seed: 1, "optimizer.name": "sgd", "optimizer.lr": 0.05, schedule: "one-cycle" },
    },
    "qat-int": {
      kind: "train",
      help: "Integer quantization-aware training with learned step sizes (LSQ): 4-bit weights (per channel) and activations, 8-bit first and last layers. Best started from a float job.",
      values: {
        name: "int w4a4", epochs: 3, batch_size: 128, seed: 1, "optimizer.name": "sgd", "optimizer.lr": 0.02, schedule: "one-cycle",
        "quant.method": "qat", "quant.weights.format": "int", "quant.weights.bits": 4, "quant.weights.per_channel": true,
        "quant.activations.format": "int", "quant.activations.bits": 4, "quant.first_last_bits": 8,
      },
    },
    "qat-minifloat": {
      kind: "train",
      help: "Minifloat QAT: E4M3 (1 sign, 4 exponent, 3 mantissa bits) weights and activations with a learned scale.",
      values: {
        name: "minifloat e4m3", epochs: 3, batch_size: 128, seed: 1, "optimizer.name": "sgd", "optimizer.lr": 0.02, schedule: "one-cycle",
        "quant.method": "qat", "quant.weights.format": "minifloat", "quant.weights.exponent": 4, "quant.weights.mantissa": 3,
        "quant.weights.per_channel": true, "quant.activations.format": "minifloat", "quant.activations.exponent": 4, "quant.activations.mantissa": 3,
      },
    },
    adaqat: {
      kind: "train",
      help: "AdaQAT: the bit-widths are learned with the weights, traded against cost by λ (higher: fewer bits). The bits chart shows their path per epoch.",
      values: {
        name: "adaqat", epochs: 3, batch_size: 128, seed: 1, "optimizer.name": "sgd", "optimizer.lr": 0.02, schedule: "one-cycle",
        "quant.method": "adaqat", "quant.weights.format": "int", "quant.weights.bits": 8, "quant.activations.format": "int", "quant.activations.bits": 8,
        "quant.adaqat.lambda": 1, "quant.adaqat.eta": 0.5, "quant.adaqat.granularity": "network",
      },
    },
    ptq: {
      kind: "train",
      help: "Post-training quantization (MMSE clipping, no retraining) of a finished float model: choose it under “Start from”.",
      values: {
        name: "ptq w4a8", "quant.method": "ptq", "quant.weights.format": "int", "quant.weights.bits": 4, "quant.weights.per_channel": true,
        "quant.activations.format": "int", "quant.activations.bits": 8,
      },
    },
    search: {
      kind: "search",
      help: "A search over bit-widths from a finished float model: uniform tries each weight × activation width; sensitivity fits per-layer widths to each budget.",
      values: {
        name: "uniform search", method: "uniform", "space.weight_bits": "2, 3, 4, 6, 8", "space.activation_bits": "4, 8", "space.formats": "int",
        "budgets.total_bytes": "", "adaqat.lambdas": "0.5, 2, 8", finetune_epochs: 1,
      },
    },
    export: {
      kind: "export",
      help: "Export a finished model (or a search's candidate) as a file: qmodel (quantd's packed integer format), C source with a runtime, or ONNX. The result compares the exported model's predictions with the source's.",
      values: { format: "qmodel", candidate: "", name: "export" },
    },
  };

  let tpl = "float";
  let idemKey = randomKey();
  let jsonDirty = false;

  function inputs() {
    return $$("#submit-form [data-path]").filter((i) => i.id !== "f-json");
  }

  function listed(attr, value) {
    return !attr || attr.split(" ").includes(value);
  }

  /* data-when="ID=a|b": shown only while the control ID has one of those values */
  function whenHolds(n) {
    const w = n.getAttribute("data-when");
    if (!w) return true;
    const [id, vals] = w.split("=");
    const c = document.getElementById(id);
    return !c || vals.split("|").includes(c.value);
  }

  /* Whether an element belongs to the current template: data-kinds, data-templates, data-when. */
  function shows(n) {
    return listed(n.getAttribute("data-kinds"), TEMPLATES[tpl].kind) && listed(n.getAttribute("data-templates"), tpl) && whenHolds(n);
  }

  /* Whether a form control is part of the current template (it and its boxes shown). */
  function active(i) {
    for (let n = i; n && n.id !== "submit-form"; n = n.parentElement) if (!shows(n)) return false;
    return true;
  }

  function applyVisibility() {
    for (const n of $$("#submit-form [data-kinds], #submit-form [data-templates], #submit-form [data-when]")) n.hidden = !shows(n);
  }

  function setPath(obj, path, v) {
    const keys = path.split(".");
    let o = obj;
    for (const k of keys.slice(0, -1)) o = o[k] = o[k] && typeof o[k] === "object" ? o[k] : {};
    o[keys[keys.length - 1]] = v;
  }

  function readInput(i) {
    const t = i.getAttribute("data-type");
    if (t === "bool") return i.checked;
    const v = i.value.trim();
    if (v === "") return undefined;
    if (t === "int") return /^-?\d+$/.test(v) ? parseInt(v, 10) : v;
    if (t === "num") return isFinite(Number(v)) ? Number(v) : v;
    if (t === "intlist") return v.split(/[\s,]+/).filter(Boolean).map((x) => (/^-?\d+$/.test(x) ? parseInt(x, 10) : x));
    if (t === "numlist") return v.split(/[\s,]+/).filter(Boolean).map((x) => (isFinite(Number(x)) ? Number(x) : x));
    if (t === "strlist") return v.split(/[\s,]+/).filter(Boolean);
    return v;
  }

  function buildSpec() {
    const spec = { kind: TEMPLATES[tpl].kind };
    for (const i of inputs()) {
      if (!active(i)) continue;
      const v = readInput(i);
      if (v !== undefined) setPath(spec, i.getAttribute("data-path"), v);
    }
    return spec;
  }

  function updatePreview() {
    /* another spec, another key: the key only makes a resend of the same spec harmless */
    idemKey = randomKey();
    if ($("#json-edit").checked) return;
    $("#f-json").value = JSON.stringify(buildSpec(), null, 2);
    jsonDirty = false;
  }

  function fillJobSelects() {
    const sels = $$("#submit-form select[data-jobs]");
    if (!sels.length) return Promise.resolve();
    return api("/api/v1/jobs?state=succeeded&limit=200")
      .then((r) => {
        for (const s of sels) {
          const kinds = s.getAttribute("data-jobs").split(" ");
          const keep = s.value || s.getAttribute("data-want") || "";
          s.replaceChildren(el("option", { value: "" }, s.id === "f-init" ? "— none: start from scratch —" : "— choose a job —"));
          for (const j of r.jobs.filter((x) => kinds.includes(x.kind))) {
            const acc = j.summary && isNum(j.summary.test_accuracy) ? ", " + fmtPct(j.summary.test_accuracy) : "";
            const ds = j.kind;
            s.append(el("option", { value: j.id }, (j.name || j.id) + " (" + ds + " " + j.id.slice(0, 6) + acc + ")"));
          }
          if ($$("option", s).some((o) => o.value === keep)) s.value = keep;
        }
      })
      .catch(() => {});
  }

  function chooseTemplate(name, prefill) {
    tpl = TEMPLATES[name] ? name : "float";
    $("#tpl").value = tpl;
    const t = TEMPLATES[tpl];
    $("#tpl-help").textContent = t.help;
    for (const i of inputs()) {
      const v = t.values[i.getAttribute("data-path")];
      if (i.getAttribute("data-type") === "bool") i.checked = !!v;
      else if (i.tagName === "SELECT") {
        if (v !== undefined) i.value = String(v);
      } else i.value = v === undefined ? "" : String(v);
    }
    /* sensible data set and model: the example's (a base job's come later, in route) */
    const ds = $("#f-dataset");
    if (!ds.value && ds.options.length) ds.value = ds.options[0].value;
    if ($$("option", ds).some((o) => o.value === exampleDataset())) ds.value = exampleDataset();
    const md = $("#f-model");
    if ($$("option", md).some((o) => o.value === "mlp")) md.value = "mlp";
    /* Fashion-MNIST in full takes minutes per epoch here: a subset to start with */
    if (t.kind !== "export" && ds.value === "fashion-mnist") {
      if (!$("#f-sub-train").value) $("#f-sub-train").value = "10000";
      if (!$("#f-sub-test").value) $("#f-sub-test").value = "2000";
    }
    for (const [sel, v] of Object.values(prefill || {})) {
      const s = $(sel);
      if (!s) continue;
      s.setAttribute("data-want", v);
      if ($$("option", s).some((o) => o.value === v)) s.value = v;
      else if (s.tagName !== "SELECT") s.value = v;
    }
    clearErrors();
    applyVisibility();
    updatePreview();
  }

  function clearErrors() {
    for (const i of $$("#submit-form [aria-invalid]")) i.removeAttribute("aria-invalid");
    for (const m of $$("#submit-form .field-msg.server")) m.remove();
    $("#f-json-msg").textContent = "";
    $("#submit-msg").textContent = "";
    $("#submit-msg").className = "field-msg";
  }

  /* The control a server error's field (a JSON path) belongs to, when the form shows it. */
  function controlFor(field) {
    if (!field) return null;
    const vis = inputs().filter((i) => active(i));
    let best = null;
    let bestLen = -1;
    for (const i of vis) {
      const p = i.getAttribute("data-path");
      const hit = p === field || field.startsWith(p + ".") || field.startsWith(p + "[") || p.startsWith(field + ".");
      const len = p === field ? 1e9 : p.length;
      if (hit && len > bestLen) {
        best = i;
        bestLen = len;
      }
    }
    return best;
  }

  function showFieldError(ctrl, text) {
    ctrl.setAttribute("aria-invalid", "true");
    const id = ctrl.id + "-err";
    const m = el("p", { class: "field-msg server", id }, text);
    const box = ctrl.closest(".field") || ctrl.parentElement;
    box.append(m);
    ctrl.setAttribute("aria-describedby", id);
  }

  async function submitForm(ev) {
    ev.preventDefault();
    clearErrors();
    const raw = $("#json-edit").checked;
    const body = raw ? $("#f-json").value : JSON.stringify(buildSpec());
    const btn = $("#submit-btn");
    btn.disabled = true;
    try {
      const j = await api("/api/v1/jobs", { method: "POST", body, headers: { "Idempotency-Key": idemKey } });
      idemKey = randomKey();
      $("#submit-msg").className = "field-msg ok";
      $("#submit-msg").textContent = "Submitted job " + j.id + ".";
      loadJobs();
      location.hash = "#/jobs/" + j.id;
    } catch (e) {
      const where = raw ? null : controlFor(e.field);
      const text = e.status === 0 ? "The daemon could not be reached: nothing was submitted." : e.message;
      if (where) {
        showFieldError(where, text);
        where.focus();
      } else if (e.status !== 0) {
        $("#json-box").open = true;
        $("#f-json").setAttribute("aria-invalid", "true");
        $("#f-json-msg").textContent = (e.field ? e.field + ": " : "") + text;
      }
      $("#submit-msg").textContent =
        e.status === 0 ? text : "The server refused the spec (" + e.code + (e.field ? ", field " + e.field : "") + "): " + e.message;
      if (!where && e.status !== 0) $("#f-json").focus();
    }
    btn.disabled = false;
  }

  function initSubmit() {
    $("#tpl").addEventListener("change", () => chooseTemplate($("#tpl").value));
    $("#submit-form").addEventListener("input", (e) => {
      if (e.target.id === "f-json") {
        jsonDirty = true;
        idemKey = randomKey();
        return;
      }
      if (e.target.tagName === "SELECT") applyVisibility();
      updatePreview();
    });
    $("#submit-form").addEventListener("change", (e) => {
      if (e.target.id === "json-edit") {
        if (!e.target.checked) updatePreview();
        return;
      }
      if (e.target.tagName === "SELECT") applyVisibility();
      if (e.target.id !== "f-json") updatePreview();
    });
    $("#submit-form").addEventListener("submit", submitForm);
  }

  // ---- views ----

  let view = "overview";
  let jobId = null;

  function route() {
    const h = location.hash || "#/";
    const [path, query] = h.slice(1).split("?");
    const q = new URLSearchParams(query || "");
    const m = /^\/jobs\/([0-9a-f]{16})$/.exec(path);
    const prev = view;
    if (m) {
      view = "job";
      const fresh = jobId !== m[1];
      jobId = m[1];
      loadJob(jobId, fresh || prev !== "job");
    } else if (path === "/submit") {
      view = "submit";
      jobId = null;
      const pre = {};
      if (q.get("job")) pre.job = ["#e-job", q.get("job")];
      if (q.get("candidate")) pre.cand = ["#e-cand", q.get("candidate")];
      if (q.get("base")) pre.base = ["#s-base", q.get("base")];
      Promise.all([catalog(), fillJobSelects()]).then(async () => {
        if (q.get("tpl") || prev !== "submit") chooseTemplate(q.get("tpl") || tpl, pre);
        /* a search from a model, or a fine-tune: the same data set and model as that job */
        const from = q.get("base");
        if (!from) return;
        const j = await api("/api/v1/jobs/" + from).catch(() => null);
        if (!j || !j.spec) return;
        if (j.spec.dataset) setSelect("#f-dataset", j.spec.dataset);
        if (j.spec.model) setSelect("#f-model", j.spec.model);
        const sub = j.spec.subset || {};
        $("#f-sub-train").value = isNum(sub.train) ? String(sub.train) : "";
        $("#f-sub-test").value = isNum(sub.test) ? String(sub.test) : "";
        updatePreview();
      });
    } else {
      view = "overview";
      jobId = null;
    }
    $("#view-overview").hidden = view !== "overview";
    $("#view-job").hidden = view !== "job";
    $("#view-submit").hidden = view !== "submit";
    for (const a of $$("[data-nav]")) {
      const on = (a.dataset.nav === "overview" && view === "overview") || (a.dataset.nav === "submit" && view === "submit");
      if (on) a.setAttribute("aria-current", "page");
      else a.removeAttribute("aria-current");
    }
    if (view === "overview" && paretoChart) paretoChart.resize();
    document.title = view === "job" ? "quantd · job " + jobId : view === "submit" ? "quantd · submit" : "quantd";
    if (prev !== view && routed) {
      const hd = $("#view-" + view + " h1") || $("#main");
      hd.setAttribute("tabindex", "-1");
      hd.focus({ preventScroll: false });
    }
    routed = true;
  }
  let routed = false;

  /* Reads everything the page shows. A call while one runs makes it run once more at its end
   * (the token or the connection may have changed in between). */
  let refreshing = null;
  let refreshAgain = false;
  function refreshAll() {
    if (refreshing) {
      refreshAgain = true;
      return refreshing;
    }
    refreshing = (async () => {
      do {
        refreshAgain = false;
        try {
          await catalog();
          await loadJobs();
          await loadPareto();
          if (view === "job" && jobId) await loadJob(jobId, false);
          await exampleStep();
          const h = await api("/healthz").catch(() => null);
          if (h) $("#version").textContent = "quantd " + h.version + " · ";
        } catch (e) {
          /* messages are shown by api() */
        }
      } while (refreshAgain);
      refreshing = null;
    })();
    return refreshing;
  }

  function init() {
    initToken();
    initJobs();
    initPareto();
    initJob();
    initSubmit();
    $("#example-run").addEventListener("click", exampleRun);
    $("#example-hide").addEventListener("click", () => {
      exampleStarted = false;
      $("#welcome").hidden = true;
    });
    window.addEventListener("hashchange", route);
    route();
    runEvents();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
