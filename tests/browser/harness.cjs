// What every browser script starts with: Debian's Chromium through playwright-core (the paths come
// from the test in PLAYWRIGHT_CORE and CHROMIUM), one page whose errors, console errors and failed
// responses are collected, and `fail`, which ends the run with a message the test prints.
"use strict";
const { chromium } = require(process.env.PLAYWRIGHT_CORE);

function fail(message) {
  console.error(`FAIL: ${message}`);
  process.exit(1);
}

async function open(pageOptions = {}) {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM,
    args: ["--no-sandbox", "--autoplay-policy=no-user-gesture-required", "--mute-audio"],
  });
  const page = await browser.newPage(pageOptions);
  const problems = [];
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("console", (m) => { if (m.type() === "error") problems.push(`console: ${m.text()}`); });
  page.on("response", (r) => { if (r.status() >= 400) problems.push(`${r.status()} ${r.url()}`); });
  return { browser, page, problems };
}

module.exports = { fail, open };
