// Opens a video with two audio tracks on vodflow's watch page in headless Chromium: the player's
// settings menu shows Audio with both tracks, and picking the second with the mouse makes the
// player fetch that track's segments. Run by tests/e2e/audio_tracks.rs, which passes BASE, TOKEN,
// VIDEO, SECOND (the second track's rendition directory, e.g. `audio-2`), SHOT, PLAYWRIGHT_CORE
// and CHROMIUM.
"use strict";
const { fail, open } = require("./harness.cjs");
const { BASE, TOKEN, VIDEO, SECOND, SHOT } = process.env;

(async () => {
  const { browser, page, problems } = await open({ viewport: { width: 1280, height: 900 } });
  const fetched = [];
  page.on("request", (r) => { if (r.url().includes(`/${SECOND}/`)) fetched.push(r.url()); });
  await page.goto(`${BASE}/`);
  await page.fill("#token", TOKEN);
  await page.click("#signin-button");
  await page.locator("#library").waitFor();
  await page.locator(`tr[data-id="${VIDEO}"] a.watch`).click();
  await page.waitForURL(/\/watch\//);
  await page.waitForFunction(() => {
    const v = document.querySelector("#player");
    return v && v.audioTracks && v.audioTracks.length === 2;
  }, null, { timeout: 60000 });
  const tracks = await page.evaluate(() => [...document.querySelector("#player").audioTracks]
    .map((t) => ({ label: t.label, language: t.language, enabled: t.enabled })));
  await page.locator("media-settings-menu-button").click();
  await page.locator("media-settings-menu-item", { hasText: "Audio" }).click();
  const items = page.locator("media-audio-track-menu media-chrome-menu-item");
  await items.nth(1).waitFor({ timeout: 30000 });
  const menu = (await items.allTextContents()).map((t) => t.trim());
  await items.nth(1).click();
  await page.evaluate(() => document.querySelector("#player").play());
  const started = Date.now();
  while (!fetched.some((u) => /seg_\d+\.m4s/.test(u)) && Date.now() - started < 30000) {
    await new Promise((r) => setTimeout(r, 200));
  }
  const enabled = await page.evaluate(() => [...document.querySelector("#player").audioTracks]
    .findIndex((t) => t.enabled));
  await page.screenshot({ path: SHOT });
  await browser.close();
  if (!fetched.some((u) => /seg_\d+\.m4s/.test(u))) fail(`no segment of ${SECOND} was fetched: ${fetched}`);
  if (problems.length) fail(problems.join("\n"));
  console.log(JSON.stringify({ ok: true, tracks, menu, enabled, fetched }));
})().catch((e) => fail(e.stack || String(e)));
