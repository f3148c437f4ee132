// Opens a video that is `playable` (still encoding) on vodflow's watch page in headless Chromium,
// presses play and sees time advance past the first seconds, while the page says it is still
// encoding. Run by tests/e2e/playable.rs, which passes BASE, TOKEN, VIDEO, PLAYWRIGHT_CORE, CHROMIUM.
"use strict";
const { fail, open } = require("./harness.cjs");
const { BASE, TOKEN, VIDEO } = process.env;

(async () => {
  const { browser, page, problems } = await open();
  await page.goto(`${BASE}/`);
  await page.fill("#token", TOKEN);
  await page.click("#signin-button");
  await page.locator("#library").waitFor();
  const row = page.locator(`tr[data-id="${VIDEO}"]`);
  await row.locator(".status.playable").waitFor({ timeout: 30000 });
  await row.locator("a.watch").click();
  await page.waitForURL(/\/watch\//);
  await page.waitForFunction(
    () => document.querySelector("#watch-status").textContent.startsWith("Still encoding"), null, { timeout: 30000 });
  await page.click("media-play-button");
  await page.waitForFunction(() => document.querySelector("#player").currentTime > 1.5, null, { timeout: 60000 });
  const seen = await page.evaluate(() => {
    const hls = window.vodflowPlayer;
    const details = hls.levels[hls.currentLevel >= 0 ? hls.currentLevel : 0].details;
    return {
      time: document.querySelector("#player").currentTime,
      live: details ? details.live : null,
      type: details ? details.type : null,
      fragments: details ? details.fragments.length : null,
      status: document.querySelector("#watch-status").textContent,
    };
  });
  await browser.close();
  if (problems.length) fail(problems.join("\n"));
  console.log(JSON.stringify({ ok: true, ...seen }));
})().catch((e) => fail(e.stack || String(e)));
