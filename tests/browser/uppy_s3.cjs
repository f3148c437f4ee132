// Uppy 6 (its bundle, as a page would load it) uploads FILE with @uppy/aws-s3, a direct upload's
// one-time URL (UPLOAD_URL) as its companionEndpoint and no token, from a page of another origin
// (ORIGIN, a loopback listener of this script's): the api answers the CORS preflights, the parts go
// to the store through presigned URLs, and the completion makes the video.
"use strict";
const http = require("node:http");
const { fail, open } = require("./harness.cjs");

(async () => {
  const { browser, page, problems } = await open();
  const origin = process.env.ORIGIN;
  page.on("requestfailed", (r) => problems.push(`${r.method()} ${r.url()}: ${r.failure()?.errorText}`));
  const site = http.createServer((_req, res) => {
    res.setHeader("content-type", "text/html");
    res.end('<!doctype html><input type="file" id="f">');
  });
  const { hostname, port } = new URL(origin);
  await new Promise((ok) => site.listen(Number(port), hostname, ok));
  await page.goto(`${origin}/upload.html`);
  await page.addScriptTag({ path: process.env.UPPY });
  await page.setInputFiles("#f", process.env.FILE);
  const result = await page.evaluate(async (endpoint) => {
    const { Uppy, AwsS3 } = globalThis.Uppy;
    const uppy = new Uppy();
    // Multipart for any size, in 5 MiB parts (S3's smallest), so a small file has several parts.
    uppy.use(AwsS3, {
      companionEndpoint: endpoint,
      shouldUseMultipart: true,
      getChunkSize: () => 5 * 1024 * 1024,
    });
    const parts = [];
    uppy.on("s3-multipart:part-uploaded", (_file, part) => parts.push(part.PartNumber));
    const file = document.getElementById("f").files[0];
    uppy.addFile({ name: file.name, type: "video/mp4", data: file, meta: { title: "from the page" } });
    const r = await uppy.upload();
    return {
      successful: r.successful.length,
      failed: r.failed.map((f) => String(f.error)),
      parts,
    };
  }, process.env.UPLOAD_URL);
  await browser.close();
  site.close();
  if (result.successful !== 1 || result.failed.length) {
    fail(`upload failed: ${JSON.stringify(result)}; ${problems.join("; ")}`);
  }
  if (problems.length) fail(problems.join("; "));
  console.log(JSON.stringify({ ok: true, ...result }));
})().catch((e) => fail(e.stack || String(e)));
