// web.test.mjs: quantd's web page in headless Chromium against a real daemon.
//
//   node tests/browser/web.test.mjs --quantd bin/quantd --out build/browser
//
// Starts `quantd serve` on a free loopback port with a fresh state directory, drives Debian's
// /usr/bin/chromium through playwright-core (no browser download) and checks, as a user would
// see it: the first-visit help on an empty daemon and its one-click example (a float model and
// a uniform search from it, on the synthetic set); a synthetic train job submitted through the
// form (after a refused spec whose error shows beside its field) that runs live to the end; its
// curves, layers and artifacts; a uniform search submitted through the form and watched in the
// jobs table; the Pareto plot with one point per model and candidate, a colour per method and
// format and the front the API computes (over total bytes and BitOPs); hover and click on a
// search's point, which opens that candidate; cancel; the token field once the daemon needs tokens;
// phone width; labels on every control; no console error and no request to any other host; the
// banner when the daemon goes away. Screenshots and the daemon's log go to --out.
//
// Prints one line per check and closes with "browser: N passed, M failed"; exits non-zero on
// any failure.

import { spawn, execFileSync } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { chromium } from "playwright-core";

// ---- arguments ----

function arg(name, dflt) {
  const i = process.argv.indexOf("--" + name);
  return i > 0 && i + 1 < process.argv.length ? process.argv[i + 1] : dflt;
}
if (process.argv.includes("--help") || process.argv.includes("-h")) {
  console.log("usage: node tests/browser/web.test.mjs [--quantd bin/quantd] [--out build/browser] [--chromium /usr/bin/chromium]");
  process.exit(0);
}
const QUANTD = path.resolve(arg("quantd", "bin/quantd"));
const OUT = path.resolve(arg("out", "build/browser"));
const CHROMIUM = arg("chromium", "/usr/bin/chromium");
const STEP_TIMEOUT = 90_000;

fs.mkdirSync(OUT, { recursive: true });
for (const f of [QUANTD, CHROMIUM])
  if (!fs.existsSync(f)) {
    console.error(`browser: ${f} is missing (make builds quantd; make deps installs chromium)`);
    console.log("browser: 0 passed, 1 failed");
    process.exit(1);
  }

// ---- the daemon ----

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function startDaemon(state, port) {
  const log = fs.openSync(path.join(OUT, "daemon.log"), "w");
  const d = spawn(QUANTD, ["serve", "--listen", `127.0.0.1:${port}`, "--state", state, "--threads", "1", "--workers", "1"], {
    stdio: ["ignore", log, log],
  });
  const base = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 100; i++) {
    if (d.exitCode !== null) throw new Error(`quantd exited with ${d.exitCode}: see ${OUT}/daemon.log`);
    try {
      const r = await fetch(base + "/healthz");
      if (r.ok) return { proc: d, base };
    } catch (e) {
      /* not up yet */
    }
    await sleep(100);
  }
  d.kill("SIGKILL");
  throw new Error("quantd did not answer /healthz within 10 s");
}

function stopDaemon(d) {
  return new Promise((resolve) => {
    if (d.exitCode !== null) return resolve(d.exitCode);
    const t = setTimeout(() => d.kill("SIGKILL"), 20_000);
    d.once("exit", (code) => {
      clearTimeout(t);
      resolve(code);
    });
    d.kill("SIGTERM");
  });
}

// ---- checks ----

let passed = 0;
let failed = 0;
const failures = [];

