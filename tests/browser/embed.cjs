// Puts a video's embed URL in an <iframe> of a page from another origin (as a site that pasted
// the oEmbed html would) and plays it in headless Chromium until time passes 1.5 s. Run by
// tests/e2e/embed.rs, which passes HTML (the oEmbed html), PLAYWRIGHT_CORE and CHROMIUM.
"use strict";
const { fail, open } = require("./harness.cjs");
const { HTML } = process.env;

(async () => {
  const { browser, page, problems } = await open();
  // The other site: its own origin on loopback (a page of about:blank framing 127.0.0.1 is a
  // public page reaching into the local network, which Chromium refuses).
  const site = require("http").createServer((_, res) => {
    res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
    res.end(`<!doctype html><html><body>${HTML}</body></html>`);
  });
  await new Promise((ok) => site.listen(0, "127.0.0.1", ok));
  await page.goto(`http://127.0.0.1:${site.address().port}/`);
  const frame = await (await page.waitForSelector("iframe")).contentFrame();
  await frame.waitForSelector("#player", { state: "attached" }).catch(async (e) =>
    fail(`${e.message}\n${problems.join("\n")}\n${await frame.content()}`));
  await frame.evaluate(() => document.querySelector("#player").play());
  await frame.waitForFunction(() => document.querySelector("#player").currentTime > 1.5, null, { timeout: 60000 });
  const seen = await frame.evaluate(() => ({
    time: document.querySelector("#player").currentTime,
    hls: !!window.vodflowPlayer,
  }));
  await browser.close();
  site.close();
  if (problems.length) fail(problems.join("\n"));
  console.log(JSON.stringify({ ok: true, ...seen }));
})().catch((e) => fail(e.stack || String(e)));
