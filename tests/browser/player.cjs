// Drives vodflow's player on the watch page in headless Chromium with the mouse and the keyboard:
// hovering the seek bar at 50 % shows the storyboard tile and the chapter of the middle of the
// video; k/space, j/l, m and c do what media-chrome's shortcuts say; captions render; speed 2×
// from the settings menu plays twice as fast as 1×. Screenshots go to SHOTS. Run by
// tests/e2e/player.rs, which passes BASE, TOKEN, VIDEO, SHOTS, PLAYWRIGHT_CORE and CHROMIUM.
"use strict";
const { fail, open } = require("./harness.cjs");
const { BASE, TOKEN, VIDEO, SHOTS } = process.env;

(async () => {
  const { browser, page, problems } = await open({ viewport: { width: 1280, height: 900 } });
  await page.goto(`${BASE}/`);
  await page.fill("#token", TOKEN);
  await page.click("#signin-button");
  await page.locator("#library").waitFor();
  await page.locator(`tr[data-id="${VIDEO}"] a.watch`).click();
  await page.waitForURL(/\/watch\//);
  await page.waitForFunction(() => {
    const v = document.querySelector("#player");
    return v && v.readyState >= 1 && Number.isFinite(v.duration) && v.duration > 0;
  }, null, { timeout: 60000 });
  const duration = await page.evaluate(() => document.querySelector("#player").duration);
  const out = { duration };

  // The mouse over the middle of the seek bar: the storyboard tile and chapter of that moment.
  const range = page.locator("media-time-range");
  await page.waitForFunction(() => {
    const t = [...document.querySelector("#player").textTracks].find((t) => t.label === "thumbnails");
    return t && t.cues && t.cues.length > 0;
  }, null, { timeout: 30000 });
  const box = await range.boundingBox();
  await page.mouse.move(box.x + box.width * 0.5, box.y + box.height / 2);
  const preview = await page.waitForFunction(() => {
    const p = document.querySelector("media-preview-thumbnail");
    const image = p && p.getAttribute("mediapreviewimage");
    if (!image) return null;
    const c = document.querySelector("media-preview-chapter-display");
    return {
      image,
      coords: p.getAttribute("mediapreviewcoords"),
      time: Number(document.querySelector("media-time-range").getAttribute("mediapreviewtime")),
      chapter: c ? (c.getAttribute("mediapreviewchapter") || c.textContent || "").trim() : "",
    };
  }, null, { timeout: 15000 }).then((h) => h.jsonValue());
  out.hover = preview;
  // The preview box fades in: the screenshot waits until it is fully shown, as a viewer sees it.
  out.hover_box = await page.waitForFunction(() => {
    const range = document.querySelector("media-time-range");
    const box = range.shadowRoot && range.shadowRoot.querySelector('[part~="preview-box"]');
    const thumb = document.querySelector("media-preview-thumbnail").getBoundingClientRect();
    if (!box || getComputedStyle(box).opacity !== "1" || getComputedStyle(box).visibility !== "visible") return null;
    return { width: thumb.width, height: thumb.height, above_bar: thumb.bottom <= range.getBoundingClientRect().top + 1 };
  }, null, { timeout: 10000 }).then((h) => h.jsonValue());
  await page.screenshot({ path: `${SHOTS}/player-hover.png` });

  // The keyboard, on the focused player.
  await page.mouse.move(box.x + box.width * 0.5, box.y - 200);
  await page.locator("media-controller").focus();
  const state = () => page.evaluate(() => {
    const v = document.querySelector("#player");
    const showing = [...v.textTracks].filter((t) => (t.kind === "subtitles" || t.kind === "captions") && t.mode === "showing");
    return { paused: v.paused, time: v.currentTime, muted: v.muted, captions: showing.length };
  });
  const keys = {};
  await page.keyboard.press("k");
  await page.waitForFunction(() => !document.querySelector("#player").paused, null, { timeout: 10000 });
  keys.k_plays = !(await state()).paused;
  await page.keyboard.press(" ");
  await page.waitForFunction(() => document.querySelector("#player").paused, null, { timeout: 10000 });
  keys.space_pauses = (await state()).paused;
  await page.evaluate(() => { document.querySelector("#player").currentTime = 2; });
  await page.waitForFunction(() => Math.abs(document.querySelector("#player").currentTime - 2) < 0.1);
  await page.keyboard.press("l");
  await page.waitForFunction(() => document.querySelector("#player").currentTime > 11, null, { timeout: 10000 });
  keys.l_to = (await state()).time;
  // Let the media store catch up with the seek before the next key reads the time from it.
  await page.waitForTimeout(500);
  await page.keyboard.press("j");
  await page.waitForFunction(() => document.querySelector("#player").currentTime < 3, null, { timeout: 10000 });
  keys.j_to = (await state()).time;
  await page.waitForTimeout(500);
  await page.keyboard.press("ArrowRight");
  await page.waitForFunction(() => document.querySelector("#player").currentTime > 11, null, { timeout: 10000 });
  keys.arrow_right_to = (await state()).time;
  await page.waitForTimeout(500);
  await page.keyboard.press("ArrowLeft");
  await page.waitForFunction(() => document.querySelector("#player").currentTime < 9, null, { timeout: 10000 });
  keys.arrow_left_to = (await state()).time;
  await page.keyboard.press("f");
  await page.waitForFunction(() => document.fullscreenElement !== null, null, { timeout: 10000 });
  keys.f_fullscreen = await page.evaluate(() => document.fullscreenElement.tagName.toLowerCase());
  await page.keyboard.press("f");
  await page.waitForFunction(() => document.fullscreenElement === null, null, { timeout: 10000 });
  keys.f_again_leaves = true;
  // Picture-in-Picture is a control of the bar; whether this Chromium can enter it is its own.
  keys.pip_button = await page.locator("media-pip-button").count();
  await page.keyboard.press("m");
  await page.waitForFunction(() => document.querySelector("#player").muted, null, { timeout: 10000 });
  keys.m_mutes = (await state()).muted;
  await page.keyboard.press("m");
  await page.keyboard.press("c");
  await page.waitForFunction(() => [...document.querySelector("#player").textTracks]
    .some((t) => (t.kind === "subtitles" || t.kind === "captions") && t.mode === "showing"), null, { timeout: 15000 });
  keys.c_captions = (await state()).captions;
  out.keys = keys;

  // Captions render: a cue of the track turned on is active inside its time.
  await page.evaluate(() => { document.querySelector("#player").currentTime = 2; });
  out.cue = await page.waitForFunction(() => {
    for (const t of document.querySelector("#player").textTracks) {
      if (t.mode !== "showing" || !t.activeCues) continue;
      for (const c of t.activeCues) return { text: c.text, start: c.startTime, end: c.endTime };
    }
    return null;
  }, null, { timeout: 30000 }).then((h) => h.jsonValue());
  await page.waitForTimeout(300);
  await page.screenshot({ path: `${SHOTS}/player-captions.png` });

  // Speed, from the settings menu with the mouse: 1× then 2×, each measured over 3 s of wall clock.
  const rate = async () => {
    await page.evaluate(() => { document.querySelector("#player").currentTime = 1; });
    await page.evaluate(() => document.querySelector("#player").play());
    await page.waitForFunction(() => document.querySelector("#player").currentTime > 1.3, null, { timeout: 15000 });
    const a = await page.evaluate(() => ({ t: document.querySelector("#player").currentTime, w: performance.now() }));
    await page.waitForTimeout(3000);
    const b = await page.evaluate(() => ({ t: document.querySelector("#player").currentTime, w: performance.now() }));
    await page.evaluate(() => document.querySelector("#player").pause());
    return (b.t - a.t) / ((b.w - a.w) / 1000);
  };
  out.rate_1x = await rate();
  await page.locator("media-settings-menu-button").click();
  await page.locator("media-settings-menu-item", { hasText: "Speed" }).click();
  await page.locator("media-playback-rate-menu media-chrome-menu-item", { hasText: "2x" }).first().click();
  await page.waitForFunction(() => document.querySelector("#player").playbackRate === 2, null, { timeout: 10000 });
  await page.keyboard.press("Escape");
  out.rate_2x = await rate();
  await page.screenshot({ path: `${SHOTS}/player-speed.png` });
  await browser.close();
  if (problems.length) fail(problems.join("\n"));
  console.log(JSON.stringify({ ok: true, ...out }));
})().catch((e) => fail(e.stack || String(e)));
