// Puts a video's embed URL in an <iframe> of a page from another origin (as a site that pasted
// the oEmbed html would) and plays it in headless Chromium until time passes 1.5 s. Run by
// tests/embed.rs, which passes HTML (the oEmbed html), PLAYWRIGHT_CORE and CHROMIUM.
"use strict";
const { fail, open } = require("./harness.cjs");
const { HTML } = process.env;

(async () => {
  const { browser, page, problems } = await open();
  await page.setContent(`<!doctype html><html><body>${HTML}</body></html>`);
  const frame = await (await page.waitForSelector("iframe")).contentFrame();
  await frame.waitForSelector("#player");
  await frame.evaluate(() => document.querySelector("#player").play());
  await frame.waitForFunction(() => document.querySelector("#player").currentTime > 1.5, null, { timeout: 60000 });
  const seen = await frame.evaluate(() => ({
    time: document.querySelector("#player").currentTime,
    hls: !!window.vodflowPlayer,
  }));
  await browser.close();
  if (problems.length) fail(problems.join("\n"));
  console.log(JSON.stringify({ ok: true, ...seen }));
})().catch((e) => fail(e.stack || String(e)));