async function check(name, fn) {
  const t0 = Date.now();
  try {
    await fn();
    passed++;
    console.log(`ok   ${name} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
    return true;
  } catch (e) {
    failed++;
    failures.push(name);
    console.log(`FAIL ${name}: ${(e && e.message ? e.message : String(e)).split("\n")[0]}`);
    return false;
  }
}

function expect(cond, what) {
  if (!cond) throw new Error(what);
}

// ---- the run ----

const state = fs.mkdtempSync(path.join(os.tmpdir(), "quantd-browser-"));
const port = await freePort();
let daemon = null;
let browser = null;

async function main() {
  daemon = await startDaemon(state, port);
  const { base } = daemon;
  const api = async (p, opts) => {
    const r = await fetch(base + p, opts);
    return r.json();
  };

  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    // no sandbox as root; nothing in the background that would reach for the network
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
      "--disable-sync", "--no-first-run", "--disable-quic", "--disable-default-apps", "--disable-extensions"],
  });
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const requests = [];
  const consoleErrors = [];
  let watchConsole = true;
  let allowConsole = null; // a console error the current step causes on purpose
  context.on("request", (r) => requests.push(r.url()));
  const page = await context.newPage();
  page.setDefaultTimeout(STEP_TIMEOUT);
  page.on("console", (m) => {
    if (!watchConsole || (m.type() !== "error" && m.type() !== "warning")) return;
    if (allowConsole && allowConsole.test(m.text())) {
      allowConsole = null; // once
      return;
    }
    consoleErrors.push(`${m.type()}: ${m.text()}`);
  });
  page.on("pageerror", (e) => watchConsole && consoleErrors.push("page error: " + e.message));

  // fullPage resizes the window for the shot, which redraws the charts without their tooltip
  const shot = async (name, fullPage = true) => {
    const f = path.join(OUT, name + ".png");
    await page.screenshot({ path: f, fullPage });
    return f;
  };

  let trainId = null;
  let searchId = null;

  // 1. first visit
  // The example uses Fashion-MNIST where it is installed (minutes here): the page is shown a
  // catalog without it, so that the example runs on the built-in synthetic set (seconds).
  const hideFashion = async (route) => {
    const r = await route.fetch();
    const d = await r.json();
    for (const x of d.datasets) if (x.name !== "synthetic") x.available = false;
    await route.fulfill({ response: r, json: d });
  };
  await page.route("**/api/v1/datasets", hideFashion);

  await check("the page loads without a token and welcomes an empty daemon", async () => {
    const resp = await page.goto(base + "/");
    expect(resp.status() === 200, "GET / answered " + resp.status());
    const csp = resp.headers()["content-security-policy"] || "";
    expect(/script-src 'self'/.test(csp) && /connect-src 'self'/.test(csp), "no self-only Content-Security-Policy: " + csp);
    await page.locator("#welcome").waitFor({ state: "visible" });
    const text = await page.locator("#welcome").textContent();
    expect(/Pareto/.test(text) && /example/i.test(text), "the welcome text does not explain the page");
    await page.locator("#example-run").waitFor({ state: "visible" });
    await page.locator("#conn.live").waitFor();
    await shot("first-visit");
  });

  // the one-click example: a float model, then a uniform search from it, on the plot
  await check("the one-click example trains a model, searches from it and fills the plot", async () => {
    await page.click("#example-run");
    await page.locator("#example-msg", { hasText: "The example is done" }).waitFor({ timeout: STEP_TIMEOUT });
    const jobs = (await api("/api/v1/jobs?state=succeeded")).jobs;
    const train = jobs.find((j) => j.kind === "train");
    const search = jobs.find((j) => j.kind === "search");
    expect(train && search && jobs.length === 2, "the example did not leave one train and one search job");
    const s = await api("/api/v1/jobs/" + search.id);
    expect(s.spec.base.job === train.id && s.spec.method === "uniform", "the search does not start from the example's model");
    const n = 1 + s.result.candidates.length;
    expect(n === 11, "the example's search has " + (n - 1) + " candidates, not 5 weight x 2 activation widths");
    await page.locator(`#pareto-figure[data-points="${n}"]`).waitFor();
    await shot("example-done");
  });
  await page.unroute("**/api/v1/datasets", hideFashion);

  // 2. the form refuses a bad spec beside the field, then takes a good one
  await check("a refused spec shows the server's error beside its field", async () => {
    await page.click('a[data-nav="submit"]');
    await page.locator("#view-submit").waitFor({ state: "visible" });
    await page.selectOption("#tpl", "float");
    await page.selectOption("#f-dataset", "synthetic");
    await page.selectOption("#f-model", "mlp");
    await page.fill("#f-name", "browser float");
    await page.fill("#f-epochs", "5000");
    await page.fill("#f-sub-train", "1024");
    await page.fill("#f-sub-test", "256");
    allowConsole = /status of 422/; // Chromium logs every 4xx answer of fetch
    await page.click("#submit-btn");
    await page.locator('#f-epochs[aria-invalid="true"]').waitFor();
    const msg = await page.locator("#f-epochs-err").textContent();
    expect(/1000/.test(msg), "the message beside epochs does not give the range: " + msg);
    const focused = await page.evaluate(() => document.activeElement && document.activeElement.id);
    expect(focused === "f-epochs", "the refused field does not get the focus (" + focused + ")");
    await shot("submit-error");
  });

  await check("a synthetic train job submitted through the form runs live to the end", async () => {
    await page.fill("#f-epochs", "2");
    await page.click("#submit-btn");
    await page.waitForURL(/#\/jobs\/[0-9a-f]{16}$/);
    trainId = page.url().split("/").pop();
    // no reload from here: the page follows the job through the event stream
    await page.locator("#job-facts .state.succeeded").waitFor({ timeout: STEP_TIMEOUT });
    const rows = await page.locator("#layers-table tbody tr").count();
    expect(rows === 3, "mlp has 3 layers, the table shows " + rows);
    await page.locator("#job-curves").waitFor({ state: "visible" });
    const n = await page.evaluate(() => Chart.getChart(document.querySelector("#loss-chart")).data.datasets[0].data.length);
    expect(n === 2, "the loss curve has " + n + " epochs, not 2");
    await page.locator("#artifact-list li", { hasText: "model.qdc" }).waitFor();
    const acc = await page.locator("#result-facts").textContent();
    expect(/test accuracy\s*\d+\.\d+ %/.test(acc), "no test accuracy in the result: " + acc);
    await shot("job-train");
  });

  // 3. the search, through the form, watched in the jobs table
  {
    await check("a uniform search submitted through the form runs live in the jobs table", async () => {
      await page.goto(base + "/#/submit?tpl=search&base=" + trainId);
      await page.locator("#s-base").waitFor({ state: "visible" });
      await page.selectOption("#s-method", "uniform");
      await page.selectOption("#f-dataset", "synthetic");
      await page.selectOption("#f-model", "mlp");
      expect((await page.inputValue("#s-base")) === trainId, "the base job is not preselected");
      await page.fill("#f-name", "browser search");
      await page.fill("#s-formats", "int");
      await page.fill("#s-wbits", "2, 4, 8");
      await page.fill("#s-abits", "8");
      await page.fill("#s-ft", "1");
      await page.fill("#f-sub-train", "1024");
      await page.fill("#f-sub-test", "256");
      await page.click("#submit-btn");
      await page.waitForURL(/#\/jobs\/[0-9a-f]{16}$/);
      searchId = page.url().split("/").pop();
      expect(searchId !== trainId, "no new job");
      await page.click('a[data-nav="overview"]');
      const row = page.locator(`#jobs-table tr[data-id="${searchId}"]`);
      await row.waitFor();
      await page.locator(`#jobs-table tr[data-id="${searchId}"][data-state="succeeded"]`).waitFor({ timeout: STEP_TIMEOUT });
      // the state comes with the event; the accuracy with the listing the page reads after it
      await row.locator("td", { hasText: /best \d+\.\d+ %/ }).waitFor({ timeout: 10_000 });
    });
  }

  // 4. the Pareto plot
  await check("the Pareto plot shows every point and the API's front", async () => {
    await page.goto(base + "/#/");
    await page.reload(); // a new visit: the example's panel is gone
    const p = await api("/api/v1/pareto?dataset=synthetic&model=mlp");
    // one point per succeeded train job and per candidate of each succeeded search
    let expected = 0;
    for (const j of (await api("/api/v1/jobs?state=succeeded")).jobs)
      expected += j.kind === "train" ? 1 : (await api("/api/v1/jobs/" + j.id)).result.candidates.length;
    const mine = (await api("/api/v1/jobs/" + searchId)).result.candidates.length;
    expect(mine === 3, `the form's search has ${mine} candidates, not 3 (w2, w4, w8 at a8)`);
    expect(expected === 2 + 10 + 3, `${expected} points expected, not 15 (2 models, 10 + 3 candidates)`);
    expect(p.points.length === expected, `the API has ${p.points.length} points, expected ${expected}`);
    const fig = page.locator(`#pareto-figure[data-points="${expected}"]`);
    await fig.waitFor();
    const front = Number(await fig.getAttribute("data-front"));
    expect(front === p.front.length, `the page draws ${front} front points, the API says ${p.front.length}`);
    const drawn = await page.evaluate(() => {
      const c = Chart.getChart(document.querySelector("#pareto-chart"));
      const sets = c.data.datasets;
      const line = sets.find((d) => d.label === "Pareto front");
      return {
        points: sets.filter((d) => d !== line).reduce((n, d) => n + d.data.length, 0),
        groups: sets.filter((d) => d !== line).map((d) => d.label),
        front: line.data.length,
        stepped: line.stepped,
        xType: c.options.scales.x.type,
      };
    });
    // one colour per method and format: the float model, and each bit-width of the search
    const want = new Set(p.points.map((q) => q.method + " · " + q.format));
    expect(drawn.groups.length === want.size && drawn.groups.every((g) => want.has(g)),
      "the colours are not by method and format: " + drawn.groups.join(", "));
    expect(drawn.points === expected, `the chart draws ${drawn.points} points, expected ${expected}`);
    expect(drawn.front === p.front.length && drawn.stepped, "the front is not drawn as a step line");
    expect(drawn.xType === "logarithmic", "memory is not on a log scale");
    expect((await page.locator("#front-table tbody tr").count()) === p.front.length, "the front table does not list the front");
    expect(!(await page.locator("#welcome").isVisible()), "the welcome panel stays on a daemon with jobs");
    await shot("overview-desktop");
    // BitOPs: the daemon's front for that axis
    const pb = await api("/api/v1/pareto?dataset=synthetic&model=mlp&x=bitops");
    await page.selectOption("#pareto-x", "bitops");
    await page.locator(`#pareto-figure[data-x="bitops"][data-front="${pb.front.length}"]`).waitFor();
    const xt = await page.evaluate(() => Chart.getChart(document.querySelector("#pareto-chart")).options.scales.x.title.text);
    expect(/BitOPs/.test(xt), "the x axis is not BitOPs: " + xt);
    await page.selectOption("#pareto-x", "total_bytes");
    await page.locator(`#pareto-figure[data-x="total_bytes"][data-front="${p.front.length}"]`).waitFor();
  });

  await check("hovering a point shows its configuration; clicking opens its job", async () => {
    // a point of the search (the last group: the float model sorts first)
    const where = () =>
      page.evaluate(() => {
        const canvas = document.querySelector("#pareto-chart");
        const c = Chart.getChart(canvas);
        const k = c.data.datasets.length - 2; // the last scatter group; the front line is last
        const el = c.getDatasetMeta(k).data[0];
        const r = canvas.getBoundingClientRect();
        return { x: r.left + el.x, y: r.top + el.y };
      });
    const shown = () =>
      page.waitForFunction(
        () => {
          const c = Chart.getChart(document.querySelector("#pareto-chart"));
          return c.tooltip && c.tooltip.opacity > 0 && c.tooltip.body && c.tooltip.body.length > 0;
        },
        null,
        { timeout: 5000 }
      );
    // a redraw between reading the point's place and moving there (a late event) moves it:
    // read it again
    let pos = null;
    for (let tries = 0; ; tries++) {
      pos = await where();
      await page.mouse.move(pos.x - 30, pos.y - 30);
      await page.mouse.move(pos.x, pos.y);
      try {
        await shown();
        break;
      } catch (e) {
        if (tries === 2) throw new Error("no tooltip over the point at " + JSON.stringify(pos));
      }
    }
    const lines = await page.evaluate(() => Chart.getChart(document.querySelector("#pareto-chart")).tooltip.body[0].lines.join(" | "));
    expect(/accuracy \d/.test(lines) && /memory/.test(lines) && /job [0-9a-f]{16}/.test(lines), "the tooltip lacks the configuration: " + lines);
    await shot("pareto-hover", false);
    await page.mouse.click(pos.x, pos.y);
    await page.waitForURL(/#\/jobs\/[0-9a-f]{16}\?candidate=\d+$/);
    const [, id, k] = /jobs\/([0-9a-f]{16})\?candidate=(\d+)$/.exec(page.url());
    const job = await api("/api/v1/jobs/" + id);
    expect(job.kind === "search", "the click opened a " + job.kind + " job");
    await page.locator("#cand-table tbody tr").first().waitFor();
    const rows = await page.locator("#cand-table tbody tr").count();
    expect(rows === job.result.candidates.length, "the search's page lists " + rows + " candidates");
    const current = await page.locator('#cand-table a[aria-current="true"]').textContent();
    const want = job.result.candidates[Number(k)].label;
    expect(current === want, `candidate ${k} (${want}) is not the one shown: ${current}`);
    await shot("job-search");
  });

  // 5. cancel
  await check("cancel stops a running job", async () => {
    await page.goto(base + "/#/submit?tpl=float");
    await page.selectOption("#f-dataset", "synthetic");
    await page.selectOption("#f-model", "mlp");
    await page.fill("#f-name", "browser long");
    await page.fill("#f-epochs", "500");
    await page.fill("#f-sub-train", "4096");
    await page.fill("#f-sub-test", "256");
    await page.click("#submit-btn");
    await page.waitForURL(/#\/jobs\/[0-9a-f]{16}$/);
    await page.locator("#job-facts .state.running").waitFor();
    await page.locator("#job-progress progress").waitFor();
    await page.click("#job-cancel");
    await page.locator("#job-facts .state.cancelled").waitFor();
  });

  // 6. phone width, labels, console, hosts
  await check("at a phone's width the overview fits the screen", async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    await page.goto(base + "/#/");
    await page.locator("#pareto-figure[data-points]").waitFor();
    await page.waitForTimeout(300);
    const w = await page.evaluate(() => document.documentElement.scrollWidth);
    expect(w <= 391, "the page is " + w + " px wide at 390");
    await shot("overview-phone");
    await page.goto(base + "/#/submit");
    await page.locator("#view-submit").waitFor({ state: "visible" });
    const w2 = await page.evaluate(() => document.documentElement.scrollWidth);
    expect(w2 <= 391, "the form is " + w2 + " px wide at 390");
    await shot("submit-phone");
    await page.setViewportSize({ width: 1280, height: 900 });
  });

  await check("every control has a label and the first Tab reaches the skip link", async () => {
    const unlabelled = await page.evaluate(() =>
      Array.from(document.querySelectorAll("input:not([type=hidden]), select, textarea"))
        .filter((e) => !(e.labels && e.labels.length) && !e.getAttribute("aria-label"))
        .map((e) => e.id || e.name || e.outerHTML.slice(0, 40))
    );
    expect(unlabelled.length === 0, "controls without a label: " + unlabelled.join(", "));
    const fake = await page.evaluate(() => Array.from(document.querySelectorAll("div[onclick], span[onclick], [role=button]:not(button)")).length);
    expect(fake === 0, fake + " clickable elements are not buttons");
    await page.goto(base + "/#/");
    await page.reload();
    await page.locator("#conn.live").waitFor();
    await page.keyboard.press("Tab");
    const first = await page.evaluate(() => document.activeElement.className);
    expect(first === "skip", "the first Tab lands on " + first);
  });

  // 7. tokens
  await check("once the daemon needs tokens the page asks for one and works with it, downloads too", async () => {
    const tok = execFileSync(QUANTD, ["token", "create", "--team", "lab", "--admin", "--state", state], { stdio: ["ignore", "pipe", "ignore"] })
      .toString()
      .trim();
    expect(/^qdt_[0-9a-f]{48}$/.test(tok), "no token printed");
    await sleep(1200); // the daemon rereads whether tokens are needed once a second
    // a 401 is a normal answer here; Chromium logs it as a failed resource
    watchConsole = false;
    await page.reload();
    await page.locator("#token-panel").waitFor({ state: "visible" });
    const msg = await page.locator("#banner").textContent();
    expect(/token/i.test(msg), "no message about the token: " + msg);
    await shot("token-needed");
    await page.fill("#token-input", tok);
    await page.click('#token-form button[type="submit"]');
    await page.locator(`#jobs-table tr[data-id="${trainId}"]`).waitFor();
    expect(await page.evaluate(() => localStorage.getItem("quantd.token")) === tok, "the token is not kept in local storage");
    await page.reload();
    await page.locator(`#jobs-table tr[data-id="${trainId}"]`).waitFor();
    await page.locator("#conn.live").waitFor();
    // a plain link cannot carry the token: the artifact comes through fetch, then is saved
    await page.goto(base + "/#/jobs/" + trainId);
    const button = page.locator("#artifact-list button", { hasText: "model.qdc" });
    await button.waitFor();
    const [dl] = await Promise.all([page.waitForEvent("download"), button.click()]);
    const file = path.join(OUT, "download-model.qdc");
    await dl.saveAs(file);
    const arts = await api("/api/v1/jobs/" + trainId + "/artifacts", { headers: { Authorization: "Bearer " + tok } });
    const size = arts.artifacts.find((a) => a.name === "model.qdc").size;
    expect(dl.suggestedFilename() === "model.qdc", "saved as " + dl.suggestedFilename());
    expect(fs.statSync(file).size === size, `the download has ${fs.statSync(file).size} bytes, the artifact ${size}`);
    fs.rmSync(file);
    watchConsole = true;
  });

  await check("no console errors", async () => {
    expect(consoleErrors.length === 0, consoleErrors.length + ": " + consoleErrors.slice(0, 3).join(" / "));
  });

  await check("no request to any other host", async () => {
    const own = new URL(base).host;
    const other = requests.filter((u) => {
      if (u.startsWith("data:") || u.startsWith("blob:")) return false;
      return new URL(u).host !== own;
    });
    expect(requests.length > 10, "only " + requests.length + " requests recorded");
    expect(other.length === 0, other.length + " requests elsewhere: " + other.slice(0, 3).join(", "));
  });

  // 8. the daemon goes away
  await check("the page says so when the daemon is unreachable", async () => {
    watchConsole = false; // refused connections are logged by Chromium
    await stopDaemon(daemon.proc);
    await page.locator("#banner.error", { hasText: "Cannot reach" }).waitFor({ timeout: 30_000 });
    await page.locator("#conn.down").waitFor();
    await shot("unreachable");
  });
}

try {
  await main();
} catch (e) {
  failed++;
  console.log("FAIL setup: " + (e && e.stack ? e.stack.split("\n").slice(0, 3).join(" ") : e));
} finally {
  if (browser) await browser.close().catch(() => {});
  if (daemon) await stopDaemon(daemon.proc);
  fs.rmSync(state, { recursive: true, force: true });
}
console.log(`screenshots and the daemon's log: ${OUT}`);
if (failures.length) console.log("failed: " + failures.join("; "));
console.log(`browser: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
