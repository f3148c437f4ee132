// Plays a video's DASH manifest in Shaka Player (from npm: a player independent of the page's
// hls.js) in headless Chromium: it must load the manifest, list its representations, audio and
// text tracks, and play two seconds. Run by tests/e2e/dash.rs, which passes BASE (the API, whose
// origin the page takes so the requests are same-site), MPD (the manifest's URL), SHAKA (the
// compiled player's path), PLAYWRIGHT_CORE and CHROMIUM. Prints the tracks and every media URL
// the player fetched.
"use strict";
const { fail, open } = require("./harness.cjs");
const { BASE, MPD, SHAKA } = process.env;

(async () => {
  const { browser, page, problems } = await open();
  const fetched = [];
  page.on("request", (r) => {
    if (/\.(m4s|mp4|vtt)(\?|$)/.test(r.url())) fetched.push(r.url());
  });
  // The API has no favicon: Chromium's request for one is not the player's.
  await page.route("**/favicon.ico", (r) => r.fulfill({ status: 204 }));
  await page.goto(`${BASE}/healthz`);
  await page.setContent('<video id="v" muted playsinline width="640"></video>');
  await page.addScriptTag({ path: SHAKA });
  const result = await page.evaluate(async (mpd) => {
    shaka.polyfill.installAll();
    if (!shaka.Player.isBrowserSupported()) return { error: "browser not supported" };
    const video = document.getElementById("v");
    const player = new shaka.Player();
    const errors = [];
    player.addEventListener("error", (e) => errors.push(`${e.detail.code}`));
    await player.attach(video);
    try {
      await player.load(mpd);
    } catch (e) {
      return { error: `load: ${e.code} ${JSON.stringify(e.data)}` };
    }
    await video.play();
    const started = performance.now();
    while (video.currentTime < 2 && performance.now() - started < 30000) {
      await new Promise((r) => setTimeout(r, 100));
    }
    return {
      time: video.currentTime,
      duration: video.duration,
      errors,
      variants: player.getVariantTracks().map((t) => ({ height: t.height, audio: t.audioCodec, video: t.videoCodec })),
      text: player.getTextTracks().map((t) => ({ language: t.language, label: t.label, kind: t.kind })),
      audio: (player.getAudioTracks ? player.getAudioTracks() : []).map((t) => t.language),
    };
  }, MPD);
  await browser.close();
  if (result.error) fail(result.error);
  if (result.errors.length) fail(`player errors: ${result.errors.join(", ")}`);
  if (result.time < 2) fail(`played only to ${result.time}`);
  if (problems.length) fail(problems.join("\n"));
  console.log(JSON.stringify({ ok: true, fetched, ...result }));
})().catch((e) => fail(e.stack || String(e)));
