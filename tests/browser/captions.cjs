// Opens a ready video with a caption track on vodflow's watch page in headless Chromium, turns the
// captions on from the player's caption menu (settings, Captions) with the mouse and plays: each cue must be showing while the video's
// time is inside it (hls.js reads the master's SUBTITLES group and the segmented WebVTT). Run by
// tests/e2e/text_tracks.rs, which passes BASE, TOKEN, VIDEO, CUES (JSON: [{start, end, text}]),
// SHOT (a screenshot path), PLAYWRIGHT_CORE and CHROMIUM.
"use strict";
const { fail, open } = require("./harness.cjs");
const { BASE, TOKEN, VIDEO, CUES, SHOT } = process.env;

(async () => {
  const { browser, page, problems } = await open({ viewport: { width: 960, height: 720 } });
  await page.goto(`${BASE}/`);
  await page.fill("#token", TOKEN);
  await page.click("#signin-button");
  await page.locator("#library").waitFor();
  await page.locator(`tr[data-id="${VIDEO}"] a.watch`).click();
  await page.waitForURL(/\/watch\//);
  await page.locator("media-settings-menu-button").click();
  await page.locator("media-settings-menu-item", { hasText: "Captions" }).click();
  const items = page.locator("media-captions-menu media-chrome-menu-item");
  // The menu's items live in its shadow tree: Playwright's locators reach them, querySelector not.
  await items.nth(1).waitFor({ timeout: 30000 });
  const menu = (await items.allTextContents()).map((t) => t.trim());
  await items.filter({ hasText: "English" }).first().click();
  const seen = [];
  for (const cue of JSON.parse(CUES)) {
    const at = (cue.start + cue.end) / 2;
    await page.evaluate((t) => {
      const v = document.querySelector("#player");
      v.pause();
      v.currentTime = t;
    }, at);
    // The cue must be active (shown) at a time inside it, on the track the menu turned on.
    const shown = await page.waitForFunction(({ t, text }) => {
      const v = document.querySelector("#player");
      if (Math.abs(v.currentTime - t) > 0.25) return null;
      for (const track of v.textTracks) {
        if (track.mode !== "showing" || !track.activeCues) continue;
        for (const c of track.activeCues) {
          if (c.text === text) return { time: v.currentTime, start: c.startTime, end: c.endTime, text: c.text };
        }
      }
      return null;
    }, { t: at, text: cue.text }, { timeout: 30000 }).then((h) => h.jsonValue());
    seen.push(shown);
  }
  await page.screenshot({ path: SHOT });
  await browser.close();
  if (problems.length) fail(problems.join("\n"));
  console.log(JSON.stringify({ ok: true, menu, seen }));
})().catch((e) => fail(e.stack || String(e)));
