// Drives vodflow's web page in headless Chromium like a person would: sign in with a token, upload a
// clip (tus) over a throttled uplink, reload the page mid-upload, choose the file again and see the
// upload resume, wait for it to become ready in the list, open it, press play, see time advance,
// switch quality. Run by tests/e2e/web.rs, which starts the platform and passes:
// BASE, TOKEN, CLIP, SCREENSHOT, PLAYWRIGHT_CORE (module dir), CHROMIUM (executable).
"use strict";
const { fail, open } = require("./harness.cjs");
const { BASE, TOKEN, CLIP, SCREENSHOT } = process.env;

(async () => {
  const { browser, page, problems } = await open({ viewport: { width: 1280, height: 900 } });

  await page.goto(`${BASE}/`);
  await page.locator("#signin").waitFor();
  await page.fill("#token", TOKEN);
  await page.click("#signin-button");
  await page.locator("#library").waitFor();
  const who = await page.textContent("#who");
  if (!who.includes("browser-user")) fail(`header says ${JSON.stringify(who)}`);

  // A slow uplink, so the page can be reloaded mid-upload.
  const size = require("fs").statSync(CLIP).size;
  const cdp = await page.context().newCDPSession(page);
  await cdp.send("Network.enable");
  await cdp.send("Network.emulateNetworkConditions", {
    offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: Math.ceil(size / 6),
  });
  await page.fill("#title", "browser clip");
  await page.setInputFiles("#file", CLIP);
  await page.click("#upload-button");
  await page.waitForFunction(() => document.querySelector("#upload-progress").value >= 30, null, { timeout: 60000 });
  const reloadedAt = await page.evaluate(() => document.querySelector("#upload-progress").value);
  if (reloadedAt >= 100) fail("the upload finished before the reload");
  await page.reload();
  await page.locator("#library").waitFor();
  await cdp.send("Network.emulateNetworkConditions", {
    offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1,
  });
  // Choosing the same file again continues the upload instead of starting over.
  await page.fill("#title", "browser clip");
  await page.setInputFiles("#file", CLIP);
  await page.click("#upload-button");
  await page.waitForFunction(
    () => document.querySelector("#upload-status").textContent.startsWith("Resuming"), null, { timeout: 10000 });
  await page.waitForFunction(() => document.querySelector("#upload-progress").value === 100, null, { timeout: 60000 });

  const row = page.locator('tr[data-title="browser clip"]');
  await row.locator(".status.ready").waitFor({ timeout: 180000 });
  await row.locator("a.watch").click();
  await page.waitForURL(/\/watch\//);

  const poster = await page.getAttribute("#player", "poster");
  if (!poster || !poster.includes("/poster.jpg")) fail(`poster ${poster}`);
  await page.click("media-play-button");
  await page.waitForFunction(() => document.querySelector("#player").currentTime > 1, null, { timeout: 60000 });

  // The player's quality menu (settings, Quality): Auto plus at least two renditions; pick one
  // that is not playing, with the mouse.
  await page.locator("media-settings-menu-button").click();
  await page.locator("media-settings-menu-item", { hasText: "Quality" }).click();
  // The menu's items live in its shadow tree: Playwright's locators reach them, querySelector not.
  await page.locator("media-rendition-menu media-chrome-menu-item").nth(2).waitFor({ timeout: 30000 });
  const heights = await page.evaluate(() => window.vodflowPlayer.levels.map((l) => l.height));
  const levels = heights.map((_, i) => String(i));
  const current = await page.evaluate(() => window.vodflowPlayer.currentLevel);
  const target = levels.find((v) => Number(v) !== current);
  await page.locator("media-rendition-menu media-chrome-menu-item", { hasText: `${heights[Number(target)]}p` }).first().click();
  await page.waitForFunction((t) => window.vodflowPlayer.currentLevel === Number(t), target, { timeout: 30000 });
  const before = await page.evaluate(() => document.querySelector("#player").currentTime);
  await page.waitForFunction((t) => document.querySelector("#player").currentTime > t + 0.5, before, { timeout: 30000 });
  const after = await page.evaluate(() => ({
    time: document.querySelector("#player").currentTime,
    level: window.vodflowPlayer.currentLevel,
    height: window.vodflowPlayer.levels[window.vodflowPlayer.currentLevel].height,
  }));
  await page.screenshot({ path: SCREENSHOT, fullPage: true });
  await browser.close();
  if (problems.length) fail(problems.join("\n"));
  console.log(JSON.stringify({ ok: true, reloaded_at_percent: reloadedAt, levels: levels.length, switched_to: target, ...after }));
})().catch((e) => fail(e.stack || String(e)));
