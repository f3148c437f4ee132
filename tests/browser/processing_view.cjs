// Opens a video's watch page while it is being processed, in headless Chromium: the page draws the
// run live from the workflow's own progress (a square per chunk, each rung's bar, which worker
// encodes which chunk), then the player once the video plays. Run by tests/e2e/processing_view.rs,
// which passes BASE, TOKEN, VIDEO, SHOT, PLAYWRIGHT_CORE and CHROMIUM.
"use strict";
const { fail, open } = require("./harness.cjs");
const { BASE, TOKEN, VIDEO, SHOT } = process.env;

(async () => {
  const { browser, page, problems } = await open({ viewport: { width: 1100, height: 900 } });
  await page.goto(`${BASE}/`);
  await page.fill("#token", TOKEN);
  await page.click("#signin-button");
  await page.locator("#library").waitFor();
  await page.goto(`${BASE}/watch/${VIDEO}`);
  const seen = { states: new Set(), workers: new Set(), chunks: 0, rungs: [], steps: new Set() };
  let shot = false;
  const started = Date.now();
  // Sample the picture until the run is over (the view goes away once the video is ready).
  while (Date.now() - started < 120000) {
    const now = await page.evaluate(() => {
      const box = document.querySelector("#processing");
      return {
        hidden: box.hidden,
        step: document.querySelector("#processing-step").textContent,
        chunks: [...document.querySelectorAll("#processing .chunk")].map((c) => c.className.replace("chunk ", "")),
        rungs: [...document.querySelectorAll("#processing .rung")].map((r) => r.dataset.rung),
        workers: [...document.querySelectorAll("#processing .worker")].map((w) => w.textContent),
        status: document.querySelector("#watch-status").textContent,
      };
    });
    if (!now.hidden) {
      now.chunks.forEach((s) => seen.states.add(s));
      now.workers.forEach((w) => seen.workers.add(w));
      seen.chunks = Math.max(seen.chunks, now.chunks.length);
      if (now.rungs.length) seen.rungs = now.rungs;
      if (now.step) seen.steps.add(now.step.split(":")[0]);
      if (!shot && now.workers.length && now.chunks.includes("done")) {
        await page.screenshot({ path: SHOT, fullPage: true });
        shot = true;
      }
    } else if (seen.chunks > 0 && !now.status.startsWith("This video is")) {
      break;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  const player = await page.locator("#player").count();
  await browser.close();
  if (problems.length) fail(problems.join("\n"));
  console.log(JSON.stringify({
    ok: true, shot, player, chunks: seen.chunks, rungs: seen.rungs,
    states: [...seen.states], workers: [...seen.workers], steps: [...seen.steps],
  }));
})().catch((e) => fail(e.stack || String(e)));
